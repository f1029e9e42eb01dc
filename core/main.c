/* Entry point; the server is assembled in the following commits. */
int main(void) {
    return 0;
}
