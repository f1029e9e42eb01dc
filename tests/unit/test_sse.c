/* Unit tests for protocol/sse.c: event framing and event ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/sse.h"

static void frame_is(const char *data, const char *expect) {
    buf b;
    buf_init(&b, NULL);
    sse_event(&b, "7-1", 3, "gig", 3, data, strlen(data));
    buf_appendc(&b, '\0');
    assert_string_equal(b.data, expect);
    buf_free(&b);
}

static void test_event_one_line(void **state) {
    (void)state;
    frame_is("{\"a\":1}", "id: 7-1\nevent: gig\ndata: {\"a\":1}\n\n");
}

/* A line break in the data starts a new data line, as the client's parser
 * joins them back with LF. */
static void test_event_multiline(void **state) {
    (void)state;
    frame_is("a\nb", "id: 7-1\nevent: gig\ndata: a\ndata: b\n\n");
    frame_is("a\r\nb", "id: 7-1\nevent: gig\ndata: a\ndata: b\n\n");
    frame_is("a\rb\n", "id: 7-1\nevent: gig\ndata: a\ndata: b\ndata: \n\n");
    frame_is("", "id: 7-1\nevent: gig\ndata: \n\n");
}

static void test_comment(void **state) {
    (void)state;
    buf b;
    buf_init(&b, NULL);
    sse_comment(&b, "keepalive");
    buf_appendc(&b, '\0');
    assert_string_equal(b.data, ":keepalive\n\n");
    buf_free(&b);
}

static void test_id_parse(void **state) {
    (void)state;
    struct sse_id id;
    assert_int_equal(sse_id_parse("1732345678901-0", 15, &id), 0);
    assert_true(id.ms == 1732345678901ull && id.seq == 0);
    assert_int_equal(sse_id_parse("0-0", 3, &id), 0);
    assert_true(id.ms == 0 && id.seq == 0);
    assert_int_equal(sse_id_parse("18446744073709551615-18446744073709551615", 41, &id), 0);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    static const char *const bad[] = {"",
                                      "abc",
                                      "12",
                                      "1-",
                                      "-1",
                                      "-1-0",
                                      "1-2-3",
                                      "1 -2",
                                      "1-2 ",
                                      "+1-2",
                                      "18446744073709551616-0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sse_id_parse(bad[i], strlen(bad[i]), &id), -1);
}

static void test_id_order(void **state) {
    (void)state;
    struct sse_id a = {5, 0}, b = {5, 1}, c = {6, 0};
    assert_true(sse_id_after(b, a));
    assert_true(sse_id_after(c, b));
    assert_false(sse_id_after(a, a));
    assert_false(sse_id_after(a, c));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_one_line), cmocka_unit_test(test_event_multiline),
        cmocka_unit_test(test_comment),        cmocka_unit_test(test_id_parse),
        cmocka_unit_test(test_id_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
