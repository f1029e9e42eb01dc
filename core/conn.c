#include "core/conn.h"

#include <stdlib.h>
#include <string.h>

#include "core/cors.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/server.h"

#define OUT_HIGH_WATER (1u << 20) /* stop reading above this much unsent output */
#define OUT_LOW_WATER (256u << 10)
#define OUT_KEEP 1024  /* output buffer kept between responses, at most */
#define LINGER_MS 1000 /* after the last response of a closing connection */
#define READ_BUF_SIZE (64u << 10)
#define PENDING_MAX (64u << 10) /* bytes held while a request is handled; beyond, stop reading */

enum phase {
    PH_IDLE,     /* between requests: keep-alive timer */
    PH_HEADERS,  /* first byte seen: header deadline */
    PH_BODY,     /* headers done: body idle timer */
    PH_HANDLING, /* handler running or waiting on Redis: no timer */
    PH_LINGER,   /* response sent, write side shut: drain input until EOF */
    PH_STREAM,   /* a streaming response: input dropped, tick timer */
};

struct conn {
    uv_tcp_t tcp; /* first: the handle's data is the conn */
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct http_parser parser;
    http_request *req;        /* being parsed or handled; NULL when idle */
    buf pending;              /* bytes received while a request is handled (malloc-backed) */
    buf out;                  /* queued output (malloc-backed) */
    buf writing;              /* the buffer uv_write is sending */
    struct conn *next, *prev; /* srv.conns */
    struct conn *flush_next;  /* turn list: output to send or a request completed */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    const struct conn_stream_ops *stream_ops; /* a streaming response's owner */
    void *stream_ud;
    uint64_t stream_interval;
    size_t stream_max_backlog;
    uint32_t nrequests;
    uint8_t phase;
    uint8_t handles_open;
    bool in_turn_list;
    bool in_dispatch; /* inside the handler call: completion is the caller's */
    bool completed;   /* the async request responded; finish it at the turn's end */
    bool reading;
    bool closing;           /* handles closing */
    bool close_after_write; /* no more requests: close once the output is written */
    bool peer_eof;          /* the client half-closed: nothing more will be read */
};

static uv_check_t turn_check;
static struct conn *turn_list;
static char read_buf[READ_BUF_SIZE];
static http_request *free_requests;
static uint64_t next_request_id;

static void conn_close(struct conn *c);
static void feed(struct conn *c, const char *data, size_t n);
static void update_reading(struct conn *c);
static void arm_timer(struct conn *c);

/* ---- requests ---- */

static http_request *request_new(struct conn *c) {
    http_request *req = free_requests;
    if (req)
        free_requests = req->ctx;
    else
        req = xmalloc(sizeof *req);
    memset(req, 0, sizeof *req);
    arena_init(&req->arena);
    req->conn = c;
    req->id = ++next_request_id;
    req->start_ns = uv_hrtime();
    req->keep_alive = true;
    req->http_minor = 1; /* until the request line says otherwise */
    req->match.index = -1;
    return req;
}

static void request_free(http_request *req) {
    arena_reset(&req->arena);
    req->ctx = free_requests;
    free_requests = req;
}

/* ---- lifetime ---- */

static void maybe_free(struct conn *c) {
    if (c->handles_open || c->req)
        return;
    if (c->stream_ops)
        c->stream_ops->on_close(c->stream_ud);
    buf_free(&c->pending);
    buf_free(&c->out);
    buf_free(&c->writing);
    free(c);
}

static void on_handle_closed(uv_handle_t *h) {
    struct conn *c = h->data;
    c->handles_open--;
    maybe_free(c);
}

static void turn_add(struct conn *c) {
    if (c->in_turn_list)
        return;
    c->in_turn_list = true;
    c->flush_next = turn_list;
    turn_list = c;
}

/* Closes both handles and unlinks the connection.  Safe to call repeatedly
 * and from any callback; the memory goes in maybe_free. */
static void conn_close(struct conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    c->prev ? (void)(c->prev->next = c->next) : (void)(srv.conns = c->next);
    if (c->next)
        c->next->prev = c->prev;
    srv.conns_open--;
    if (c->req && c->phase != PH_HANDLING) {
        /* A request still being parsed: nobody else holds it. */
        request_free(c->req);
        c->req = NULL;
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* ---- output ---- */

static void on_shutdown(uv_shutdown_t *sr, int status) {
    struct conn *c = sr->data;
    if (status < 0 || c->closing || c->peer_eof) {
        conn_close(c);
        return;
    }
    /* Read (and drop) what the client still sends until it closes, so the
     * kernel does not answer its unread bytes with a reset that could destroy
     * the response we just sent. */
    c->phase = PH_LINGER;
    arm_timer(c);
    update_reading(c);
}

static void flush(struct conn *c);
/* What follows a completed write: more output, the close of a finished
 * connection, or reading again below the low-water mark. */
static void after_written(struct conn *c) {
    if (c->out.len) {
        flush(c);
        return;
    }
    if (c->close_after_write) {
        c->sreq.data = c;
        if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
            conn_close(c);
        return;
    }
    update_reading(c);
    if (c->phase == PH_STREAM && c->stream_ops->on_drain)
        c->stream_ops->on_drain(c->stream_ud);
}

static void on_write(uv_write_t *wr, int status) {
    struct conn *c = wr->data;
    buf_free(&c->writing); /* idle connections hold no buffers */
    if (status < 0 || c->closing) {
        conn_close(c);
        return;
    }
    after_written(c);
}

/* Sends the queued output.  Most responses fit the socket buffer, so try a
 * direct write first: one syscall, no write request, no poll change; only
 * what the kernel did not take goes through uv_write. */
static void flush(struct conn *c) {
    if (c->closing || c->writing.len || !c->out.len)
        return;
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t sent = n > 0 ? (size_t)n : 0;
    if (sent == c->out.len) {
        /* Keep a small buffer for the next response (no malloc per
         * response); give a large one back (idle connections stay small). */
        if (c->out.cap <= OUT_KEEP && c->phase != PH_STREAM)
            buf_clear(&c->out);
        else
            buf_free(&c->out);
        after_written(c);
        return;
    }
    memmove(c->out.data, c->out.data + sent, c->out.len - sent);
    c->out.len -= sent;
    c->writing = c->out;
    buf_init(&c->out, NULL);
    b = uv_buf_init(c->writing.data, (unsigned)c->writing.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0)
        conn_close(c);
}

/* The client half-closed and every complete request it sent is answered: a
 * request it left incomplete is dropped, and the connection closes once the
 * last response is written. */
static void end_of_input(struct conn *c) {
    if (c->req) {
        request_free(c->req);
        c->req = NULL;
    }
    c->phase = PH_IDLE; /* the idle timer bounds the last write */
    arm_timer(c);
    c->close_after_write = true;
    if (!c->out.len && !c->writing.len)
        after_written(c);
}

/* ---- responses ---- */

/* Queues the response and records it; the request is finished by the caller
 * (synchronous handler) or at the end of the loop turn (asynchronous one).
 * A stream's head has no length and leaves the connection open.  Returns
 * false when the connection is closing (nothing was queued). */
static bool respond(http_request *req, int status, const char *content_type,
                    const char *extra_headers, const char *body, size_t len, bool stream) {
    struct conn *c = req->conn;
    if (req->responded) {
        log_write(LOG_ERROR, "http", req->id, "second response to one request (status %d)", status);
        return false;
    }
    req->responded = true;
    if (srv.draining || c->nrequests >= srv.cfg.max_requests_per_conn || stream)
        req->keep_alive = false;
    metrics_request(req->match.index, status, uv_hrtime() - req->start_ns);
    if (status >= 500)
        log_write(LOG_WARN, "http", req->id, "%s %s -> %d",
                  req->path ? llhttp_method_name(req->method) : "-", req->path ? req->path : "-",
                  status);
    bool queued = !c->closing;
    if (queued) {
        buf cors;
        buf_init(&cors, &req->arena);
        cors_headers(req, &cors);
        if (cors.len) {
            if (extra_headers)
                buf_appends(&cors, extra_headers);
            buf_append(&cors, "", 1);
            extra_headers = cors.data;
        }
        http_write_head(&c->out, status, req->keep_alive, req->http_minor, content_type,
                        stream ? HTTP_NO_LENGTH : len, extra_headers);
        if (!req->head)
            buf_append(&c->out, body, len);
        if (!req->keep_alive && !stream)
            c->close_after_write = true;
        turn_add(c);
    }
    if (!c->in_dispatch) {
        c->completed = true;
        turn_add(c);
    }
    return queued;
}

void resp_send(http_request *req, int status, const char *content_type, const char *extra_headers,
               const char *body, size_t len) {
    respond(req, status, content_type, extra_headers, body, len, false);
}

void resp_json(http_request *req, int status, const buf *body) {
    resp_send(req, status, "application/json; charset=utf-8", NULL, body->data, body->len);
}

void resp_json_str(http_request *req, int status, const char *json) {
    resp_send(req, status, "application/json; charset=utf-8", NULL, json, strlen(json));
}

void resp_error(http_request *req, int status, const char *code, const char *message) {
    buf b;
    buf_init(&b, &req->arena);
    http_error_body(&b, code, message);
    resp_json(req, status, &b);
}

void resp_unavailable(http_request *req) {
    buf b;
    buf_init(&b, &req->arena);
    http_error_body(&b, "unavailable", "The store is unavailable; retry shortly");
    resp_send(req, 503, "application/json; charset=utf-8", "Retry-After: 1\r\n", b.data, b.len);
}

struct conn *conn_stream_begin(http_request *req, const char *content_type,
                               const char *extra_headers, const char *first, size_t firstlen,
                               uint64_t interval_ms, size_t max_backlog,
                               const struct conn_stream_ops *ops, void *ud) {
    struct conn *c = req->conn;
    if (!respond(req, 200, content_type, extra_headers, first, firstlen, true))
        return NULL;
    /* The stream starts when the request is finished (finish_request). */
    c->stream_ops = ops;
    c->stream_ud = ud;
    c->stream_interval = interval_ms;
    c->stream_max_backlog = max_backlog;
    return c;
}

int conn_stream_write(struct conn *c, const char *data, size_t len) {
    if (c->closing || c->close_after_write)
        return -1;
    if (c->out.len + c->writing.len + len > c->stream_max_backlog) {
        log_info("http", "event stream reader too slow (%zu bytes unsent); closing",
                 c->out.len + c->writing.len);
        conn_close(c);
        return -2;
    }
    buf_append(&c->out, data, len);
    turn_add(c);
    return 0;
}

size_t conn_stream_unsent(const struct conn *c) {
    return c->out.len + c->writing.len;
}

void conn_stream_end(struct conn *c) {
    if (c->closing || c->close_after_write)
        return;
    c->close_after_write = true;
    if (!c->writing.len)
        after_written(c);
}

/* Answers a request the parser refused, then closes.  The request may be
 * half-parsed; only its arena and id are used. */
static void reject(struct conn *c, int status, const char *message) {
    http_request *req = c->req;
    if (!req)
        req = c->req = request_new(c);
    req->keep_alive = false;
    req->match.index = -1;
    c->in_dispatch = true;
    resp_error(req, status, http_status_code(status), message);
    c->in_dispatch = false;
    request_free(req);
    c->req = NULL;
    c->phase = PH_IDLE; /* nothing more is parsed; the timer bounds the last write */
    arm_timer(c);
    update_reading(c);
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t) {
    struct conn *c = t->data;
    switch (c->phase) {
    case PH_HEADERS:
    case PH_BODY:
        log_write(LOG_INFO, "http", c->req ? c->req->id : 0, "request not received in time");
        reject(c, 408, "Request not received in time");
        break;
    case PH_IDLE:
    case PH_LINGER:
        conn_close(c);
        break;
    case PH_STREAM:
        c->stream_ops->on_tick(c->stream_ud);
        break;
    default:
        break;
    }
}

static void arm_timer(struct conn *c) {
    uint64_t ms;
    switch (c->phase) {
    case PH_IDLE:
        ms = srv.cfg.keepalive_timeout_ms;
        break;
    case PH_HEADERS:
        ms = srv.cfg.header_timeout_ms;
        break;
    case PH_BODY:
        ms = srv.cfg.keepalive_timeout_ms;
        break;
    case PH_LINGER:
        ms = LINGER_MS;
        break;
    case PH_STREAM:
        uv_timer_start(&c->timer, on_timer, c->stream_interval, c->stream_interval);
        return;
    default:
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    /* One buffer for every connection: libuv calls on_read right after this,
     * and the data is parsed (or copied aside) before on_read returns. */
    *b = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    struct conn *c = s->data;
    if (nread < 0) {
        if (nread == UV_EOF && c->phase != PH_LINGER && c->phase != PH_STREAM && !c->closing &&
            (c->phase == PH_HANDLING || c->out.len || c->writing.len)) {
            /* The client half-closed after its requests: answer every complete
             * one (those held in c->pending too, see finish_request), then
             * close. */
            c->peer_eof = true;
            if (c->phase != PH_HANDLING && !c->close_after_write)
                end_of_input(c);
            update_reading(c);
            return;
        }
        /* EOF or error.  A request still waiting on Redis finishes on its
         * own and its response is dropped. */
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    if (c->phase == PH_LINGER || c->phase == PH_STREAM)
        return; /* drained and dropped */
    if (c->phase == PH_HANDLING && c->req) {
        /* A request is waiting on Redis: keep what follows for later.
         * Reading on (rather than stopping and restarting it around every
         * such request) saves two epoll_ctl calls per request. */
        buf_append(&c->pending, b->base, (size_t)nread);
        update_reading(c);
        return;
    }
    feed(c, b->base, (size_t)nread);
}

/* Reading runs unless a request is being handled, output is backed up, or
 * the connection is on its way out. */
static void update_reading(struct conn *c) {
    if (c->closing)
        return;
    size_t unsent = c->out.len + c->writing.len;
    bool want;
    if (c->phase == PH_LINGER || c->phase == PH_STREAM)
        want = true;
    else if (c->close_after_write || c->peer_eof || c->pending.len >= PENDING_MAX)
        want = false;
    else if (c->reading)
        want = unsent < OUT_HIGH_WATER;
    else
        want = unsent < OUT_LOW_WATER;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void dispatch(struct conn *c) {
    http_request *req = c->req;
    c->nrequests++;
    c->phase = PH_HANDLING;
    uv_timer_stop(&c->timer);
    c->in_dispatch = true;
    if (req->match.route) {
        router_run(req);
    } else if (req->match.allow) {
        char allow[128];
        router_allow_header(req->match.allow, allow, sizeof allow);
        buf hdr;
        buf_init(&hdr, &req->arena);
        buf_appends(&hdr, "Allow: ");
        buf_appends(&hdr, allow);
        buf_appends(&hdr, "\r\n");
        if (req->method == HTTP_OPTIONS) {
            cors_preflight_headers(req, allow, &hdr);
            buf_append(&hdr, "", 1);
            resp_send(req, 204, "application/json; charset=utf-8", hdr.data, "", 0);
        } else {
            buf_append(&hdr, "", 1);
            buf b;
            buf_init(&b, &req->arena);
            http_error_body(&b, "method-not-allowed", "Method not allowed on this path");
            resp_send(req, 405, "application/json; charset=utf-8", hdr.data, b.data, b.len);
        }
    } else {
        resp_error(req, 404, "not-found", "No such resource");
    }
    c->in_dispatch = false;
}

/* The request that began a stream is finished: from now on the connection
 * only carries the stream.  A client that half-closed gets none, as when it
 * half-closes during one. */
static void start_stream(struct conn *c) {
    if (c->peer_eof) {
        conn_close(c);
        return;
    }
    buf_free(&c->pending); /* nothing more is parsed */
    c->phase = PH_STREAM;
    arm_timer(c);
    update_reading(c);
}

/* Called when the current request's response is queued: frees it and goes on
 * with the next pipelined request, if any; after the client's EOF, closes once
 * no complete request is left. */
static void finish_request(struct conn *c) {
    request_free(c->req);
    c->req = NULL;
    c->completed = false;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    if (c->stream_ops) {
        start_stream(c);
        return;
    }
    /* The idle timer also bounds a last response the client never reads. */
    c->phase = PH_IDLE;
    arm_timer(c);
    if (c->close_after_write)
        return;
    if (c->pending.len) {
        buf data = c->pending;
        buf_init(&c->pending, NULL);
        feed(c, data.data, data.len);
        buf_free(&data);
    }
    if (c->peer_eof && !c->closing && !c->close_after_write && c->phase != PH_HANDLING)
        end_of_input(c);
    update_reading(c);
}

/* Parses data[0..n) and handles every complete request in it, in order. */
static void feed(struct conn *c, const char *data, size_t n) {
    while (n && !c->closing && !c->close_after_write) {
        if (!c->req) {
            c->req = request_new(c);
            c->parser.req = c->req;
            c->phase = PH_HEADERS;
            arm_timer(c);
        }
        llhttp_errno_t err = llhttp_execute(&c->parser.llhttp, data, n);
        if (err == HPE_OK) {
            if (c->parser.headers_done && c->phase == PH_HEADERS) {
                c->phase = PH_BODY;
                arm_timer(c);
                if (c->req->expect_continue) {
                    /* The client waits for this before sending its body
                     * (limits were checked on Content-Length already). */
                    c->req->expect_continue = false;
                    buf_appends(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                    turn_add(c);
                }
            } else if (c->phase == PH_BODY) {
                arm_timer(c); /* the body is still moving */
            }
            return;
        }
        if (err != HPE_PAUSED) {
            const char *msg;
            int status = http_parse_error(&c->parser, err, &msg);
            log_write(LOG_DEBUG, "http", c->req->id, "refused: %d %s", status, msg);
            reject(c, status, msg);
            return;
        }
        const char *end = llhttp_get_error_pos(&c->parser.llhttp);
        size_t used = (size_t)(end - data);
        data += used;
        n -= used;
        llhttp_resume(&c->parser.llhttp);
        dispatch(c);
        if (!c->req->responded) {
            /* Waiting on Redis: keep the rest for later. */
            buf_append(&c->pending, data, n);
            update_reading(c);
            return;
        }
        request_free(c->req);
        c->req = NULL;
        c->phase = PH_IDLE;
        if (c->stream_ops) {
            start_stream(c);
            return;
        }
    }
    if (!c->req && !c->closing) {
        c->phase = PH_IDLE;
        arm_timer(c);
    }
    update_reading(c);
}

/* ---- the loop turn ---- */

/* Runs once per loop iteration after I/O: finishes requests that completed
 * asynchronously and sends everything queued during the turn. */
static void on_turn_end(uv_check_t *h) {
    while (turn_list) {
        struct conn *c = turn_list;
        turn_list = c->flush_next;
        c->in_turn_list = false;
        if (c->closing) {
            if (c->completed)
                finish_request(c); /* may free c */
            continue;
        }
        if (c->completed)
            finish_request(c);
        flush(c);
    }
}

void conn_module_init(uv_loop_t *loop) {
    uv_check_init(loop, &turn_check);
    uv_check_start(&turn_check, on_turn_end);
    uv_unref((uv_handle_t *)&turn_check);
}

void conn_module_close(void) {
    uv_check_stop(&turn_check);
    uv_close((uv_handle_t *)&turn_check, NULL);
}

void conn_accept(uv_stream_t *server) {
    struct conn *c = xcalloc(1, sizeof *c);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    c->handles_open = 2;
    uv_timer_init(server->loop, &c->timer);
    c->timer.data = c;
    c->next = srv.conns;
    if (srv.conns)
        srv.conns->prev = c;
    srv.conns = c;
    srv.conns_open++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 || srv.conns_open > srv.cfg.max_connections ||
        srv.draining) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int plen = sizeof c->peer;
    if (uv_tcp_getpeername(&c->tcp, &c->peer.sa, &plen) < 0)
        c->peer.sa.sa_family = AF_UNSPEC;
    buf_init(&c->out, NULL);
    buf_init(&c->writing, NULL);
    http_parser_init(&c->parser, &srv.limits, c);
    c->phase = PH_IDLE;
    arm_timer(c);
    update_reading(c);
}

void conn_drain_all(void) {
    struct conn *c = srv.conns, *next;
    for (; c; c = next) {
        next = c->next;
        /* A stream never finishes: its client reconnects elsewhere. */
        if (c->phase == PH_STREAM || (!c->req && !c->out.len && !c->writing.len))
            conn_close(c);
    }
}

void conn_close_all(void) {
    while (srv.conns)
        conn_close(srv.conns);
}

int conn_peer_ip(const http_request *req, char *out, size_t outlen) {
    const struct conn *c = req->conn;
    if (c->peer.sa.sa_family == AF_INET)
        return uv_ip4_name(&c->peer.in4, out, outlen);
    if (c->peer.sa.sa_family == AF_INET6)
        return uv_ip6_name(&c->peer.in6, out, outlen);
    return -1;
}
