/* Unit tests for protocol/form.c (application/x-www-form-urlencoded bodies). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/form.h"

/* Looks `name` up in the C string `body` and checks the decoded value. */
static void check_value(const char *body, const char *name, const char *want, size_t want_len) {
    arena a;
    arena_init(&a);
    const char *val = NULL;
    size_t len = 999;
    enum form_result r = form_get(&a, body, strlen(body), name, &val, &len);
    if (r != FORM_OK)
        fail_msg("'%s' in '%s': %d", name, body, r);
    if (len != want_len || memcmp(val, want, want_len) != 0)
        fail_msg("'%s' in '%s': got '%.*s' (%zu), want '%.*s'", name, body, (int)len, val, len,
                 (int)want_len, want);
    assert_int_equal(val[len], '\0');
    /* Always a copy, never a pointer into the body. */
    assert_true(val + len < body || val >= body + strlen(body));
    arena_reset(&a);
}
#define EXPECT(body, name, want) check_value(body, name, want, sizeof(want) - 1)

/* Expects result r (not FORM_OK) and outputs left alone. */
static void check_fail(const char *body, size_t n, const char *name, enum form_result r) {
    arena a;
    arena_init(&a);
    const char *val = "untouched";
    size_t len = 12345;
    enum form_result got = form_get(&a, body, n, name, &val, &len);
    if (got != r)
        fail_msg("'%s' in '%.*s': %d, want %d", name, (int)n, body, got, r);
    assert_string_equal(val, "untouched");
    assert_int_equal(len, 12345);
    arena_reset(&a);
}
#define ABSENT(body, name) check_fail(body, strlen(body), name, FORM_EABSENT)
#define MALFORMED(body, name) check_fail(body, strlen(body), name, FORM_EMALFORMED)

/* What pusher-js posts. */
static void test_plain(void **state) {
    (void)state;
    const char *body = "socket_id=1234.1234&channel_name=private-foobar";
    EXPECT(body, "socket_id", "1234.1234");
    EXPECT(body, "channel_name", "private-foobar");
    EXPECT("a=1", "a", "1");
    EXPECT("a=1&b=2&c=3", "b", "2");
    EXPECT("a=1&b=2&c=3", "c", "3");
}

static void test_plus_is_space(void **state) {
    (void)state;
    EXPECT("a=hello+world", "a", "hello world");
    EXPECT("a=+", "a", " ");
    EXPECT("a=++x++", "a", "  x  ");
    EXPECT("a=%2B", "a", "+"); /* an escaped '+' is a plus */
    EXPECT("a=%2b+%2B", "a", "+ +");
}

static void test_escapes(void **state) {
    (void)state;
    EXPECT("a=%20", "a", " ");
    EXPECT("a=x%20y", "a", "x y");
    EXPECT("a=%2f", "a", "/");
    EXPECT("a=%2F", "a", "/");
    EXPECT("a=%41%62%4a%4A%7e", "a", "AbJJ~");
    EXPECT("a=%25", "a", "%");     /* an escaped '%' is not escaped again */
    EXPECT("a=%2541", "a", "%41"); /* one round of decoding only */
    EXPECT("a=%26b%3D2&b=3", "a", "&b=2");
    EXPECT("a=%26b%3D2&b=3", "b", "3");
    EXPECT("a=%C3%A9", "a", "\xc3\xa9");
    EXPECT("a=%ff%80", "a", "\xff\x80"); /* bytes, not checked for UTF-8 */
    EXPECT("channel_data=%7B%22user_id%22%3A%2242%22%7D", "channel_data", "{\"user_id\":\"42\"}");
}

/* Every byte but NUL survives an escape, in both hex cases. */
static void test_every_byte(void **state) {
    (void)state;
    for (int c = 1; c < 256; c++) {
        char body[16];
        char want[1] = {(char)c};
        snprintf(body, sizeof body, "v=%%%02x", (unsigned)c);
        check_value(body, "v", want, 1);
        snprintf(body, sizeof body, "v=%%%02X", (unsigned)c);
        check_value(body, "v", want, 1);
    }
}

static void test_bad_escapes(void **state) {
    (void)state;
    static const char *bad[] = {"%",   "%G1", "%1", "%1G", "%%",  "%%41", "%g0",  "% 1",
                                "%-1", "%+1", "x%", "x%4", "%4x", "%00",  "a%00b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[32];
        /* In the field asked for, in another field before or after it, and
         * in a name: the whole body is malformed whatever is asked for. */
        snprintf(body, sizeof body, "a=%s", bad[i]);
        MALFORMED(body, "a");
        snprintf(body, sizeof body, "a=%s&b=1", bad[i]);
        MALFORMED(body, "a");
        MALFORMED(body, "b");
        snprintf(body, sizeof body, "b=1&a=%s", bad[i]);
        MALFORMED(body, "b");
        snprintf(body, sizeof body, "b=1&a=%s", bad[i]);
        MALFORMED(body, "zzz");
        snprintf(body, sizeof body, "b=1&%s=2", bad[i]);
        MALFORMED(body, "b");
        snprintf(body, sizeof body, "b=1&%s", bad[i]);
        MALFORMED(body, "b");
    }
    /* A raw NUL byte, in a value and in a name. */
    check_fail("a=1\0&b=2", 8, "b", FORM_EMALFORMED);
    check_fail("a=1&b\0=2", 8, "a", FORM_EMALFORMED);
    /* An escape cut by the end of the body passed is still cut, even though
     * the bytes after it would complete it. */
    check_fail("a=%41", 4, "a", FORM_EMALFORMED);
    check_fail("a=%41", 3, "a", FORM_EMALFORMED);
}

static void test_absent(void **state) {
    (void)state;
    ABSENT("a=1&b=2", "c");
    ABSENT("", "a");
    ABSENT("&&&", "a");
    ABSENT("A=1", "a"); /* names are case-sensitive */
    ABSENT("a%3D1=2", "a");
    ABSENT("a+=1", "a");
    ABSENT("+a=1", "a");
    check_fail(NULL, 0, "a", FORM_EABSENT);
    /* Only n bytes are read. */
    check_fail("a=1&b=2", 3, "b", FORM_EABSENT);
    check_value("a=1&b=2", "a", "1", 1);
}

/* An empty value is there (FORM_OK, length 0); absent is something else. */
static void test_empty_value(void **state) {
    (void)state;
    EXPECT("a=", "a", "");
    EXPECT("a=&b=1", "a", "");
    EXPECT("b=1&a=", "a", "");
    EXPECT("a", "a", ""); /* no '=' at all */
    EXPECT("a&b=1", "a", "");
    EXPECT("b=1&a", "a", "");
    EXPECT("a=&a=1", "a", ""); /* the first field wins even when empty */
    ABSENT("a=", "b");
    /* An empty name is a name like any other. */
    EXPECT("=1&a=2", "", "1");
    ABSENT("a=2", "");
    /* An empty field is no field, not one with an empty name. */
    EXPECT("&=1", "", "1");
    ABSENT("&&&", "");
}

static void test_first_duplicate_wins(void **state) {
    (void)state;
    EXPECT("a=1&a=2", "a", "1");
    EXPECT("a=1&b=0&a=2&a=3", "a", "1");
    EXPECT("socket_id=1.2&socket_id=3.4", "socket_id", "1.2");
    EXPECT("a%5Fb=1&a_b=2", "a_b", "1"); /* the same name, spelt otherwise */
    EXPECT("a_b=1&a%5Fb=2", "a_b", "1");
}

/* A name must match in full: neither a prefix nor an extension of it. */
static void test_name_prefix(void **state) {
    (void)state;
    const char *body = "socket=x&socket_id=1.2";
    EXPECT(body, "socket_id", "1.2");
    EXPECT(body, "socket", "x");
    EXPECT("socket_id=1.2&socket=x", "socket", "x");
    EXPECT("socket_id=1.2&socket=x", "socket_id", "1.2");
    ABSENT("socket_id=1.2", "socket");
    ABSENT("socket=x", "socket_id");
    ABSENT("socket_idx=1.2", "socket_id");
    ABSENT("xsocket_id=1.2", "socket_id");
}

/* Names are decoded before they are compared. */
static void test_name_decoding(void **state) {
    (void)state;
    EXPECT("socket%5Fid=1.2", "socket_id", "1.2");
    EXPECT("socket%5fid=1.2", "socket_id", "1.2");
    EXPECT("%73ocket_i%64=1.2", "socket_id", "1.2");
    EXPECT("a+b=1", "a b", "1");
    EXPECT("a%20b=1", "a b", "1");
    EXPECT("a%3Db=1", "a=b", "1");
    EXPECT("a%26b=1", "a&b", "1");
}

/* Everything after the first '=' of a field is its value. */
static void test_value_layout(void **state) {
    (void)state;
    EXPECT("a=b=c", "a", "b=c");
    EXPECT("a==", "a", "=");
    EXPECT("&&a=1&&", "a", "1");
    EXPECT("a=1&", "a", "1");
    EXPECT("a=x;y", "a", "x;y"); /* ';' is not a separator */
    EXPECT("a=x y", "a", "x y"); /* raw bytes pass through */
}

static void test_len_optional(void **state) {
    (void)state;
    arena a;
    arena_init(&a);
    const char *val = NULL;
    assert_int_equal(form_get(&a, "a=x%20y", 7, "a", &val, NULL), FORM_OK);
    assert_string_equal(val, "x y");
    arena_reset(&a);
}

static void test_content_type(void **state) {
    (void)state;
    static const char *yes[] = {
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-URLEncoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "application/x-www-form-urlencoded;charset=utf-8",
        "application/x-www-form-urlencoded ; charset=UTF-8",
        " application/x-www-form-urlencoded\t",
        "application/x-www-form-urlencoded;",
    };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!form_is_urlencoded(yes[i], strlen(yes[i])))
            fail_msg("refused '%s'", yes[i]);
    static const char *no[] = {
        "",
        "application/json",
        "application/x-www-form-urlencode",
        "application/x-www-form-urlencodedx",
        "application/x-www-form-urlencoded/x",
        "application/x-www-form-urlencoded x",
        "multipart/form-data; boundary=x",
        "text/plain; x=application/x-www-form-urlencoded",
        "xapplication/x-www-form-urlencoded",
    };
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (form_is_urlencoded(no[i], strlen(no[i])))
            fail_msg("accepted '%s'", no[i]);
    /* Only n bytes are read. */
    assert_false(form_is_urlencoded("application/x-www-form-urlencoded", 20));
    assert_true(form_is_urlencoded("application/x-www-form-urlencodedjunk", 33));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),        cmocka_unit_test(test_plus_is_space),
        cmocka_unit_test(test_escapes),      cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_bad_escapes),  cmocka_unit_test(test_absent),
        cmocka_unit_test(test_empty_value),  cmocka_unit_test(test_first_duplicate_wins),
        cmocka_unit_test(test_name_prefix),  cmocka_unit_test(test_name_decoding),
        cmocka_unit_test(test_value_layout), cmocka_unit_test(test_len_optional),
        cmocka_unit_test(test_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
