/* Replays fuzz inputs through LLVMFuzzerTestOneInput when libFuzzer is not
 * linked, so the seed corpus runs as an ordinary ctest (and under the
 * sanitizer build).  Each argument is a file or a directory whose regular
 * files are replayed in name order.  A harness reports a broken invariant by
 * aborting, so reaching the end means every input passed. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current; /* input being replayed, for the abort message */

/* Names the input that made the harness abort; only async-signal-safe calls. */
static void on_abort(int sig) {
    static const char msg[] = "replay: aborted on input ";
    if (current) {
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)!write(STDERR_FILENO, current, strlen(current));
        (void)!write(STDERR_FILENO, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "replay: %s: %s\n", path, what);
    exit(1);
}

/* Feeds one file to the harness from an exactly sized heap block, so that
 * AddressSanitizer catches any read past the end of the input. */
static void run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die(strerror(errno), path);
    struct stat st;
    if (fstat(fileno(f), &st) < 0)
        die(strerror(errno), path);
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data || fread(data, 1, size, f) != size)
        die("cannot read", path);
    fclose(f);
    current = path;
    LLVMFuzzerTestOneInput(data, size);
    current = NULL;
    free(data);
}

/* Replays every regular file in dir, sorted by name; returns how many.  An
 * empty directory is an error: a corpus that silently vanished would make
 * the test pass without testing anything. */
static size_t run_dir(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0)
        die(strerror(errno), dir);
    size_t done = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
        char *path = malloc(len);
        if (!path)
            die("out of memory", dir);
        snprintf(path, len, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            run_file(path);
            done++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    if (done == 0)
        die("no inputs (a corpus must exist)", dir);
    return done;
}

int main(int argc, char **argv) {
    signal(SIGABRT, on_abort);
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
        return 1;
    }
    size_t passed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0)
            die(strerror(errno), argv[i]);
        if (S_ISDIR(st.st_mode)) {
            passed += run_dir(argv[i]);
        } else {
            run_file(argv[i]);
            passed++;
        }
    }
    printf("%zu passed, 0 failed\n", passed);
    return 0;
}
