/* The HTTP/1.1 request parser: what it extracts, the limits it enforces and
 * the status each violation maps to, and the pause between pipelined
 * requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/router.h"
#include "protocol/http1.h"

static void h(struct http_request *req) {
    (void)req;
}

static const struct route table[] = {
    {HTTP_GET, "/health", h, 0, 0, 0, 0},
    {HTTP_POST, "/echo", h, 0, 0, 0, 0},
    {HTTP_POST, "/big", h, 0, 1000, 0, 0},
    {HTTP_GET, "/items/:id", h, 0, 0, 0, 0},
};

static const struct http_limits limits = {
    .max_header_bytes = 1024,
    .max_headers = 10,
    .max_url_bytes = 256,
    .max_body_bytes = 100,
};

struct run {
    struct http_parser p;
    http_request req;
    llhttp_errno_t err;
    int status; /* 0 when the message parsed */
    const char *message;
    size_t used;
};

/* Feeds raw to a fresh parser in pieces of `step` bytes (0: all at once) and
 * records where it stopped. */
static void parse(struct run *r, const char *raw, size_t step) {
    memset(r, 0, sizeof *r);
    http_parser_init(&r->p, &limits, NULL);
    arena_init(&r->req.arena);
    r->req.match.index = -1;
    r->p.req = &r->req;
    size_t n = strlen(raw), off = 0;
    r->err = HPE_OK;
    while (off < n && r->err == HPE_OK) {
        size_t len = step && n - off > step ? step : n - off;
        r->err = llhttp_execute(&r->p.llhttp, raw + off, len);
        if (r->err == HPE_PAUSED)
            r->used = off + (size_t)(llhttp_get_error_pos(&r->p.llhttp) - (raw + off));
        off += len;
    }
    if (r->err != HPE_OK && r->err != HPE_PAUSED)
        r->status = http_parse_error(&r->p, r->err, &r->message);
}

static void done(struct run *r) {
    arena_reset(&r->req.arena);
}

static int setup(void **state) {
    (void)state;
    return router_init(table, sizeof table / sizeof table[0], false);
}

static void test_simple_get(void **state) {
    struct run r;
    for (size_t step = 0; step < 4; step++) {
        parse(&r,
              "GET /items/a%20b?x=1&y=hello+world&z=%41 HTTP/1.1\r\nHost: h\r\n"
              "X-Thing:  spaced \r\n\r\n",
              step);
        assert_int_equal(r.err, HPE_PAUSED);
        assert_int_equal(r.req.method, HTTP_GET);
        assert_string_equal(r.req.path, "/items/a%20b");
        assert_ptr_equal(r.req.match.route, &table[3]);
        size_t len;
        assert_string_equal(http_param(&r.req, 0, &len), "a b");
        assert_int_equal(len, 3);
        const char *v;
        assert_int_equal(http_query(&r.req, "y", &v, NULL), 0);
        assert_string_equal(v, "hello world");
        assert_int_equal(http_query(&r.req, "z", &v, NULL), 0);
        assert_string_equal(v, "A");
        assert_int_equal(http_query(&r.req, "w", &v, NULL), -1);
        const char *hv = http_header(&r.req, "x-thing", &len);
        assert_non_null(hv);
        assert_int_equal(len, 6); /* llhttp trims the leading whitespace */
        assert_memory_equal(hv, "spaced", 6);
        assert_null(http_header(&r.req, "missing", NULL));
        assert_true(r.req.keep_alive);
        done(&r);
    }
}

static void test_bad_percent(void **state) {
    struct run r;
    parse(&r, "GET /items/%zz?q=%4 HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(r.err, HPE_PAUSED);
    assert_null(http_param(&r.req, 0, NULL));
    const char *v;
    assert_int_equal(http_query(&r.req, "q", &v, NULL), -1);
    done(&r);
    parse(&r, "GET /items/a%00b HTTP/1.1\r\n\r\n", 0);
    assert_null(http_param(&r.req, 0, NULL));
    done(&r);
}

static void test_body_content_length(void **state) {
    struct run r;
    parse(&r, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 2);
    assert_int_equal(r.err, HPE_PAUSED);
    assert_int_equal(r.req.body.len, 5);
    assert_string_equal(r.req.body.data, "hello");
    done(&r);
}

static void test_body_chunked(void **state) {
    struct run r;
    parse(&r,
          "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
          3);
    assert_int_equal(r.err, HPE_PAUSED);
    assert_int_equal(r.req.body.len, 7);
    assert_memory_equal(r.req.body.data, "abcdefg", 7);
    done(&r);
}

static void expect_status(const char *raw, int status) {
    struct run r;
    parse(&r, raw, 0);
    if (r.status != status)
        fail_msg("expected %d, got %d (%s) for %.60s", status, r.status,
                 r.message ? r.message : "-", raw);
    assert_non_null(r.message);
    done(&r);
}

static void test_limits(void **state) {
    char raw[4096];
    /* URL */
    snprintf(raw, sizeof raw, "GET /%0300d HTTP/1.1\r\n\r\n", 0);
    expect_status(raw, 414);
    /* header bytes */
    snprintf(raw, sizeof raw, "GET /health HTTP/1.1\r\nX-Big: %01100d\r\n\r\n", 0);
    expect_status(raw, 431);
    /* header count */
    strcpy(raw, "GET /health HTTP/1.1\r\n");
    for (int i = 0; i < 11; i++)
        sprintf(raw + strlen(raw), "X-H%d: v\r\n", i);
    strcat(raw, "\r\n");
    expect_status(raw, 431);
    /* body announced over the default limit, and over a route's own limit */
    expect_status("POST /echo HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413);
    expect_status("POST /big HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413);
    /* a chunked body growing past it */
    snprintf(raw, sizeof raw,
             "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
             "40\r\n%064d\r\n40\r\n%064d\r\n0\r\n\r\n",
             0, 0);
    expect_status(raw, 413);
}

static void test_framing_errors(void **state) {
    expect_status("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                  400);
    expect_status("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
    expect_status("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
    expect_status("POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    expect_status("GET /health HTTP/1.2\r\n\r\n", 505);
    expect_status("GET /health HTTP/2.0\r\n\r\n", 505);
    expect_status("GET /health HTTP/1.1 extra\r\n\r\n", 400);
    expect_status("GET /health HTTP/x.y\r\n\r\n", 400);
    expect_status("hello\r\n\r\n", 400);
    expect_status("GET health HTTP/1.1\r\n\r\n", 400);
    expect_status("GET /health HTTP/1.1\r\nBad Header\r\n\r\n", 400);
    expect_status("GET /health HTTP/1.1\r\nBad Name: v\r\n\r\n", 400);
    expect_status("GET /health HTTP/1.1\r\n: v\r\n\r\n", 400);
}

static void test_small_body_is_fine(void **state) {
    struct run r;
    parse(&r, "POST /big HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", 0);
    assert_int_equal(r.status, 0); /* waiting for the body: no error */
    done(&r);
}

static void test_pipelined_pause(void **state) {
    struct run r;
    const char *two = "GET /health HTTP/1.1\r\n\r\nGET /items/2 HTTP/1.1\r\n\r\n";
    parse(&r, two, 0);
    assert_int_equal(r.err, HPE_PAUSED);
    assert_int_equal(r.used, strlen("GET /health HTTP/1.1\r\n\r\n"));
    assert_ptr_equal(r.req.match.route, &table[0]);
    done(&r);
}

static void test_http10(void **state) {
    struct run r;
    parse(&r, "GET /health HTTP/1.0\r\n\r\n", 0);
    assert_int_equal(r.err, HPE_PAUSED);
    assert_false(r.req.keep_alive);
    assert_int_equal(r.req.http_minor, 0);
    done(&r);
    parse(&r, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0);
    assert_true(r.req.keep_alive);
    done(&r);
    parse(&r, "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", 0);
    assert_false(r.req.keep_alive);
    done(&r);
}

static void test_head_and_expect(void **state) {
    struct run r;
    parse(&r, "HEAD /health HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(r.err, HPE_PAUSED);
    assert_true(r.req.head);
    assert_ptr_equal(r.req.match.route, &table[0]); /* the GET route */
    done(&r);
    parse(&r, "POST /echo HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", 0);
    assert_int_equal(r.status, 0);
    assert_true(r.req.expect_continue);
    done(&r);
    parse(&r, "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 0);
    assert_false(r.req.expect_continue); /* HTTP/1.0 clients do not wait for it */
    done(&r);
}

static void test_response_head(void **state) {
    buf b;
    buf_init(&b, NULL);
    http_write_head(&b, 404, false, 1, "application/json", 12, "Allow: GET\r\n");
    buf_appendc(&b, '\0');
    assert_non_null(strstr(b.data, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(b.data, "Content-Length: 12\r\n"));
    assert_non_null(strstr(b.data, "Connection: close\r\n"));
    assert_non_null(strstr(b.data, "Allow: GET\r\n\r\n"));
    buf_clear(&b);
    http_write_head(&b, 200, true, 0, "text/plain", 0, NULL);
    buf_appendc(&b, '\0');
    assert_non_null(strstr(b.data, "HTTP/1.0 200 OK\r\n"));
    assert_non_null(strstr(b.data, "Connection: keep-alive\r\n"));
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_bad_percent),
        cmocka_unit_test(test_body_content_length),
        cmocka_unit_test(test_body_chunked),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_framing_errors),
        cmocka_unit_test(test_small_body_is_fine),
        cmocka_unit_test(test_pipelined_pause),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_head_and_expect),
        cmocka_unit_test(test_response_head),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
