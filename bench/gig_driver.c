/* The request loop of bench/gig_lifecycle.py, in C: the same requests, checks
 * and recovery as its Python loop at a fraction of the CPU, so that the
 * generator takes less of the machine it measures.
 *
 *   gig_driver --port PORT --pairs FILE [--location-every S] [--verbose]
 *
 * FILE has one pair a line, written by bench/gig_lifecycle.py:
 *   INDEX CUSTOMER_ID CUSTOMER_TOKEN OPERATOR_ID OPERATOR_TOKEN LATITUDE LONGITUDE
 * (the coordinates as JSON numbers, copied into the request bodies as they are).
 *
 * One libuv loop; each pair has a keep-alive connection for its customer and
 * one for its operator, and is a state machine that sends its next request when
 * the answers it waits for have arrived (at most one request in flight per
 * connection). Once every connection is open it prints "ready" and reads one
 * line from stdin: START WARM END GRACE_END, CLOCK_MONOTONIC nanoseconds (the
 * clock of Python's time.monotonic_ns). Pairs start at START; answers between
 * WARM and END are measured; no gig starts after END; pairs still busy at
 * GRACE_END are counted as stalled. Then one JSON object goes to stdout:
 *
 *   {"complete":N,"failed":N,"recoveries":N,"dead":N,"other":N,"stalled":N,
 *    "cpu_s":S,"errors":{"STEP:STATUS":N,...},
 *    "lat":{"STEP":{"max":NS,"hist":[[NS,N],...]},...}}
 *
 * The latency histogram has 256 buckets per power of two of nanoseconds (a
 * bucket is at most 0.4% wide); each is reported by its midpoint, and "max"
 * is exact. cpu_s is this process's CPU time (user + system) between WARM and
 * END. Exits 1, with a message on stderr, when a connection cannot be opened
 * or an answer cannot be read (as the Python loop's process fails then).
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <llhttp.h>
#include <uv.h>
#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

/* Request kinds: the lifecycle's steps (latency measured), then the requests
 * outside it (counted in "other"; errors under these names). */
enum kind {
    K_CREATE,
    K_CLAIM,
    K_CONFIRM,
    K_HANDSHAKE_C,
    K_HANDSHAKE_O,
    K_START,
    K_STOP,
    K_RATE_C,
    K_RATE_O,
    NSTEPS,
    K_RECOVER = NSTEPS,
    K_LOCATION,
    NKINDS
};
static const char *const kind_names[NKINDS] = {"create",      "claim",   "confirm", "handshake_c",
                                               "handshake_o", "start",   "stop",    "rate_c",
                                               "rate_o",      "recover", "location"};

#define OPEN_STATUSES "requested,claimed,confirmed,handshaked,started,stopped"
#define MAX_STATUS 1000
#define CUST 0
#define OPER 1

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("gig_driver: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p)
        die("out of memory");
    return p;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double own_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* --- latency histogram --------------------------------------------------- */

#define HIST_SUB 256 /* buckets per power of two */
#define HIST_N (HIST_SUB * 57)

struct hist {
    uint32_t *n;
    uint64_t max;
};

static size_t hist_index(uint64_t v) {
    if (v < HIST_SUB)
        return (size_t)v;
    int shift = 63 - __builtin_clzll(v) - 8; /* v >> shift is in [256, 512) */
    return HIST_SUB + (size_t)shift * HIST_SUB + (size_t)((v >> shift) - HIST_SUB);
}

static uint64_t hist_mid(size_t i) {
    if (i < HIST_SUB)
        return i;
    size_t shift = (i - HIST_SUB) / HIST_SUB;
    uint64_t m = HIST_SUB + (i - HIST_SUB) % HIST_SUB;
    return (m << shift) + ((UINT64_C(1) << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t v) {
    if (!h->n) {
        h->n = calloc(HIST_N, sizeof *h->n);
        if (!h->n)
            die("out of memory");
    }
    h->n[hist_index(v)]++;
    if (v > h->max)
        h->max = v;
}

/* --- state ------------------------------------------------------------------ */

struct sbuf {
    char *data;
    size_t len, cap;
};

static void sbuf_append(struct sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data)
            die("out of memory");
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sbuf_clear(struct sbuf *b) {
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

struct pair;

/* One keep-alive connection; freed when its handle has closed. */
struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    llhttp_t http;
    struct pair *pair;
    int who;          /* CUST or OPER */
    bool connected;   /* the TCP connection is up */
    bool busy;        /* a request is in flight */
    bool closing;     /* to be reopened before the next request */
    bool closed;      /* uv_close called */
    bool answered;    /* llhttp paused on a complete response: */
    bool keep_alive;  /* its Connection */
    int status;       /* and status */
    uint64_t t0;      /* when the request in flight was written */
    struct sbuf wait; /* a request written once connected */
};

/* An open gig as the server reported it during a recovery, seen from the pair. */
struct rgig {
    char id[64];
    char status[16];
    bool cust, op;         /* the pair's customer, operator */
    bool offered;          /* offered to the pair's operator */
    bool rated_c, rated_o; /* ratings.customer / .operator not null */
};

enum phase {
    PH_IDLE,
    PH_LOCATION,
    PH_CREATE,
    PH_CLAIM,
    PH_CONFIRM,
    PH_HANDSHAKE,
    PH_START,
    PH_STOP,
    PH_RATE,
    PH_REC_LIST,
    PH_REC_STEP,
    PH_REC_GET,
    PH_SLEEP,
    PH_DONE
};

struct pair {
    int index;
    char *id[2], *tok[2];
    char *create_body, *location_body;
    struct conn *conn[2]; /* NULL once closed: the next request opens one */
    struct sbuf body[2];  /* the last answer's body, per party */
    int status[2];        /* the last answer's status (0: connection lost) */
    uint64_t lat[2];
    int outstanding; /* answers awaited */
    enum phase phase;
    char gid[64];
    int failures; /* failed gigs in a row */
    uint64_t located;
    uv_timer_t sleep;
    /* recovery */
    int rec_round, rec_who;
    struct rgig *gigs;
    size_t ngigs, capgigs, gi;
    int iter, nsteps, stepi;
    struct {
        int who;
        const char *action; /* "claim", "reject", "cancel", "stop", "rate" */
    } steps[2];
};

static uv_loop_t *loop;
static struct sockaddr_in addr;
static struct pair *pairs;
static size_t npairs, ndone, nconnected;
static uint64_t warm_ns, end_ns, loc_every_ns = 240000000000u;
static bool verbose, cpu_end_taken;
static double cpu_t0, cpu_t1;
static uint64_t rng_state = 7;
static char readbuf[65536];

static struct {
    struct hist lat[NSTEPS];
    uint64_t errors[NKINDS][MAX_STATUS];
    uint64_t logged[NKINDS][MAX_STATUS];
    uint64_t complete, failed, recoveries, dead, other;
} st;

static int rating(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return 1 + (int)(rng_state % 5);
}

static bool in_window(void) {
    uint64_t now = now_ns();
    return warm_ns <= now && now <= end_ns;
}

static void pair_answered(struct pair *p);
static void pair_top(struct pair *p);

/* --- connections ------------------------------------------------------------ */

static void on_close(uv_handle_t *h) {
    struct conn *c = h->data;
    if (c->pair->conn[c->who] == c)
        c->pair->conn[c->who] = NULL; /* the next request opens another */
    free(c->wait.data);
    free(c);
}

static void conn_close(struct conn *c) {
    c->closing = true;
    if (!c->closed) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

/* Hands the answer (or its absence: status 0) to the pair. */
static void deliver(struct conn *c, int status) {
    struct pair *p = c->pair;
    c->busy = false;
    p->status[c->who] = status;
    p->lat[c->who] = now_ns() - c->t0;
    if (--p->outstanding == 0)
        pair_answered(p);
}

/* The connection ended (by the server, or an answer that cannot be read):
 * the request in flight gets status 0, the next one a new connection. */
static void conn_lost(struct conn *c) {
    bool busy = c->busy;
    conn_close(c);
    if (busy) {
        sbuf_clear(&c->pair->body[c->who]); /* no answer, not a part of one */
        deliver(c, 0);
    }
}

static int on_message_begin(llhttp_t *h) {
    struct conn *c = h->data;
    sbuf_clear(&c->pair->body[c->who]);
    return 0;
}

static int on_body(llhttp_t *h, const char *at, size_t len) {
    struct conn *c = h->data;
    sbuf_append(&c->pair->body[c->who], at, len);
    return 0;
}

static int on_message_complete(llhttp_t *h) {
    struct conn *c = h->data;
    c->answered = true;
    c->keep_alive = llhttp_should_keep_alive(h);
    c->status = llhttp_get_status_code(h);
    return HPE_PAUSED;
}

static llhttp_settings_t http_settings;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    *b = uv_buf_init(readbuf, sizeof readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    struct conn *c = s->data;
    if (nread < 0) {
        conn_lost(c);
        return;
    }
    const char *data = b->base;
    size_t left = (size_t)nread;
    while (left && !c->closed) {
        llhttp_errno_t err = llhttp_execute(&c->http, data, left);
        if (err == HPE_OK)
            return;
        if (err != HPE_PAUSED || !c->answered || !c->busy) {
            /* Unreadable, or an answer nobody asked for. */
            if (verbose)
                fprintf(stderr, "gig_driver: pair %d: unreadable answer (%s)\n", c->pair->index,
                        err == HPE_PAUSED ? "not asked for" : llhttp_errno_name(err));
            conn_lost(c);
            return;
        }
        const char *end = llhttp_get_error_pos(&c->http);
        left -= (size_t)(end - data);
        data = end;
        llhttp_resume(&c->http);
        c->answered = false;
        if (!c->keep_alive)
            c->closing = true; /* the pair reopens it for its next request */
        deliver(c, c->status);
    }
    if (c->closing && !c->closed)
        conn_close(c);
}

static void on_write(uv_write_t *w, int status) {
    struct conn *c = w->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closed)
        conn_lost(c);
}

/* Writes at once when the socket takes it all (uv_try_write: no write
 * request, and none of the epoll_ctl calls uv_write costs); the rest, or the
 * whole on an error, through uv_write, whose callback reports the error. */
static void conn_write(struct conn *c, const char *data, size_t len) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    c->t0 = now_ns();
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n >= 0 && (size_t)n == len)
        return;
    if (n < 0)
        n = 0;
    uv_write_t *w = xmalloc(sizeof *w + len - (size_t)n);
    char *copy = (char *)(w + 1);
    memcpy(copy, data + n, len - (size_t)n);
    w->data = c;
    b = uv_buf_init(copy, (unsigned)(len - (size_t)n));
    int rc = uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0)
        die("write failed: %s", uv_strerror(rc));
}

static void on_connect(uv_connect_t *req, int status) {
    struct conn *c = req->data;
    if (status < 0)
        die("cannot connect to 127.0.0.1:%d: %s", ntohs(addr.sin_port), uv_strerror(status));
    c->connected = true;
    nconnected++;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0)
        die("cannot read: %s", uv_strerror(rc));
    if (c->wait.len) {
        conn_write(c, c->wait.data, c->wait.len);
        c->wait.len = 0;
    }
}

static struct conn *conn_open(struct pair *p, int who) {
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        die("out of memory");
    c->pair = p;
    c->who = who;
    c->tcp.data = c;
    c->connect.data = c;
    llhttp_init(&c->http, HTTP_RESPONSE, &http_settings);
    c->http.data = c;
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        rc = uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connect);
    }
    if (rc < 0)
        die("cannot connect to 127.0.0.1:%d: %s", ntohs(addr.sin_port), uv_strerror(rc));
    return c;
}

/* --- requests ---------------------------------------------------------------- */

/* Sends METHOD PATH as party WHO, with a JSON body or none, as
 * bench/gig_setup.py's request() writes it; on a new connection if the
 * server ended the last one. */
static void pair_send(struct pair *p, int who, const char *method, const char *path,
                      const char *body) {
    static char req[8192];
    int n;
    if (body)
        n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, p->tok[who], strlen(body), body);
    else
        n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n%s\r\n",
                     method, path, p->tok[who],
                     strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof req)
        die("request too long");
    struct conn *c = p->conn[who];
    if (!c || c->closing) {
        if (c)
            conn_close(c);
        c = p->conn[who] = conn_open(p, who);
    }
    c->busy = true;
    p->outstanding++;
    if (c->connected)
        conn_write(c, req, (size_t)n);
    else
        sbuf_append(&c->wait, req, (size_t)n);
}

/* POST /gigs/ACTION/GID (the rating's body for "rate"). */
static void send_action(struct pair *p, int who, const char *action, int stars) {
    char path[128], body[32];
    snprintf(path, sizeof path, "/gigs/%s/%s", action, p->gid);
    const char *b = NULL;
    if (strcmp(action, "claim") == 0) {
        b = "{\"response\": \"accept\"}"; /* json.dumps({"response": "accept"}) */
    } else if (strcmp(action, "rate") == 0) {
        snprintf(body, sizeof body, "{\"rating\":%d}", stars);
        b = body;
    }
    pair_send(p, who, "POST", path, b);
}

static void count_error(struct pair *p, int who, int kind, int status) {
    int s = status < 0 || status >= MAX_STATUS ? MAX_STATUS - 1 : status;
    if (in_window())
        st.errors[kind][s]++;
    if (verbose && ++st.logged[kind][s] <= 3)
        fprintf(stderr, "gig_driver: %s answered %d: %.300s\n", kind_names[kind], status,
                p->body[who].len ? p->body[who].data : "");
}

/* A lifecycle step's answer: latency recorded; true when it is `ok`. */
static bool check(struct pair *p, int who, int kind, int ok) {
    if (in_window())
        hist_add(&st.lat[kind], p->lat[who]);
    if (p->status[who] != ok) {
        count_error(p, who, kind, p->status[who]);
        return false;
    }
    return true;
}

/* A request outside the lifecycle: counted; its error under `kind`. */
static int aux(struct pair *p, int who, int kind) {
    st.other++;
    if (p->status[who] != 200)
        count_error(p, who, kind, p->status[who]);
    return p->status[who];
}

/* --- JSON (recovery only) ------------------------------------------------------- */

struct json {
    const char *s;
    jsmntok_t *t;
    int n;
};

static bool json_parse(struct json *j, const char *s, size_t len) {
    jsmn_parser parser;
    jsmn_init(&parser);
    int n = jsmn_parse(&parser, s, len, NULL, 0);
    if (n <= 0)
        return false;
    j->s = s;
    j->t = xmalloc((size_t)n * sizeof *j->t);
    jsmn_init(&parser);
    j->n = jsmn_parse(&parser, s, len, j->t, (unsigned)n);
    return j->n > 0;
}

/* The token after token i and everything inside it. */
static int json_skip(const struct json *j, int i) {
    int end = j->t[i].end;
    for (i++; i < j->n && j->t[i].start < end; i++)
        ;
    return i;
}

static bool json_eq(const struct json *j, int i, const char *s) {
    size_t len = strlen(s);
    return i >= 0 && j->t[i].type == JSMN_STRING && (size_t)(j->t[i].end - j->t[i].start) == len &&
           memcmp(j->s + j->t[i].start, s, len) == 0;
}

/* The value of obj's member key; -1 when obj is no object or has none. */
static int json_get(const struct json *j, int obj, const char *key) {
    if (obj < 0 || j->t[obj].type != JSMN_OBJECT)
        return -1;
    int i = obj + 1;
    for (int k = 0; k < j->t[obj].size; k++) {
        if (json_eq(j, i, key))
            return i + 1;
        i = json_skip(j, i + 1);
    }
    return -1;
}

static bool json_null(const struct json *j, int i) {
    return i < 0 || (j->t[i].type == JSMN_PRIMITIVE && j->s[j->t[i].start] == 'n');
}

static void json_copy(const struct json *j, int i, char *out, size_t size, const char *what) {
    if (i < 0 || j->t[i].type != JSMN_STRING || (size_t)(j->t[i].end - j->t[i].start) >= size)
        die("a gig without a usable %s", what);
    memcpy(out, j->s + j->t[i].start, (size_t)(j->t[i].end - j->t[i].start));
    out[j->t[i].end - j->t[i].start] = '\0';
}

static void gig_read(const struct pair *p, const struct json *j, int obj, struct rgig *g) {
    json_copy(j, json_get(j, obj, "id"), g->id, sizeof g->id, "id");
    json_copy(j, json_get(j, obj, "status"), g->status, sizeof g->status, "status");
    g->cust = json_eq(j, json_get(j, obj, "customer"), p->id[CUST]);
    g->op = json_eq(j, json_get(j, obj, "operator"), p->id[OPER]);
    g->offered = false;
    int arr = json_get(j, obj, "offeredTo");
    if (arr >= 0 && j->t[arr].type == JSMN_ARRAY) {
        int i = arr + 1;
        for (int k = 0; k < j->t[arr].size; k++, i = json_skip(j, i))
            g->offered |= json_eq(j, i, p->id[OPER]);
    }
    int r = json_get(j, obj, "ratings");
    g->rated_c = !json_null(j, json_get(j, r, "customer"));
    g->rated_o = !json_null(j, json_get(j, r, "operator"));
}

/* --- the pair's loop ------------------------------------------------------------ */

static void finish_maybe(void) {
    if (ndone == npairs && cpu_end_taken)
        uv_stop(loop);
}

static void pair_done(struct pair *p) {
    p->phase = PH_DONE;
    ndone++;
    finish_maybe();
}

static void start_create(struct pair *p) {
    p->phase = PH_CREATE;
    pair_send(p, CUST, "POST", "/gigs", p->create_body);
}

/* The top of the Python loop: another gig while the window lasts. */
static void pair_top(struct pair *p) {
    uint64_t now = now_ns();
    if (now >= end_ns) {
        pair_done(p);
        return;
    }
    if (now - p->located > loc_every_ns) {
        p->located = now;
        p->phase = PH_LOCATION;
        pair_send(p, OPER, "POST", "/accounts/location", p->location_body);
        return;
    }
    start_create(p);
}

static void on_sleep(uv_timer_t *t) {
    pair_top(t->data);
}

static void rec_list(struct pair *p);

/* The happy path failed: recover (drive the pair's open gigs to their end). */
static void gig_failed(struct pair *p) {
    if (in_window())
        st.failed++;
    p->failures++;
    st.recoveries++;
    p->rec_round = 0;
    rec_list(p);
}

static void recovered(struct pair *p, bool ok) {
    if (ok && p->failures < 5) {
        pair_top(p);
    } else if (p->failures >= 5) {
        st.dead++;
        fprintf(stderr, "gig_driver: pair %d: %d failed gigs in a row; it stops\n", p->index,
                p->failures);
        pair_done(p);
    } else {
        p->phase = PH_SLEEP;
        uv_timer_start(&p->sleep, on_sleep, 100, 0);
    }
}

/* GET /gigs?status=<open> as the customer, then as the operator. */
static void rec_list(struct pair *p) {
    p->phase = PH_REC_LIST;
    p->ngigs = 0;
    p->rec_who = CUST;
    pair_send(p, CUST, "GET", "/gigs?status=" OPEN_STATUSES, NULL);
}

static void rec_add(struct pair *p, const struct rgig *g) {
    for (size_t i = 0; i < p->ngigs; i++)
        if (strcmp(p->gigs[i].id, g->id) == 0) {
            p->gigs[i] = *g;
            return;
        }
    if (p->ngigs == p->capgigs) {
        p->capgigs = p->capgigs ? 2 * p->capgigs : 16;
        p->gigs = realloc(p->gigs, p->capgigs * sizeof *p->gigs);
        if (!p->gigs)
            die("out of memory");
    }
    p->gigs[p->ngigs++] = *g;
}

static void drive(struct pair *p);

static void next_gig(struct pair *p) {
    if (++p->gi < p->ngigs) {
        p->iter = 0;
        drive(p);
    } else if (++p->rec_round < 3) {
        rec_list(p);
    } else {
        recovered(p, false);
    }
}

/* One round of driving gig gi from the state the server last reported. */
static void drive(struct pair *p) {
    const struct rgig *g = &p->gigs[p->gi];
    int who = g->cust ? CUST : OPER;
    p->nsteps = 0;
    if (p->iter >= 12)
        goto done;
    if (strcmp(g->status, "requested") == 0) {
        if (!g->offered)
            goto done; /* someone else's operator or none: let it expire */
        p->steps[p->nsteps].who = OPER;
        p->steps[p->nsteps++].action = "claim";
    } else if (strcmp(g->status, "claimed") == 0) {
        if (!g->cust)
            goto done;
        p->steps[p->nsteps].who = CUST;
        p->steps[p->nsteps++].action = "reject";
    } else if (strcmp(g->status, "confirmed") == 0 || strcmp(g->status, "handshaked") == 0) {
        p->steps[p->nsteps].who = who;
        p->steps[p->nsteps++].action = "cancel";
    } else if (strcmp(g->status, "started") == 0) {
        p->steps[p->nsteps].who = who;
        p->steps[p->nsteps++].action = "stop";
    } else if (strcmp(g->status, "stopped") == 0) {
        if (g->cust && !g->rated_c) {
            p->steps[p->nsteps].who = CUST;
            p->steps[p->nsteps++].action = "rate";
        }
        if (g->op && !g->rated_o) {
            p->steps[p->nsteps].who = OPER;
            p->steps[p->nsteps++].action = "rate";
        }
        if (!p->nsteps)
            goto done;
    } else {
        goto done; /* rated, cancelled, rejected, expired, unclaimed: done */
    }
    p->phase = PH_REC_STEP;
    p->stepi = 0;
    snprintf(p->gid, sizeof p->gid, "%s", g->id);
    send_action(p, p->steps[0].who, p->steps[0].action, 5);
    return;
done:
    next_gig(p);
}

static void rec_answered(struct pair *p) {
    int who = p->phase == PH_REC_LIST   ? p->rec_who
              : p->phase == PH_REC_STEP ? p->steps[p->stepi].who
                                        : (p->gigs[p->gi].cust ? CUST : OPER);
    int status = aux(p, who, K_RECOVER);
    struct json j = {0};
    switch (p->phase) {
    case PH_REC_LIST:
        if (status == 200) {
            if (!json_parse(&j, p->body[who].data, p->body[who].len))
                die("GET /gigs answered 200 with no JSON");
            int arr = json_get(&j, 0, "gigs");
            if (arr >= 0 && j.t[arr].type == JSMN_ARRAY) {
                int i = arr + 1;
                for (int k = 0; k < j.t[arr].size; k++, i = json_skip(&j, i)) {
                    struct rgig g;
                    gig_read(p, &j, i, &g);
                    rec_add(p, &g);
                }
            }
        }
        if (p->rec_who == CUST) {
            p->rec_who = OPER;
            pair_send(p, OPER, "GET", "/gigs?status=" OPEN_STATUSES, NULL);
        } else if (!p->ngigs) {
            recovered(p, true);
        } else {
            p->gi = 0;
            p->iter = 0;
            drive(p);
        }
        break;
    case PH_REC_STEP:
        if (++p->stepi < p->nsteps) {
            send_action(p, p->steps[p->stepi].who, p->steps[p->stepi].action, 5);
        } else {
            char path[128];
            snprintf(path, sizeof path, "/gigs/%s", p->gid);
            p->phase = PH_REC_GET;
            pair_send(p, p->gigs[p->gi].cust ? CUST : OPER, "GET", path, NULL);
        }
        break;
    case PH_REC_GET:
        if (status != 200) {
            next_gig(p);
            break;
        }
        if (!json_parse(&j, p->body[who].data, p->body[who].len))
            die("GET /gigs/:id answered 200 with no JSON");
        int g = json_get(&j, 0, "gig");
        if (g < 0)
            die("GET /gigs/:id answered 200 with no gig");
        gig_read(p, &j, g, &p->gigs[p->gi]);
        p->iter++;
        drive(p);
        break;
    default:
        break;
    }
    free(j.t);
}

/* The gig id of POST /gigs's answer, {"gig":{"id":"<uuid>",...}: the first
 * "id":"..." after "gig":{ (the server writes the id first), without parsing
 * the whole body. */
static bool created_id(struct pair *p) {
    const char *body = p->body[CUST].data;
    const char *g = body ? strstr(body, "\"gig\":{") : NULL;
    const char *i = g ? strstr(g, "\"id\":\"") : NULL;
    const char *e = i ? strchr(i + 6, '"') : NULL;
    if (!e || (size_t)(e - i - 6) >= sizeof p->gid || e == i + 6)
        return false;
    memcpy(p->gid, i + 6, (size_t)(e - i - 6));
    p->gid[e - i - 6] = '\0';
    return true;
}

/* Every answer the pair waited for has arrived. */
static void pair_answered(struct pair *p) {
    bool ok;
    switch (p->phase) {
    case PH_LOCATION:
        aux(p, OPER, K_LOCATION);
        start_create(p);
        return;
    case PH_CREATE:
        if (!check(p, CUST, K_CREATE, 201))
            break;
        if (!created_id(p))
            die("POST /gigs answered 201 without a gig id: %.300s",
                p->body[CUST].len ? p->body[CUST].data : "");
        p->phase = PH_CLAIM;
        send_action(p, OPER, "claim", 0);
        return;
    case PH_CLAIM:
        if (!check(p, OPER, K_CLAIM, 200))
            break;
        p->phase = PH_CONFIRM;
        send_action(p, CUST, "confirm", 0);
        return;
    case PH_CONFIRM:
        if (!check(p, CUST, K_CONFIRM, 200))
            break;
        p->phase = PH_HANDSHAKE;
        send_action(p, CUST, "handshake", 0);
        send_action(p, OPER, "handshake", 0);
        return;
    case PH_HANDSHAKE:
        ok = check(p, CUST, K_HANDSHAKE_C, 200);
        if (!(check(p, OPER, K_HANDSHAKE_O, 200) && ok))
            break;
        p->phase = PH_START;
        send_action(p, CUST, "start", 0);
        return;
    case PH_START:
        if (!check(p, CUST, K_START, 200))
            break;
        p->phase = PH_STOP;
        send_action(p, OPER, "stop", 0);
        return;
    case PH_STOP:
        if (!check(p, OPER, K_STOP, 200))
            break;
        p->phase = PH_RATE;
        send_action(p, CUST, "rate", rating());
        send_action(p, OPER, "rate", rating());
        return;
    case PH_RATE:
        ok = check(p, CUST, K_RATE_C, 200);
        if (!(check(p, OPER, K_RATE_O, 200) && ok))
            break;
        if (in_window())
            st.complete++;
        p->failures = 0;
        pair_top(p);
        return;
    case PH_REC_LIST:
    case PH_REC_STEP:
    case PH_REC_GET:
        rec_answered(p);
        return;
    default:
        die("pair %d: an answer in phase %d", p->index, (int)p->phase);
    }
    gig_failed(p);
}

/* --- the run ---------------------------------------------------------------------- */

static char *field(char **s) {
    char *t = strsep(s, " \t\n");
    if (!t || !*t)
        die("a line of the pairs file has too few fields");
    return strdup(t);
}

static void read_pairs(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, size = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '\n')
            continue;
        if (npairs == size) {
            size = size ? 2 * size : 64;
            pairs = realloc(pairs, size * sizeof *pairs);
            if (!pairs)
                die("out of memory");
        }
        struct pair *p = &pairs[npairs++];
        memset(p, 0, sizeof *p);
        char *s = line;
        char *index = field(&s);
        p->index = atoi(index);
        free(index);
        p->id[CUST] = field(&s);
        p->tok[CUST] = field(&s);
        p->id[OPER] = field(&s);
        p->tok[OPER] = field(&s);
        char *lat = field(&s), *lon = field(&s);
        size_t n = strlen(lat) + strlen(lon) + 96;
        p->create_body = xmalloc(n);
        snprintf(p->create_body, n,
                 "{\"latitude\":%s,\"longitude\":%s,\"deviceId\":\"bench-device-%d\"}", lat, lon,
                 p->index);
        p->location_body = xmalloc(n);
        snprintf(p->location_body, n, "{\"latitude\":%s,\"longitude\":%s}", lat, lon);
        free(lat);
        free(lon);
    }
    free(line);
    fclose(f);
    if (!npairs)
        die("no pairs in %s", path);
}

static void arm(uv_timer_t *t, uint64_t at_ns, uv_timer_cb cb) {
    uint64_t now = now_ns();
    /* Rounded up, plus 1: the loop's clock counts whole milliseconds. */
    uint64_t ms = at_ns > now ? (at_ns - now + 999999) / 1000000 + 1 : 0;
    uv_update_time(loop);
    uv_timer_init(loop, t);
    uv_timer_start(t, cb, ms, 0);
}

static void on_start(uv_timer_t *t) {
    uint64_t now = now_ns();
    for (size_t i = 0; i < npairs; i++)
        pairs[i].located = now; /* gig_setup.py has just put them online there */
    for (size_t i = 0; i < npairs; i++)
        pair_top(&pairs[i]);
}

static void on_warm(uv_timer_t *t) {
    cpu_t0 = own_cpu_s();
}

static void on_end(uv_timer_t *t) {
    cpu_t1 = own_cpu_s();
    cpu_end_taken = true;
    finish_maybe();
}

static void on_grace(uv_timer_t *t) {
    uv_stop(loop);
}

static void report(double cpu_s) {
    printf("{\"complete\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"recoveries\":%" PRIu64
           ",\"dead\":%" PRIu64 ",\"other\":%" PRIu64 ",\"stalled\":%zu,\"cpu_s\":%.6f",
           st.complete, st.failed, st.recoveries, st.dead, st.other, npairs - ndone, cpu_s);
    printf(",\"errors\":{");
    const char *sep = "";
    for (int k = 0; k < NKINDS; k++)
        for (int s = 0; s < MAX_STATUS; s++)
            if (st.errors[k][s]) {
                printf("%s\"%s:%d\":%" PRIu64, sep, kind_names[k], s, st.errors[k][s]);
                sep = ",";
            }
    printf("},\"lat\":{");
    for (int k = 0; k < NSTEPS; k++) {
        const struct hist *h = &st.lat[k];
        printf("%s\"%s\":{\"max\":%" PRIu64 ",\"hist\":[", k ? "," : "", kind_names[k], h->max);
        sep = "";
        for (size_t i = 0; h->n && i < HIST_N; i++)
            if (h->n[i]) {
                printf("%s[%" PRIu64 ",%" PRIu32 "]", sep, hist_mid(i), h->n[i]);
                sep = ",";
            }
        printf("]}");
    }
    printf("}}\n");
    fflush(stdout);
}

static void usage(void) {
    fprintf(stderr, "usage: gig_driver --port PORT --pairs FILE [--location-every SECONDS] "
                    "[--verbose]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int port = 0;
    const char *pairs_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            pairs_path = argv[++i];
        else if (strcmp(argv[i], "--location-every") == 0 && i + 1 < argc)
            loc_every_ns = (uint64_t)(atof(argv[++i]) * 1e9);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else
            usage();
    }
    if (port <= 0 || port > 65535 || !pairs_path)
        usage();
    read_pairs(pairs_path);
    signal(SIGPIPE, SIG_IGN); /* a reset connection is an error to count, not the end */
    loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", port, &addr);
    llhttp_settings_init(&http_settings);
    http_settings.on_message_begin = on_message_begin;
    http_settings.on_body = on_body;
    http_settings.on_message_complete = on_message_complete;

    for (size_t i = 0; i < npairs; i++) {
        struct pair *p = &pairs[i];
        p->conn[CUST] = conn_open(p, CUST);
        p->conn[OPER] = conn_open(p, OPER);
        uv_timer_init(loop, &p->sleep);
        p->sleep.data = p;
    }
    while (nconnected < 2 * npairs)
        uv_run(loop, UV_RUN_ONCE);
    printf("ready\n");
    fflush(stdout);

    uint64_t start_ns, grace_ns;
    if (scanf("%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &start_ns, &warm_ns, &end_ns,
              &grace_ns) != 4)
        die("no start times on stdin");
    uv_timer_t t_start, t_warm, t_end, t_grace;
    arm(&t_start, start_ns, on_start);
    arm(&t_warm, warm_ns, on_warm);
    arm(&t_end, end_ns, on_end);
    arm(&t_grace, grace_ns, on_grace);
    uv_run(loop, UV_RUN_DEFAULT);
    report(cpu_end_taken ? cpu_t1 - cpu_t0 : 0);
    return 0;
}
