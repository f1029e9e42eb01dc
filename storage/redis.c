#include "storage/redis.h"

#include <hiredis/async.h>
#include <mbedtls/sha1.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

/* hiredis keeps the commands it has not written in one buffer and, when the
 * socket takes only part of a write, moves the rest to the buffer's front.
 * While Redis is the slower side every write is partial, and those moves
 * cost 6% of onair's CPU on 7 KB /stats requests.  So commands are handed to
 * hiredis only while its buffer holds less than this (a unix socket takes
 * about 100 KB per write once Redis has read half of what it holds); the
 * rest wait, formatted and in order, in the client's held queue. */
#define OBUF_WINDOW (64 * 1024)

/* One command in flight.  hiredis holds a pointer to it as privdata and calls
 * back exactly once (with a reply, or NULL when the context goes away); `done`
 * records that the user's callback already ran (deadline passed). */
struct pending {
    struct pending *next, *prev;
    rds_client *client;
    rds_cb cb;
    void *ud;
    uint64_t deadline; /* uv_now() ms */
    bool done;
    bool internal; /* handshake command: its reply drives the state machine */
    bool confirm;  /* (un)subscribe: hiredis does not hold this record; the
                      next subscription confirmation resolves it */
    /* For EVALSHA: the formatted command, kept to retry as EVAL on NOSCRIPT.
     * For the command that follows a script (rds_eval_then): its formatted
     * command, kept to send it again after that retry.  For a held command
     * (OBUF_WINDOW): the command to hand to hiredis. */
    char *formatted;
    size_t formatted_len;
    int script;
    struct pending *then;      /* EVALSHA: the command sent right behind it, or NULL */
    struct pending *held_next; /* the next held command */
};

/* hiredis' event hooks, bound to the loop.  Unlike hiredis' own libuv
 * adapter, the poll handle is restarted only when the wanted events really
 * change, and commands are not sent when the socket polls writable but in
 * one write per loop turn from a prepare hook (just before the loop would
 * block): a write-interest round trip through epoll per command batch cost
 * two epoll_ctl calls, a fifth of the CPU of an authenticated request. */
struct rds_events {
    uv_poll_t poll;
    uv_prepare_t flush;
    redisAsyncContext *ac;
    int want, active; /* UV_READABLE | UV_WRITABLE */
    bool flushing;    /* inside our own redisAsyncHandleWrite */
    int handles_open;
};

struct rds_client {
    uv_loop_t *loop;
    redisAsyncContext *ac;
    enum rds_state state;
    uv_timer_t timer;        /* oldest deadline, connect/handshake deadline, backoff, or drop */
    const char *drop_reason; /* set: the timer drops the connection (drop_soon) */
    unsigned attempt;
    uint64_t reconnects;
    uint64_t held_total; /* commands that were held (OBUF_WINDOW) */
    uint32_t timeout_ms;
    rds_state_cb on_state;
    void *ud;
    rds_message_cb on_message; /* set: a subscriber connection */
    char *keepalive_channel;
    uint32_t keepalive_ms;
    struct pending head;             /* sentinel of the in-flight list, oldest first */
    struct pending *held, *held_end; /* not handed to hiredis yet (OBUF_WINDOW), oldest first */
    unsigned handshake_left;
    bool closing;

    /* Where to connect. */
    char *host; /* numeric address */
    int port;
    char *unix_path;
    char *user, *password;
    int db;
};

static char script_sha[SCRIPT__COUNT][41];
static struct pending *free_pending;

static void arm_timer(rds_client *c);
static void drop_soon(rds_client *c, const char *why);

const char *rds_state_name(enum rds_state s) {
    static const char *const names[] = {"disconnected", "connecting", "ready", "backoff", "closed"};
    return names[s];
}

static void set_state(rds_client *c, enum rds_state s) {
    if (c->state == s)
        return;
    c->state = s;
    if (c->on_state)
        c->on_state(c, s, c->ud);
}

static void compute_shas(void) {
    static bool done;
    if (done)
        return;
    for (int i = 0; i < SCRIPT__COUNT; i++) {
        unsigned char d[20];
        mbedtls_sha1_ret((const unsigned char *)script_sources[i].body, script_sources[i].len, d);
        for (int j = 0; j < 20; j++)
            snprintf(script_sha[i] + 2 * j, 3, "%02x", d[j]);
    }
    done = true;
}

/* Parses redis://[user:pass@]host:port[/db] or unix:///path. */
static int parse_url(rds_client *c, const char *url) {
    if (strncmp(url, "unix://", 7) == 0) {
        c->unix_path = xstrdup(url + 7);
        return c->unix_path[0] == '/' ? 0 : -1;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *p = url + 8, *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p)
                c->user = strndup(p, (size_t)(colon - p));
            c->password = strndup(colon + 1, (size_t)(at - colon - 1));
        } else {
            c->password = strndup(p, (size_t)(at - p));
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *hostend = slash ? slash : p + strlen(p);
    const char *colon = NULL;
    for (const char *q = p; q < hostend; q++)
        if (*q == ':')
            colon = q;
    char host[256];
    size_t hlen = (size_t)((colon ? colon : hostend) - p);
    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    c->port = colon ? atoi(colon + 1) : 6379;
    if (c->port <= 0 || c->port > 65535)
        return -1;
    c->db = slash && slash[1] ? atoi(slash + 1) : 0;
    /* Resolve once, now: the loop must never wait for DNS. */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return -1;
    char num[64];
    int rc = getnameinfo(res->ai_addr, res->ai_addrlen, num, sizeof num, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0)
        return -1;
    c->host = xstrdup(num);
    return 0;
}

/* ---- hiredis event adapter ---- */

static void ev_on_poll(uv_poll_t *h, int status, int events);
static void release_held(rds_client *c);

static void ev_apply(struct rds_events *e) {
    if (e->want == e->active || !e->ac)
        return;
    if (e->want)
        uv_poll_start(&e->poll, e->want, ev_on_poll);
    else
        uv_poll_stop(&e->poll);
    e->active = e->want;
}

static void ev_on_poll(uv_poll_t *h, int status, int events) {
    struct rds_events *e = h->data;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE; /* let hiredis find the error */
    if (e->ac && (events & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(e->ac);
    if (e->ac)
        release_held(e->ac->data);
}

static void ev_on_flush(uv_prepare_t *h) {
    struct rds_events *e = h->data;
    uv_prepare_stop(h);
    if (!e->ac)
        return;
    e->flushing = true;
    redisAsyncHandleWrite(e->ac);
    if (e->ac)
        release_held(e->ac->data);
    e->flushing = false;
}

static void ev_add_read(void *p) {
    struct rds_events *e = p;
    e->want |= UV_READABLE;
    ev_apply(e);
}

static void ev_del_read(void *p) {
    struct rds_events *e = p;
    e->want &= ~UV_READABLE;
    ev_apply(e);
}

static void ev_add_write(void *p) {
    struct rds_events *e = p;
    /* While connecting, writability is how the connect completes; and a
     * write of ours that the socket did not take all of must wait for it.
     * Otherwise, send at the end of the turn. */
    if (e->flushing || !(e->ac->c.flags & REDIS_CONNECTED)) {
        e->want |= UV_WRITABLE;
        ev_apply(e);
    } else {
        uv_prepare_start(&e->flush, ev_on_flush);
    }
}

static void ev_del_write(void *p) {
    struct rds_events *e = p;
    e->want &= ~UV_WRITABLE;
    ev_apply(e);
}

static void ev_closed(uv_handle_t *h) {
    struct rds_events *e = h->data;
    if (--e->handles_open == 0)
        free(e);
}

static void ev_cleanup(void *p) {
    struct rds_events *e = p;
    e->ac = NULL;
    uv_close((uv_handle_t *)&e->poll, ev_closed);
    uv_close((uv_handle_t *)&e->flush, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    struct rds_events *e = xcalloc(1, sizeof *e);
    if (uv_poll_init(loop, &e->poll, ac->c.fd) < 0) {
        free(e);
        return -1;
    }
    uv_prepare_init(loop, &e->flush);
    e->poll.data = e->flush.data = e;
    e->handles_open = 2;
    e->ac = ac;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ac->ev.data = e;
    return 0;
}

rds_client *rds_new(uv_loop_t *loop, const struct rds_options *opt) {
    compute_shas();
    rds_client *c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->timeout_ms = opt->timeout_ms;
    c->on_state = opt->on_state;
    c->ud = opt->ud;
    if (opt->on_message) {
        c->on_message = opt->on_message;
        c->keepalive_channel = xstrdup(opt->keepalive_channel);
        c->keepalive_ms = opt->keepalive_ms;
    }
    c->head.next = c->head.prev = &c->head;
    if (parse_url(c, opt->url) < 0) {
        log_error("redis", "cannot use Redis URL %s", opt->url);
        free(c->host);
        free(c->unix_path);
        free(c->user);
        free(c->password);
        free(c->keepalive_channel);
        free(c);
        return NULL;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    return c;
}

enum rds_state rds_state(const rds_client *c) {
    return c->state;
}

uint64_t rds_reconnects(const rds_client *c) {
    return c->reconnects;
}

uint64_t rds_held(const rds_client *c) {
    return c->held_total;
}

static struct pending *pending_new(rds_client *c, rds_cb cb, void *ud) {
    struct pending *p = free_pending;
    if (p)
        free_pending = p->next;
    else
        p = xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->client = c;
    p->cb = cb;
    p->ud = ud;
    p->script = -1;
    p->deadline = uv_now(c->loop) + c->timeout_ms;
    /* Append: the list stays in deadline order because every command has the
     * same timeout. */
    p->prev = c->head.prev;
    p->next = &c->head;
    c->head.prev->next = p;
    c->head.prev = p;
    return p;
}

static void pending_free(struct pending *p) {
    p->prev->next = p->next;
    p->next->prev = p->prev;
    free(p->formatted);
    p->next = free_pending;
    free_pending = p;
}

/* Runs the user's callback once. */
static void pending_finish(struct pending *p, redisReply *reply, int err) {
    if (p->done)
        return;
    p->done = true;
    if (p->cb)
        p->cb(reply, err, p->ud);
}

static int send_formatted(rds_client *c, struct pending *p, const char *cmd, size_t len);

/* The script before `then` (rds_eval_then) is being retried as EVAL: `then`
 * already ran before it, so its reply is dropped and it is sent again, after
 * the retry, as the caller was promised. */
static void resend_then(rds_client *c, struct pending *then) {
    if (!then || then->done)
        return;
    struct pending *again = pending_new(c, then->cb, then->ud);
    again->deadline = then->deadline;
    then->done = true; /* `again` owns the user's callback now */
    if (send_formatted(c, again, then->formatted, then->formatted_len) < 0)
        pending_finish(again, NULL, RDS_EDOWN), pending_free(again);
}

/* Makes sure a READY client's timer watches the command just sent. */
static void watch(rds_client *c) {
    /* A subscriber's timer may be waiting for the keepalive: re-arm it for
     * the new deadline (its commands are few). */
    if (c->state == RDS_READY && (c->on_message || !uv_is_active((uv_handle_t *)&c->timer)))
        arm_timer(c);
}

/* hiredis' callback for every command. */
static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
    struct pending *p = privdata;
    rds_client *c = p->client;
    redisReply *reply = r;
    if (!reply) {
        /* The context is going away; nothing more can be sent on it. */
        if (c->state == RDS_READY)
            set_state(c, RDS_DISCONNECTED);
        pending_finish(p, NULL, RDS_EDOWN);
        pending_free(p);
        return;
    }
    if (!p->done && p->script >= 0 && rds_reply_is_error(reply, "NOSCRIPT") && p->formatted) {
        /* Retry once as EVAL: replace "EVALSHA <sha>" in the formatted command. */
        const struct script_source *src = &script_sources[p->script];
        const char *tail = strstr(p->formatted, script_sha[p->script]);
        if (tail) {
            tail += 40 + 2; /* the sha and its CRLF */
            size_t argc_len = (size_t)(strchr(p->formatted, '\n') + 1 - p->formatted);
            char lenbuf[32];
            int ln = snprintf(lenbuf, sizeof lenbuf, "$%zu\r\n", src->len);
            size_t tail_len = p->formatted_len - (size_t)(tail - p->formatted);
            size_t n = argc_len + 10 + (size_t)ln + src->len + 2 + tail_len;
            char *cmd = xmalloc(n);
            size_t o = 0;
            memcpy(cmd + o, p->formatted, argc_len), o += argc_len;
            memcpy(cmd + o, "$4\r\nEVAL\r\n", 10), o += 10;
            memcpy(cmd + o, lenbuf, (size_t)ln), o += (size_t)ln;
            memcpy(cmd + o, src->body, src->len), o += src->len;
            memcpy(cmd + o, "\r\n", 2), o += 2;
            memcpy(cmd + o, tail, tail_len), o += tail_len;
            struct pending *retry = pending_new(c, p->cb, p->ud);
            retry->deadline = p->deadline;
            log_warn("redis", "script %s was not loaded; retrying with EVAL", src->name);
            p->done = true; /* the retry owns the user's callback now */
            if (send_formatted(c, retry, cmd, o) < 0)
                pending_finish(retry, NULL, RDS_EDOWN), pending_free(retry);
            free(cmd);
            resend_then(c, p->then);
            pending_free(p);
            (void)ac;
            return;
        }
    }
    if (p->script >= 0 && reply->type == REDIS_REPLY_ERROR)
        log_error("redis", "script %s failed: %s", script_sources[p->script].name, reply->str);
    pending_finish(p, reply, 0);
    pending_free(p);
}

/* Sends p's command, or holds it while hiredis' buffer is full enough
 * (OBUF_WINDOW) or earlier commands are held. */
static int send_formatted(rds_client *c, struct pending *p, const char *cmd, size_t len) {
    if (!c->ac)
        return -1;
    if (!c->held && sdslen(c->ac->c.obuf) < OBUF_WINDOW) {
        if (redisAsyncFormattedCommand(c->ac, on_reply, p, cmd, len) != REDIS_OK)
            return -1;
    } else {
        if (cmd != p->formatted) {
            p->formatted = xmalloc(len);
            memcpy(p->formatted, cmd, len);
            p->formatted_len = len;
        }
        c->held_total++;
        if (c->held_end)
            c->held_end->held_next = p;
        else
            c->held = p;
        c->held_end = p;
    }
    watch(c);
    return 0;
}

/* Hands held commands to hiredis, oldest first, while its buffer has room. */
static void release_held(rds_client *c) {
    while (c->held && c->ac && sdslen(c->ac->c.obuf) < OBUF_WINDOW) {
        struct pending *p = c->held;
        c->held = p->held_next;
        if (!c->held)
            c->held_end = NULL;
        if (redisAsyncFormattedCommand(c->ac, on_reply, p, p->formatted, p->formatted_len) !=
            REDIS_OK) {
            pending_finish(p, NULL, RDS_EDOWN);
            pending_free(p);
        }
    }
}

/* Fails every command in flight (user callbacks run now, with `err`); the
 * records of those handed to hiredis stay until it lets go of them. */
static void fail_all(rds_client *c, int err) {
    for (struct pending *p = c->head.next; p != &c->head; p = p->next)
        if (!p->done) {
            p->done = true;
            if (p->cb && !p->internal)
                p->cb(NULL, err, p->ud);
        }
    for (struct pending *p = c->held, *next; p; p = next) {
        next = p->held_next;
        pending_free(p);
    }
    c->held = c->held_end = NULL;
    /* Nobody else will release the subscription records. */
    for (struct pending *p = c->head.next, *next; p != &c->head; p = next) {
        next = p->next;
        if (p->confirm)
            pending_free(p);
    }
}

static void start_connect(rds_client *c);

/* The oldest command still waiting for its reply, or NULL. */
static struct pending *oldest_live(rds_client *c) {
    for (struct pending *p = c->head.next; p != &c->head; p = p->next)
        if (!p->done)
            return p;
    return NULL;
}

/* hiredis' callback for everything a subscriber connection receives on its
 * channels: messages, and the confirmations of (un)subscribe commands, which
 * arrive in the order the commands were sent. */
static void on_push(redisAsyncContext *ac, void *r, void *privdata) {
    rds_client *c = privdata;
    redisReply *reply = r;
    if (!reply || c->ac != ac || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return; /* the context is going away, or not a push we know */
    if (strcmp(reply->element[0]->str, "message") == 0) {
        const redisReply *ch = reply->element[1], *msg = reply->element[2];
        if (ch->type == REDIS_REPLY_STRING && msg->type == REDIS_REPLY_STRING)
            c->on_message(ch->str, ch->len, msg->str, msg->len, c->ud);
        return;
    }
    for (struct pending *p = c->head.next; p != &c->head; p = p->next)
        if (p->confirm) {
            pending_finish(p, reply, 0);
            pending_free(p);
            break;
        }
    arm_timer(c);
}

/* Written to hiredis directly, never held: nothing a subscriber connection
 * sends before (AUTH, SELECT, on an empty buffer) can be held either. */
static struct pending *sub_command(rds_client *c, const char *verb, const char *channel, size_t len,
                                   rds_cb cb, void *ud) {
    const char *argv[2] = {verb, channel};
    size_t lens[2] = {strlen(verb), len};
    if (!c->on_message || redisAsyncCommandArgv(c->ac, on_push, c, 2, argv, lens) != REDIS_OK)
        return NULL;
    struct pending *p = pending_new(c, cb, ud);
    p->confirm = true;
    watch(c);
    return p;
}

static void keepalive(rds_client *c) {
    sub_command(c, "SUBSCRIBE", c->keepalive_channel, strlen(c->keepalive_channel), NULL, NULL);
}

int rds_subscribe(rds_client *c, const char *channel, size_t len, rds_cb cb, void *ud) {
    if (c->state != RDS_READY)
        return -1;
    return sub_command(c, "SUBSCRIBE", channel, len, cb, ud) ? 0 : -1;
}

int rds_unsubscribe(rds_client *c, const char *channel, size_t len, rds_cb cb, void *ud) {
    if (c->state != RDS_READY)
        return -1;
    return sub_command(c, "UNSUBSCRIBE", channel, len, cb, ud) ? 0 : -1;
}

void rds_free(rds_client *c) {
    if (!c)
        return;
    free(c->host);
    free(c->unix_path);
    free(c->user);
    free(c->password);
    free(c->keepalive_channel);
    free(c);
}

static void drop_connection(rds_client *c, const char *why);

/* The timer means: a drop is due (drop_soon); otherwise, by state: BACKOFF,
 * time to reconnect; CONNECTING, the connect-and-handshake deadline passed;
 * READY, the oldest command's deadline may have passed. */
static void on_timer(uv_timer_t *t) {
    rds_client *c = t->data;
    if (c->drop_reason) {
        drop_connection(c, c->drop_reason);
        return;
    }
    switch (c->state) {
    case RDS_BACKOFF:
        start_connect(c);
        return;
    case RDS_CONNECTING:
        drop_connection(c, "connect timed out");
        return;
    case RDS_READY:
        if (c->on_message && !oldest_live(c))
            keepalive(c);
        arm_timer(c);
        return;
    default:
        return;
    }
}

/* Arms the timer for the oldest in-flight deadline, or has the connection
 * dropped when it has already passed.  Called from hiredis' callbacks and
 * from rds_* calls, so it never drops the connection itself. */
static void arm_timer(rds_client *c) {
    if (c->drop_reason)
        return; /* the timer is set for the drop */
    uint64_t now = uv_now(c->loop);
    struct pending *oldest = oldest_live(c);
    if (!oldest) {
        if (c->on_message && c->state == RDS_READY)
            uv_timer_start(&c->timer, on_timer, c->keepalive_ms, 0);
        else
            uv_timer_stop(&c->timer);
        return;
    }
    if (oldest->deadline <= now) {
        log_warn("redis", "command timed out after %u ms; reconnecting", c->timeout_ms);
        drop_soon(c, "timeout");
        return;
    }
    uv_timer_start(&c->timer, on_timer, oldest->deadline - now, 0);
}

static void schedule_reconnect(rds_client *c) {
    c->drop_reason = NULL; /* the connection is gone already */
    if (c->closing) {
        set_state(c, RDS_CLOSED);
        return;
    }
    unsigned shift = c->attempt < 6 ? c->attempt : 6;
    uint64_t delay = (uint64_t)BACKOFF_MIN_MS << shift;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    delay = delay / 2 + (uint64_t)rand() % (delay / 2 + 1); /* jitter: 50%..100% */
    c->attempt++;
    set_state(c, RDS_BACKOFF);
    uv_timer_start(&c->timer, on_timer, delay, 0);
}

/* Abandons the current connection: fails what is in flight, frees the
 * context (hiredis then releases every pending record) and backs off.  Runs
 * from the timer only: inside a hiredis callback, or an rds_* call made from
 * one, freeing the records would pull them from under hiredis' or on_push's
 * feet, and callbacks would run inside the call that registered them. */
static void drop_connection(rds_client *c, const char *why) {
    redisAsyncContext *ac = c->ac;
    set_state(c, RDS_DISCONNECTED);
    fail_all(c, RDS_ETIMEDOUT);
    c->ac = NULL;
    if (ac)
        redisAsyncFree(ac); /* calls on_reply(NULL) for each pending; no disconnect cb for us */
    log_debug("redis", "connection dropped: %s", why);
    schedule_reconnect(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    rds_client *c = ac->data;
    if (!c || c->ac != ac)
        return; /* dropped by us: already handled */
    c->ac = NULL;
    log_warn("redis", "connection lost: %s", ac->errstr[0] ? ac->errstr : "closed");
    set_state(c, RDS_DISCONNECTED);
    fail_all(c, RDS_EDOWN);
    (void)status;
    schedule_reconnect(c);
}

/* Has the connection dropped at the start of the next loop turn, from the
 * timer (see drop_connection). */
static void drop_soon(rds_client *c, const char *why) {
    c->drop_reason = why;
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void handshake_step(redisReply *reply, int err, void *ud) {
    rds_client *c = ud;
    if (err || !reply || reply->type == REDIS_REPLY_ERROR) {
        log_warn("redis", "handshake failed: %s",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no reply");
        c->handshake_left = 0;
        drop_soon(c, "handshake failed");
        return;
    }
    if (--c->handshake_left == 0) {
        c->attempt = 0;
        log_info("redis", "connected and ready");
        uv_timer_stop(&c->timer);
        set_state(c, RDS_READY);
        arm_timer(c);
    }
}

/* Writes lead, n in decimal and CRLF at p; returns the end. */
static char *put_header(char *p, char lead, size_t n) {
    *p++ = lead;
    p += buf_u64_digits(p, n);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The RESP command of argv (lens NULL: C strings) in *out, malloc'd and
 * NUL-terminated as hiredis' redisFormatCommandArgv makes it, whose sprintf
 * per argument cost a tenth of a /stats request's CPU (a telemetry script
 * call has ~170 arguments).  Returns its length. */
static size_t format_command(char **out, int argc, const char **argv, const size_t *lens) {
    size_t total = 1 + 20 + 2 + 1;
    for (int i = 0; i < argc; i++)
        total += 1 + 20 + 2 + (lens ? lens[i] : strlen(argv[i])) + 2;
    char *cmd = xmalloc(total), *p = put_header(cmd, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = lens ? lens[i] : strlen(argv[i]);
        p = put_header(p, '$', n);
        memcpy(p, argv[i], n);
        p += n;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    *out = cmd;
    return (size_t)(p - cmd);
}

static void internal_command(rds_client *c, int argc, const char **argv) {
    struct pending *p = pending_new(c, handshake_step, c);
    p->internal = true;
    c->handshake_left++;
    char *cmd;
    size_t len = format_command(&cmd, argc, argv, NULL);
    if (send_formatted(c, p, cmd, len) < 0) {
        c->handshake_left--;
        pending_free(p);
    }
    free(cmd);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    rds_client *c = ac->data;
    if (!c || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        log_write(c->attempt ? LOG_DEBUG : LOG_WARN, "redis", 0, "cannot connect: %s (retrying)",
                  ac->errstr);
        c->ac = NULL; /* hiredis frees it after this callback */
        fail_all(c, RDS_EDOWN);
        schedule_reconnect(c);
        return;
    }
    /* Pipelined handshake: AUTH, SELECT, then every script.  READY when the
     * last reply is in. */
    c->handshake_left = 0;
    if (c->password) {
        const char *auth[3] = {"AUTH", c->user ? c->user : c->password, c->password};
        internal_command(c, c->user ? 3 : 2, auth);
    }
    if (c->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->db);
        const char *sel[2] = {"SELECT", db};
        internal_command(c, 2, sel);
    }
    if (c->on_message) {
        struct pending *p = sub_command(c, "SUBSCRIBE", c->keepalive_channel,
                                        strlen(c->keepalive_channel), handshake_step, c);
        if (p) {
            p->internal = true;
            c->handshake_left++;
        }
        return;
    }
    for (int i = 0; i < SCRIPT__COUNT; i++) {
        const char *load[3] = {"SCRIPT", "LOAD", script_sources[i].body};
        internal_command(c, 3, load);
    }
    if (c->handshake_left == 0) {
        const char *ping[1] = {"PING"};
        internal_command(c, 1, ping);
    }
}

static void start_connect(rds_client *c) {
    if (c->closing)
        return;
    if (c->reconnects || c->attempt)
        c->reconnects++;
    redisAsyncContext *ac =
        c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(c->host, c->port);
    if (!ac || ac->err) {
        log_write(c->attempt ? LOG_DEBUG : LOG_WARN, "redis", 0, "cannot connect: %s (retrying)",
                  ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    set_state(c, RDS_CONNECTING);
    if (ev_attach(ac, c->loop) < 0) {
        c->ac = NULL;
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* One deadline bounds the connect and the handshake together. */
    uv_timer_start(&c->timer, on_timer, c->timeout_ms, 0);
}

void rds_start(rds_client *c) {
    start_connect(c);
}

void rds_close(rds_client *c) {
    c->closing = true;
    /* Closed first: the callbacks failed below see a client that takes no
     * more commands. */
    set_state(c, RDS_CLOSED);
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    fail_all(c, RDS_EDOWN);
    if (ac)
        redisAsyncFree(ac);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, NULL);
}

bool rds_reply_is_error(const redisReply *r, const char *prefix) {
    return r && r->type == REDIS_REPLY_ERROR && r->str &&
           strncmp(r->str, prefix, strlen(prefix)) == 0;
}

int rds_command(rds_client *c, rds_cb cb, void *ud, const char *fmt, ...) {
    if (c->state != RDS_READY)
        return -1;
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return -1;
    struct pending *p = pending_new(c, cb, ud);
    int rc = send_formatted(c, p, cmd, (size_t)len);
    redisFreeCommand(cmd);
    if (rc < 0)
        pending_free(p);
    return rc;
}

int rds_command_argv(rds_client *c, rds_cb cb, void *ud, int argc, const char **argv,
                     const size_t *lens) {
    if (c->state != RDS_READY)
        return -1;
    char *cmd;
    size_t len = format_command(&cmd, argc, argv, lens);
    struct pending *p = pending_new(c, cb, ud);
    int rc = send_formatted(c, p, cmd, len);
    free(cmd);
    if (rc < 0)
        pending_free(p);
    return rc;
}

#define EVAL_MAX_ARGS (RDS_EVAL_MAX_ARGC + 3) /* EVALSHA, the sha, the key count */

/* Queues EVALSHA and returns its record, or NULL. */
static struct pending *eval_send(rds_client *c, enum script_id script, rds_cb cb, void *ud,
                                 int nkeys, int argc, const char **argv, const size_t *lens) {
    if (c->state != RDS_READY || argc + 3 > EVAL_MAX_ARGS || nkeys > argc)
        return NULL;
    const char *av[EVAL_MAX_ARGS];
    size_t al[EVAL_MAX_ARGS];
    char nk[12];
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = script_sha[script], al[1] = 40;
    al[2] = (size_t)snprintf(nk, sizeof nk, "%d", nkeys), av[2] = nk;
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    char *cmd;
    size_t len = format_command(&cmd, argc + 3, av, al);
    struct pending *p = pending_new(c, cb, ud);
    p->script = (int)script;
    p->formatted = cmd; /* freed with the record */
    p->formatted_len = len;
    if (send_formatted(c, p, cmd, len) < 0) {
        pending_free(p);
        return NULL;
    }
    return p;
}

int rds_eval(rds_client *c, enum script_id script, rds_cb cb, void *ud, int nkeys, int argc,
             const char **argv, const size_t *lens) {
    return eval_send(c, script, cb, ud, nkeys, argc, argv, lens) ? 0 : -1;
}

int rds_eval_then(rds_client *c, enum script_id script, rds_cb cb, void *ud, int nkeys, int argc,
                  const char **argv, const size_t *lens, const struct rds_then *then) {
    struct pending *p = eval_send(c, script, cb, ud, nkeys, argc, argv, lens);
    if (!p)
        return -1;
    struct pending *t = pending_new(c, then->cb, ud);
    t->formatted_len = format_command(&t->formatted, then->argc, then->argv, then->lens);
    if (send_formatted(c, t, t->formatted, t->formatted_len) < 0) {
        pending_free(t);
        p->done = true; /* the caller answers now; the script's reply is not for it */
        return -1;
    }
    p->then = t;
    return 0;
}
