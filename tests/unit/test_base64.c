/* Unit tests for protocol/base64.c (base64url, no padding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct vec {
    const char *bin;
    size_t n;
    const char *b64;
};

/* RFC 4648 §10 test vectors (without the padding), plus bytes that map to
 * the two characters base64url differs in. */
static const struct vec vectors[] = {
    {"", 0, ""},
    {"f", 1, "Zg"},
    {"fo", 2, "Zm8"},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy"},
    {"\xfb\xff", 2, "-_8"},
    {"\xf8", 1, "-A"},
    {"\xff\xff\xff", 3, "____"},
    {"\0\0\0", 3, "AAAA"},
    {"\0", 1, "AA"},
};

static void test_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
        const struct vec *v = &vectors[i];
        char enc[16];
        uint8_t dec[16];
        size_t m = strlen(v->b64), declen = 999;
        assert_int_equal(b64url_encoded_len(v->n), m);
        assert_int_equal(b64url_encode(enc, (const uint8_t *)v->bin, v->n), m);
        assert_memory_equal(enc, v->b64, m);
        assert_int_equal(b64url_decoded_max(m), v->n);
        assert_int_equal(b64url_decode(dec, &declen, v->b64, m), 0);
        assert_int_equal(declen, v->n);
        assert_memory_equal(dec, v->bin, v->n);
    }
}

static void test_lengths(void **state) {
    (void)state;
    static const size_t enc[][2] = {{0, 0}, {1, 2}, {2, 3}, {3, 4}, {4, 6}, {32, 43}, {33, 44}};
    for (size_t i = 0; i < sizeof enc / sizeof *enc; i++)
        assert_int_equal(b64url_encoded_len(enc[i][0]), enc[i][1]);
    static const size_t dec[][2] = {{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 3}, {43, 32}, {44, 33}};
    for (size_t i = 0; i < sizeof dec / sizeof *dec; i++)
        assert_int_equal(b64url_decoded_max(dec[i][0]), dec[i][1]);
    /* No overflow at the top of the range. */
    assert_int_equal(b64url_decoded_max(SIZE_MAX), SIZE_MAX / 4 * 3 + 2);
}

static void expect_reject(const char *s, size_t n) {
    uint8_t out[64];
    size_t len = 12345;
    if (b64url_decode(out, &len, s, n) != -1)
        fail_msg("decoded '%.*s'", (int)n, s);
    assert_int_equal(len, 12345);
}

static void test_rejects(void **state) {
    (void)state;
    expect_reject("Zg==", 4); /* padding */
    expect_reject("Zm8=", 4);
    expect_reject("Zg=", 3);
    expect_reject("Zm+v", 4); /* standard alphabet */
    expect_reject("Zm/v", 4);
    expect_reject("Zm9 v", 5); /* whitespace */
    expect_reject("Zm9v\n", 5);
    expect_reject("Zm\r\n9v", 6);
    expect_reject("Zm9\tv", 5);
    expect_reject("Zm\09v", 5);  /* NUL */
    expect_reject("Zm9\x80", 4); /* high bytes */
    expect_reject("Zm9\xff", 4);
    expect_reject("Z", 1); /* n % 4 == 1 */
    expect_reject("Zm9vY", 5);
    expect_reject("Zm9vYmFyZ", 9);
    expect_reject("Zh", 2);  /* non-zero trailing bits: 'f' is "Zg" */
    expect_reject("Zm9", 3); /* "fo" is "Zm8" */
    expect_reject("Z_", 2);
    expect_reject("AB", 2);
    expect_reject("AAB", 3);
    expect_reject("Zm9v.", 5);
    expect_reject("Zm9v Zg", 7);
}

/* Exactly the 64 alphabet characters decode, in every position of a group. */
static void test_every_byte(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++) {
        bool in = c != 0 && strchr(alphabet, c) != NULL;
        for (int pos = 0; pos < 4; pos++) {
            char s[4] = {'A', 'A', 'A', 'A'};
            s[pos] = (char)c;
            uint8_t out[3];
            size_t len;
            int r = b64url_decode(out, &len, s, 4);
            if (r != (in ? 0 : -1))
                fail_msg("byte 0x%02x at %d: %d", c, pos, r);
        }
    }
}

/* Every length and every value of the final partial group round-trips, and
 * the decoder can work in place. */
static void test_round_trip(void **state) {
    (void)state;
    uint8_t bin[300], back[300];
    char enc[400];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof bin; n++) {
        size_t m = b64url_encode(enc, bin, n), len;
        assert_int_equal(m, b64url_encoded_len(n));
        for (size_t k = 0; k < m; k++)
            assert_non_null(memchr(alphabet, enc[k], 64));
        assert_true(b64url_decoded_max(m) >= n);
        assert_int_equal(b64url_decode(back, &len, enc, m), 0);
        assert_int_equal(len, n);
        assert_memory_equal(back, bin, n);
        assert_int_equal(b64url_decode((uint8_t *)enc, &len, enc, m), 0);
        assert_int_equal(len, n);
        assert_memory_equal(enc, bin, n);
    }
    for (int x = 0; x < 256; x++) {
        for (size_t n = 1; n <= 2; n++) {
            uint8_t in[2] = {(uint8_t)x, (uint8_t)(255 - x)};
            size_t m = b64url_encode(enc, in, n), len;
            assert_int_equal(b64url_decode(back, &len, enc, m), 0);
            assert_int_equal(len, n);
            assert_memory_equal(back, in, n);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),    cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_rejects),    cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
