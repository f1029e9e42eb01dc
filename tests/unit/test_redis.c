/* Unit tests for storage/redis.c, against a scripted Redis served on the
 * test's own loop: a subscriber connection whose command deadline passes
 * while a callback runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "storage/redis.h"

#define TIMEOUT_MS 500

/* A Redis that confirms every (un)subscription except to `silent`. */
struct fake_redis {
    uv_tcp_t server, conn;
    bool accepted;
    char in[4096];
    size_t len;
    const char *silent;
};

/* Reads "<lead><number>\r\n" at *p (before end); -1 if incomplete. */
static long resp_number(const char **p, const char *end, char lead) {
    const char *crlf = memchr(*p, '\r', (size_t)(end - *p));
    if (!crlf || crlf + 1 >= end)
        return -1;
    assert_int_equal(**p, lead);
    long n = strtol(*p + 1, NULL, 10);
    *p = crlf + 2;
    return n;
}

/* Parses one command (an array of two bulk strings) from the front of the
 * input; returns its length, or 0 while it is incomplete. */
static size_t fake_parse(const struct fake_redis *f, char argv[2][64]) {
    const char *p = f->in, *end = f->in + f->len;
    long argc = resp_number(&p, end, '*');
    if (argc < 0)
        return 0;
    assert_int_equal(argc, 2);
    for (int i = 0; i < 2; i++) {
        long n = resp_number(&p, end, '$');
        if (n < 0 || end - p < n + 2)
            return 0;
        assert_true(n < 64);
        memcpy(argv[i], p, (size_t)n);
        argv[i][n] = '\0';
        p += n + 2;
    }
    return (size_t)(p - f->in);
}

static void fake_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    struct fake_redis *f = h->data;
    (void)suggested;
    *b = uv_buf_init(f->in + f->len, (unsigned)(sizeof f->in - f->len));
}

static void fake_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    struct fake_redis *f = s->data;
    (void)b;
    if (nread < 0) {
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    f->len += (size_t)nread;
    char argv[2][64];
    size_t used;
    while ((used = fake_parse(f, argv)) > 0) {
        memmove(f->in, f->in + used, f->len - used);
        f->len -= used;
        if (f->silent && strcmp(argv[1], f->silent) == 0)
            continue;
        char verb[64], out[256];
        for (size_t i = 0; i <= strlen(argv[0]); i++)
            verb[i] = (char)(argv[0][i] | (argv[0][i] >= 'A' && argv[0][i] <= 'Z' ? 0x20 : 0));
        int n = snprintf(out, sizeof out, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n:1\r\n", strlen(verb),
                         verb, strlen(argv[1]), argv[1]);
        uv_buf_t reply = uv_buf_init(out, (unsigned)n);
        assert_int_equal(uv_try_write(s, &reply, 1), n);
    }
}

static void fake_accept(uv_stream_t *server, int status) {
    struct fake_redis *f = server->data;
    assert_int_equal(status, 0);
    assert_false(f->accepted);
    uv_tcp_init(server->loop, &f->conn);
    f->conn.data = f;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&f->conn), 0);
    f->accepted = true;
    uv_read_start((uv_stream_t *)&f->conn, fake_alloc, fake_read);
}

/* Listens on a free port of 127.0.0.1 and writes its URL to url. */
static void fake_start(uv_loop_t *loop, struct fake_redis *f, char *url, size_t urllen) {
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(loop, &f->server);
    f->server.data = f;
    assert_int_equal(uv_tcp_bind(&f->server, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->server, 8, fake_accept), 0);
    uv_tcp_getsockname(&f->server, (struct sockaddr *)&bound, &blen);
    snprintf(url, urllen, "redis://127.0.0.1:%d", ntohs(((struct sockaddr_in *)&bound)->sin_port));
}

/* ---- the subscriber test ---- */

static uv_loop_t loop;
static rds_client *client;
static struct fake_redis fake;
static enum rds_state last_state;
static int backoff_count;
static bool in_subscribe; /* inside the rds_subscribe call made by x's callback */
static int x_count, y_count, z_count;

static void on_state(rds_client *c, enum rds_state s, void *ud) {
    (void)c, (void)ud;
    last_state = s;
    if (s == RDS_BACKOFF)
        backoff_count++;
}

static void on_message(const char *ch, size_t chlen, const char *msg, size_t len, void *ud) {
    (void)ch, (void)chlen, (void)msg, (void)len, (void)ud;
    fail_msg("no message was published");
}

static void on_z(redisReply *reply, int err, void *ud) {
    (void)ud;
    assert_false(in_subscribe); /* never from inside the call that registered it */
    assert_null(reply);
    assert_int_equal(err, RDS_ETIMEDOUT);
    z_count++;
}

static void on_y(redisReply *reply, int err, void *ud) {
    (void)ud;
    assert_false(in_subscribe);
    assert_null(reply);
    assert_int_equal(err, RDS_ETIMEDOUT);
    y_count++;
}

/* x's confirmation is read only after y's deadline passed (the loop was
 * busy: the sleep), and the callback subscribes again, as the events module
 * does when a stream waits for an unsubscription's confirmation. */
static void on_x(redisReply *reply, int err, void *ud) {
    (void)ud;
    assert_int_equal(err, 0);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
    x_count++;
    usleep((TIMEOUT_MS + 50) * 1000);
    uv_update_time(&loop);
    in_subscribe = true;
    int rc = rds_subscribe(client, "z", 1, on_z, NULL);
    in_subscribe = false;
    assert_int_equal(rc, 0);
}

/* Runs the loop until done() or 5 s. */
static void run_until(bool (*done)(void)) {
    uint64_t until = uv_hrtime() + 5000000000u;
    while (!done() && uv_hrtime() < until)
        uv_run(&loop, UV_RUN_ONCE);
    assert_true(done());
}

static bool is_ready(void) {
    return last_state == RDS_READY;
}

static bool all_called(void) {
    return x_count && y_count && z_count && backoff_count;
}

/* A deadline found passed inside a hiredis callback, or inside an rds_* call
 * made from one, drops the connection later, from the timer: the callbacks
 * of the commands it fails run once each, none inside the call that
 * registered it, and the records being delivered stay valid. */
static void test_subscriber_deadline_passed_in_callback(void **state) {
    (void)state;
    char url[64];
    assert_int_equal(uv_loop_init(&loop), 0);
    fake_start(&loop, &fake, url, sizeof url);
    fake.silent = "y";
    struct rds_options opt = {.url = url,
                              .timeout_ms = TIMEOUT_MS,
                              .on_state = on_state,
                              .on_message = on_message,
                              .keepalive_channel = "keepalive",
                              .keepalive_ms = 60000};
    client = rds_new(&loop, &opt);
    assert_non_null(client);
    rds_start(client);
    run_until(is_ready);

    assert_int_equal(rds_subscribe(client, "x", 1, on_x, NULL), 0);
    assert_int_equal(rds_subscribe(client, "y", 1, on_y, NULL), 0);
    run_until(all_called);
    assert_int_equal(x_count, 1);
    assert_int_equal(y_count, 1);
    assert_int_equal(z_count, 1);
    assert_int_equal(backoff_count, 1);

    rds_close(client);
    assert_int_equal(last_state, RDS_CLOSED);
    uv_close((uv_handle_t *)&fake.server, NULL);
    if (fake.accepted && !uv_is_closing((uv_handle_t *)&fake.conn))
        uv_close((uv_handle_t *)&fake.conn, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    rds_free(client);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(x_count + y_count + z_count, 3);
}

int main(void) {
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscriber_deadline_passed_in_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
