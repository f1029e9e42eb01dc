/* Unit tests for core/arena.c and core/buf.c. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"

static void test_alignment(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    for (size_t n = 0; n < 200; n++) {
        char *p = arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, n);
    }
    arena_reset(&a);
}

/* Allocations never overlap, across chunk boundaries and large allocations. */
static void test_no_overlap(void **state) {
    (void)state;
    enum { N = 300 };
    arena a;
    arena_init(&a);
    unsigned char *ptr[N];
    size_t len[N];
    for (int i = 0; i < N; i++) {
        len[i] = (size_t)(i * 37 % 2000) + 1;
        ptr[i] = arena_alloc(&a, len[i]);
        memset(ptr[i], i & 0xFF, len[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < len[i]; k++)
            if (ptr[i][k] != (i & 0xFF))
                fail_msg("allocation %d byte %zu was overwritten", i, k);
    arena_reset(&a);
}

static void test_zeroed_arena_and_calloc(void **state) {
    (void)state;
    arena a = {0};
    unsigned char *p = arena_calloc(&a, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0xFF, 100);
    arena_reset(&a);
    p = arena_calloc(&a, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(p[i], 0);
    arena_reset(&a);
}

/* A large allocation gets its own chunk and leaves the head's free space
 * usable: the next small allocation continues right after the previous one. */
static void test_large_allocations(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    char *small1 = arena_alloc(&a, 16);
    char *big = arena_alloc(&a, 1 << 20);
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 1, 1 << 20);
    char *small2 = arena_alloc(&a, 16);
    assert_ptr_equal(small2, small1 + 16);
    char *huge = arena_alloc(&a, 64u << 20);
    huge[0] = 1;
    huge[(64u << 20) - 1] = 2;
    assert_int_equal(big[(1 << 20) - 1], 1);
    arena_reset(&a);

    /* A large allocation as the very first one. */
    char *first = arena_alloc(&a, 100000);
    memset(first, 3, 100000);
    char *after = arena_alloc(&a, 32);
    memset(after, 4, 32);
    assert_int_equal(first[99999], 3);
    arena_reset(&a);
}

/* Chunks released by reset are reused before malloc. */
static void test_reuse_after_reset(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    char *p1 = arena_alloc(&a, 64);
    arena_reset(&a);
    char *p2 = arena_alloc(&a, 64);
    assert_ptr_equal(p1, p2);
    arena_reset(&a);
    assert_null(a.head);
    assert_null(a.cur);
    /* Many requests' worth of cycles stay within the cache. */
    for (int r = 0; r < 1000; r++) {
        for (int i = 0; i < 50; i++)
            memset(arena_alloc(&a, 200), r & 0xFF, 200);
        arena_reset(&a);
    }
}

static void test_strndup(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    char *s = arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    s = arena_strndup(&a, NULL, 0);
    assert_string_equal(s, "");
    s = arena_strndup(&a, "a\0b", 3);
    assert_memory_equal(s, "a\0b\0", 4);
    arena_reset(&a);
}

static void test_xalloc(void **state) {
    (void)state;
    char *p = xmalloc(0);
    assert_non_null(p);
    free(p);
    int *z = xcalloc(10, sizeof *z);
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 1000 * sizeof *z);
    assert_int_equal(z[9], 0);
    free(z);
    char *d = xstrdup("dup");
    assert_string_equal(d, "dup");
    free(d);
}

/* buf */

static void check_growth(arena *a) {
    buf b;
    buf_init(&b, a);
    assert_int_equal(b.len, 0);
    for (int i = 0; i < 100000; i++)
        buf_appendc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= b.len);
    for (int i = 0; i < 100000; i++)
        if (b.data[i] != (char)('a' + i % 26))
            fail_msg("byte %d lost in growth", i);
    buf_append(&b, "xyz", 3);
    buf_append(&b, NULL, 0);
    buf_appends(&b, "");
    assert_int_equal(b.len, 100003);
    assert_memory_equal(b.data + 100000, "xyz", 3);

    /* reserve/commit: the returned space is writable and nothing moves once
     * it is reserved. */
    char *p = buf_reserve(&b, 1 << 20);
    memset(p, 'q', 1 << 20);
    buf_commit(&b, 1 << 20);
    assert_int_equal(b.len, 100003 + (1 << 20));
    assert_int_equal(b.data[b.len - 1], 'q');
    assert_memory_equal(b.data, "abc", 3);

    size_t cap = b.cap;
    buf_clear(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    buf_appends(&b, "again");
    assert_memory_equal(b.data, "again", 5);
    buf_free(&b);
}

static void test_buf_growth_malloc(void **state) {
    (void)state;
    check_growth(NULL);
}

static void test_buf_growth_arena(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    check_growth(&a);
    arena_reset(&a);
}

static void test_buf_printf(void **state) {
    (void)state;
    buf b;
    buf_init(&b, NULL);
    buf_printf(&b, "%d-%s", 42, "x");
    buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "42-x", 4);
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 1001);
    assert_int_equal(b.data[b.len - 1], ']');
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void expect_i64(long long v, const char *want) {
    buf b;
    buf_init(&b, NULL);
    buf_append_i64(&b, v);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("buf_append_i64 wrote '%.*s', want '%s'", (int)b.len, b.data, want);
    buf_free(&b);
}

static void test_append_integers(void **state) {
    (void)state;
    expect_i64(0, "0");
    expect_i64(-1, "-1");
    expect_i64(9, "9");
    expect_i64(10, "10");
    expect_i64(-10, "-10");
    expect_i64(LLONG_MAX, "9223372036854775807");
    expect_i64(LLONG_MIN, "-9223372036854775808");
    expect_i64(LLONG_MIN + 1, "-9223372036854775807");
    expect_i64(INT32_MIN, "-2147483648");

    buf b;
    buf_init(&b, NULL);
    buf_append_u64(&b, ULLONG_MAX);
    buf_appendc(&b, ' ');
    buf_append_u64(&b, 0);
    assert_int_equal(b.len, 22);
    assert_memory_equal(b.data, "18446744073709551615 0", 22);
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_zeroed_arena_and_calloc),
        cmocka_unit_test(test_large_allocations),
        cmocka_unit_test(test_reuse_after_reset),
        cmocka_unit_test(test_strndup),
        cmocka_unit_test(test_xalloc),
        cmocka_unit_test(test_buf_growth_malloc),
        cmocka_unit_test(test_buf_growth_arena),
        cmocka_unit_test(test_buf_printf),
        cmocka_unit_test(test_append_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
