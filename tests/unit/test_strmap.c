/* Unit tests for core/strmap.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/strmap.h"

static void test_put_get_del(void **state) {
    (void)state;
    strmap m;
    strmap_init(&m);
    int a, b;
    assert_null(strmap_get(&m, "x", 1));
    assert_null(strmap_del(&m, "x", 1));
    strmap_put(&m, "x", 1, &a);
    strmap_put(&m, "xy", 2, &b);
    assert_ptr_equal(strmap_get(&m, "x", 1), &a);
    assert_ptr_equal(strmap_get(&m, "xy", 2), &b);
    strmap_put(&m, "x", 1, &b); /* replaces */
    assert_ptr_equal(strmap_get(&m, "x", 1), &b);
    assert_int_equal(m.count, 2);
    assert_ptr_equal(strmap_del(&m, "x", 1), &b);
    assert_null(strmap_get(&m, "x", 1));
    assert_int_equal(m.count, 1);
    strmap_free(&m);
}

/* Keys are bytes: an embedded NUL is part of the key. */
static void test_binary_keys(void **state) {
    (void)state;
    strmap m;
    strmap_init(&m);
    int a, b;
    strmap_put(&m, "a\0b", 3, &a);
    strmap_put(&m, "a\0c", 3, &b);
    assert_ptr_equal(strmap_get(&m, "a\0b", 3), &a);
    assert_ptr_equal(strmap_get(&m, "a\0c", 3), &b);
    assert_null(strmap_get(&m, "a", 1));
    strmap_free(&m);
}

/* Growth keeps every entry reachable; deleting them all empties the map. */
static void test_many(void **state) {
    (void)state;
    enum { N = 20000 };
    strmap m;
    strmap_init(&m);
    static int vals[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "acct:%d", i);
        strmap_put(&m, key, (size_t)n, &vals[i]);
    }
    assert_int_equal(m.count, N);
    assert_true(m.nbuckets >= N);
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "acct:%d", i);
        assert_ptr_equal(strmap_get(&m, key, (size_t)n), &vals[i]);
    }
    for (int i = 0; i < N; i += 2) {
        int n = snprintf(key, sizeof key, "acct:%d", i);
        assert_ptr_equal(strmap_del(&m, key, (size_t)n), &vals[i]);
    }
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "acct:%d", i);
        if (i % 2)
            assert_ptr_equal(strmap_get(&m, key, (size_t)n), &vals[i]);
        else
            assert_null(strmap_get(&m, key, (size_t)n));
    }
    assert_int_equal(m.count, N / 2);
    strmap_free(&m);
    assert_int_equal(m.count, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
