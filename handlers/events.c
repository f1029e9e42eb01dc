/* GET /events and events_notify (docs/events.md).
 *
 * A stream's life:
 *
 *   WAITING   the instance subscribes to the recipient's channel (if no other
 *             stream of that recipient already did) and waits for Redis'
 *             confirmation: from then on every published event reaches us.
 *   OPENING   events_open.lua takes a lease against the account's cap and
 *             reads where the stream starts (the newest id, or the events
 *             after Last-Event-ID).
 *   CATCHUP   the response has begun; the log is read page by page after the
 *             last id written, at the pace the reader takes it (a page
 *             stops at half the backlog bound, and the next is read when the
 *             socket has taken it).  Live events that arrive meanwhile are
 *             held (up to half the bound).
 *   LIVE      held events newer than the last written one are written, and
 *             from then on live ones as they come.
 *
 * Because the subscription is confirmed before the log is read, and the log
 * and the channel are written by one script, an event is either in what the
 * log read returns or arrives live afterwards (or both: ids, which only grow,
 * drop the duplicate).  When the subscriber reconnects, every stream goes back
 * to CATCHUP from its last id once its channel is subscribed again. */
#include "handlers/events.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "core/strmap.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "protocol/sse.h"
#include "storage/keys.h"

#define PAGE 200 /* log entries read per round trip */
#define PAGE_STR "200"
#define LEASE_BEATS 3     /* a lease outlives this many missed heartbeats */
#define KEEPALIVE_MS 5000 /* an idle subscriber proves itself alive this often */
#define SSE_HEADERS "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"
#define SSE_OPEN ":ok\n\n"
#define SSE_BEAT ":keepalive\n\n"

enum sub_state { SUB_NONE, SUB_PENDING, SUB_ACTIVE, SUB_LEAVING };
enum client_state { CL_WAITING, CL_OPENING, CL_CATCHUP, CL_LIVE };

struct client;

/* Everyone on this instance listening to one recipient, and this instance's
 * subscription to its channel.  The channel's name is also its log's key. */
struct recipient {
    struct recipient *next, *prev; /* ev.recipients */
    struct client *clients;
    uint8_t sub; /* enum sub_state */
    size_t chlen;
    char channel[];
};

/* One GET /events, from its request to its connection's close. */
struct client {
    struct client *next, *prev; /* in r->clients */
    struct recipient *r;        /* NULL once detached */
    http_request *req;          /* while WAITING or OPENING */
    struct conn *conn;          /* from CATCHUP on */
    struct sse_id last;         /* the newest event written, or where the stream starts */
    buf held;                   /* CATCHUP: [struct sse_id][uint32 len][frame]... */
    unsigned refs;              /* Redis replies still to come */
    uint8_t state;              /* enum client_state */
    bool gone;                  /* detached: freed when refs reaches 0 */
    bool fetching, fetch_again; /* a log read is in flight / must run once more */
    bool wait_drain;            /* the next log read waits for the socket */
    bool overflow;              /* held more than the backlog allows */
    bool resume;                /* opened with Last-Event-ID: replay after `last` */
    bool revoked;               /* the heartbeat's check found the token revoked */
    int64_t exp, gen;           /* of the token that opened it */
    uint64_t serial;
    char who[37]; /* the recipient: an account id, or a guest id */
    bool guest;   /* opened with a stream's guest token */
    char jti[37];
};

static struct {
    rds_client *sub;
    strmap channels; /* channel -> struct recipient */
    struct recipient *recipients;
    uint64_t nrecipients_subscribed;
    char instance[17]; /* lease members are <instance>:<serial> */
    uint64_t serial;
    uint64_t streams, events, slow_closed;
    buf frame;     /* one event formatted once for all its streams */
    arena scratch; /* account hashes read by the heartbeat check */
} ev;

static void client_open(struct client *c);
static void catch_up(struct client *c);

/* ---- clients ---- */

static void lease_member(const struct client *c, char *out, size_t outlen) {
    snprintf(out, outlen, "%s:%llu", ev.instance, (unsigned long long)c->serial);
}

static const char *kind_of(const struct client *c) {
    return c->guest ? "guest" : "acct";
}

static size_t lease_key(const struct client *c, char *out) {
    return key_entity(out, kind_of(c), c->who, strlen(c->who), ":streams");
}

static void recipient_release(struct recipient *r);

/* Detaches the client from its recipient; it is freed once no reply can
 * reach it. */
static void client_drop(struct client *c) {
    struct recipient *r = c->r;
    if (r) {
        c->prev ? (void)(c->prev->next = c->next) : (void)(r->clients = c->next);
        if (c->next)
            c->next->prev = c->prev;
        c->r = NULL;
        recipient_release(r);
    }
    c->gone = true;
    if (c->refs == 0) {
        buf_free(&c->held);
        free(c);
    }
}

/* After a reply: false when the client is gone (and possibly freed now). */
static bool client_unref(struct client *c) {
    c->refs--;
    if (!c->gone)
        return true;
    if (c->refs == 0)
        client_drop(c);
    return false;
}

/* Answers a client that has not begun streaming, and drops it. */
static void client_refuse(struct client *c, int status) {
    http_request *req = c->req;
    c->req = NULL;
    if (status == 429) {
        buf b;
        buf_init(&b, &req->arena);
        http_error_body(&b, "rate-limited", "Too many open event streams for this account");
        char hdr[48];
        snprintf(hdr, sizeof hdr, "Retry-After: %llu\r\n",
                 (unsigned long long)(srv.cfg.events_heartbeat_ms / 1000 + 1));
        resp_send(req, 429, "application/json; charset=utf-8", hdr, b.data, b.len);
    } else {
        resp_unavailable(req);
    }
    client_drop(c);
}

static void lease_release(const struct client *c) {
    char key[KEY_MAX], member[64];
    size_t klen = lease_key(c, key);
    lease_member(c, member, sizeof member);
    const char *argv[3] = {"ZREM", key, member};
    size_t lens[3] = {4, klen, strlen(member)};
    rds_command_argv(srv.redis, NULL, NULL, 3, argv, lens);
}

/* Writes one formatted event; false when the stream is closing. */
static bool client_write(struct client *c, struct sse_id id, const char *frame, size_t len) {
    int rc = conn_stream_write(c->conn, frame, len);
    if (rc == -2)
        ev.slow_closed++;
    if (rc < 0)
        return false;
    c->last = id;
    ev.events++;
    return true;
}

/* ---- subscriptions ---- */

static void on_subscribed(redisReply *reply, int err, void *ud);
static void on_unsubscribed(redisReply *reply, int err, void *ud);

static struct recipient *recipient_get(const char *kind, const char *id) {
    char channel[KEY_MAX];
    size_t n = key_entity(channel, kind, id, strlen(id), ":events");
    struct recipient *r = strmap_get(&ev.channels, channel, n);
    if (r)
        return r;
    r = xcalloc(1, sizeof *r + n + 1);
    memcpy(r->channel, channel, n);
    r->chlen = n;
    strmap_put(&ev.channels, channel, n, r);
    r->next = ev.recipients;
    if (r->next)
        r->next->prev = r;
    ev.recipients = r;
    return r;
}

static void recipient_free(struct recipient *r) {
    strmap_del(&ev.channels, r->channel, r->chlen);
    r->prev ? (void)(r->prev->next = r->next) : (void)(ev.recipients = r->next);
    if (r->next)
        r->next->prev = r->prev;
    free(r);
}

static void set_sub(struct recipient *r, enum sub_state s) {
    if ((r->sub == SUB_ACTIVE) != (s == SUB_ACTIVE))
        s == SUB_ACTIVE ? ev.nrecipients_subscribed++ : ev.nrecipients_subscribed--;
    r->sub = (uint8_t)s;
}

/* Refuses every client still waiting for the subscription. */
static void refuse_waiting(struct recipient *r) {
    for (struct client *c = r->clients, *next; c; c = next) {
        next = c->next;
        if (c->state == CL_WAITING)
            client_refuse(c, 503);
    }
}

static void subscribe(struct recipient *r) {
    set_sub(r, SUB_PENDING);
    if (!events_ready() || rds_subscribe(ev.sub, r->channel, r->chlen, on_subscribed, r) < 0) {
        set_sub(r, SUB_NONE);
        refuse_waiting(r); /* may free r */
    }
}

/* Called when a recipient may have lost its last client. */
static void recipient_release(struct recipient *r) {
    if (r->clients)
        return;
    switch (r->sub) {
    case SUB_NONE:
        recipient_free(r);
        break;
    case SUB_ACTIVE:
        set_sub(r, SUB_LEAVING);
        if (!events_ready() ||
            rds_unsubscribe(ev.sub, r->channel, r->chlen, on_unsubscribed, r) < 0) {
            set_sub(r, SUB_NONE);
            recipient_free(r);
        }
        break;
    default:
        break; /* the confirmation in flight decides */
    }
}

static void on_subscribed(redisReply *reply, int err, void *ud) {
    struct recipient *r = ud;
    bool ok = !err && reply && reply->type == REDIS_REPLY_ARRAY;
    set_sub(r, ok ? SUB_ACTIVE : SUB_NONE);
    if (!ok) {
        refuse_waiting(r); /* may free r */
        return;
    }
    if (!r->clients) {
        recipient_release(r);
        return;
    }
    for (struct client *c = r->clients, *next; c; c = next) {
        next = c->next;
        if (c->state == CL_WAITING) {
            client_open(c);
        } else if (c->state == CL_OPENING) {
            /* Resubscribed after the subscriber reconnected, while its log
             * read was in flight: read once more after it. */
            c->fetch_again = true;
        } else {
            /* Resubscribed: what was published meanwhile is only in the log. */
            c->state = CL_CATCHUP;
            catch_up(c);
        }
    }
}

static void on_unsubscribed(redisReply *reply, int err, void *ud) {
    struct recipient *r = ud;
    (void)reply, (void)err;
    set_sub(r, SUB_NONE);
    if (r->clients)
        subscribe(r); /* a stream came while we were leaving */
    else
        recipient_free(r);
}

/* The subscriber connection's state.  When it is lost, every subscription
 * goes with it (confirmations in flight fail on their own); when it is ready
 * again, every channel that still has streams is subscribed again, and the
 * confirmations restart the streams from the log. */
static void on_sub_state(rds_client *rc, enum rds_state s, void *ud) {
    (void)rc, (void)ud;
    log_info("events", "subscriber %s", rds_state_name(s));
    for (struct recipient *r = ev.recipients, *next; r; r = next) {
        next = r->next;
        if (s != RDS_READY && r->sub == SUB_ACTIVE) {
            set_sub(r, SUB_NONE);
            recipient_release(r);
        } else if (s == RDS_READY && r->sub == SUB_NONE && r->clients) {
            subscribe(r);
        }
    }
}

/* ---- delivery ---- */

/* Formats an event into ev.frame. */
static void format_event(const char *id, size_t idlen, const char *event, size_t eventlen,
                         const char *data, size_t datalen) {
    buf_clear(&ev.frame);
    sse_event(&ev.frame, id, idlen, event, eventlen, data, datalen);
}

static void hold(struct client *c, struct sse_id id) {
    if (c->overflow)
        return;
    if (c->held.len + ev.frame.len > srv.cfg.events_max_backlog / 2) {
        c->overflow = true;
        buf_free(&c->held);
        return;
    }
    uint32_t len = (uint32_t)ev.frame.len;
    buf_append(&c->held, &id, sizeof id);
    buf_append(&c->held, &len, sizeof len);
    buf_append(&c->held, ev.frame.data, len);
}

/* A Pub/Sub message "<id>\n<event>\n<data>" on a recipient's channel. */
static void on_message(const char *channel, size_t chlen, const char *msg, size_t len, void *ud) {
    (void)ud;
    struct recipient *r = strmap_get(&ev.channels, channel, chlen);
    if (!r || r->sub != SUB_ACTIVE)
        return;
    const char *nl1 = memchr(msg, '\n', len);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', len - (size_t)(nl1 + 1 - msg)) : NULL;
    struct sse_id id;
    if (!nl2 || sse_id_parse(msg, (size_t)(nl1 - msg), &id) < 0) {
        log_warn("events", "malformed message on %.*s", (int)chlen, channel);
        return;
    }
    format_event(msg, (size_t)(nl1 - msg), nl1 + 1, (size_t)(nl2 - nl1 - 1), nl2 + 1,
                 len - (size_t)(nl2 + 1 - msg));
    for (struct client *c = r->clients; c; c = c->next) {
        if (c->state == CL_LIVE) {
            if (sse_id_after(id, c->last))
                client_write(c, id, ev.frame.data, ev.frame.len);
        } else if (c->state != CL_WAITING) {
            hold(c, id);
        }
    }
}

/* Writes the log entries of an XRANGE-style reply that are newer than the
 * last written.  Returns how many entries the reply held; -1 when the stream
 * is closing; -2 when it stopped because the reader has half the backlog
 * bound unsent (the rest is read again after the last written). */
static int deliver(struct client *c, const redisReply *entries) {
    if (entries->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *idr = e->element[0], *f = e->element[1];
        const redisReply *name = NULL, *data = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (f->element[k]->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(f->element[k]->str, "e") == 0)
                name = f->element[k + 1];
            else if (strcmp(f->element[k]->str, "d") == 0)
                data = f->element[k + 1];
        }
        struct sse_id id;
        if (!name || !data || sse_id_parse(idr->str, idr->len, &id) < 0 ||
            !sse_id_after(id, c->last))
            continue;
        format_event(idr->str, idr->len, name->str, name->len, data->str, data->len);
        size_t unsent = conn_stream_unsent(c->conn);
        if (unsent && unsent + ev.frame.len > srv.cfg.events_max_backlog / 2)
            return -2;
        if (!client_write(c, id, ev.frame.data, ev.frame.len))
            return -1;
    }
    return (int)entries->elements;
}

/* The log has been read up to now: write what was held, and go live. */
static void go_live(struct client *c) {
    if (c->overflow) {
        log_info("events", "stream of %s fell too far behind while catching up", c->who);
        ev.slow_closed++;
        conn_stream_end(c->conn);
        return;
    }
    size_t off = 0;
    while (off < c->held.len) {
        struct sse_id id;
        uint32_t len;
        memcpy(&id, c->held.data + off, sizeof id);
        memcpy(&len, c->held.data + off + sizeof id, sizeof len);
        const char *frame = c->held.data + off + sizeof id + sizeof len;
        off += sizeof id + sizeof len + len;
        if (sse_id_after(id, c->last) && !client_write(c, id, frame, len))
            break;
    }
    buf_free(&c->held);
    c->state = CL_LIVE;
}

/* What follows a page of the log: another page, or live. */
static void after_page(struct client *c, int n) {
    if (n == -1)
        return;
    if (n == -2) {
        c->wait_drain = true;
        return;
    }
    if (n == PAGE || c->fetch_again) {
        c->fetch_again = false;
        catch_up(c);
    } else {
        go_live(c);
    }
}

static void on_page(redisReply *reply, int err, void *ud) {
    struct client *c = ud;
    c->fetching = false;
    if (!client_unref(c))
        return;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        log_warn("events", "reading the event log failed; retrying at the next heartbeat");
        return;
    }
    after_page(c, deliver(c, reply));
}

/* Sends XRANGE of the page after the last id written (a reply to come). */
static int read_page(struct client *c, rds_cb cb) {
    char after[48];
    snprintf(after, sizeof after, "(%llu-%llu", (unsigned long long)c->last.ms,
             (unsigned long long)c->last.seq);
    const char *argv[6] = {"XRANGE", c->r->channel, after, "+", "COUNT", PAGE_STR};
    size_t lens[6] = {6, c->r->chlen, strlen(after), 1, 5, sizeof PAGE_STR - 1};
    if (rds_command_argv(srv.redis, cb, c, 6, argv, lens) < 0)
        return -1;
    c->refs++;
    return 0;
}

/* Reads the next page of the log after the last id written.  When the store
 * cannot take it now, the next heartbeat tries again. */
static void catch_up(struct client *c) {
    if (c->fetching) {
        c->fetch_again = true;
        return;
    }
    if (read_page(c, on_page) == 0)
        c->fetching = true;
}

/* ---- the heartbeat ---- */

static void on_final_page(redisReply *reply, int err, void *ud) {
    struct client *c = ud;
    if (!client_unref(c))
        return;
    if (!err && reply && reply->type == REDIS_REPLY_ARRAY)
        deliver(c, reply);
    conn_stream_end(c->conn);
}

/* Closes a stream whose token no longer holds, after one last read of the
 * log: a change that revokes tokens publishes its event in the same script
 * (a password change), so the event is in the log by the time the
 * revocation is seen, while its live copy may still be on its way. */
static void close_revoked(struct client *c) {
    log_info("events", "closing a stream of %s: token revoked or account disabled", c->who);
    if (read_page(c, on_final_page) < 0)
        conn_stream_end(c->conn);
}

static void on_revocation(redisReply *reply, int err, void *ud) {
    struct client *c = ud;
    if (client_unref(c) && !err && reply && reply->type == REDIS_REPLY_INTEGER)
        c->revoked = reply->integer != 0;
}

static void on_account(redisReply *reply, int err, void *ud) {
    struct client *c = ud;
    if (!client_unref(c) || err || !reply || reply->type != REDIS_REPLY_ARRAY)
        return; /* a store failure does not end streams */
    struct account a;
    bool valid = account_from_reply(&ev.scratch, reply, &a) == 0 && a.gen == c->gen &&
                 account_can_log_in(&a);
    arena_reset(&ev.scratch);
    if (c->revoked || !valid)
        close_revoked(c);
}

/* Every heartbeat: a comment line, the lease renewed, the token checked. */
static void on_tick(void *ud) {
    struct client *c = ud;
    int rc = conn_stream_write(c->conn, SSE_BEAT, sizeof SSE_BEAT - 1);
    if (rc == -2)
        ev.slow_closed++;
    if (rc < 0)
        return;
    if (token_expired(c->exp)) {
        log_info("events", "closing a stream of %s: token expired", c->who);
        conn_stream_end(c->conn);
        return;
    }
    if (c->state == CL_CATCHUP && !c->fetching && !c->wait_drain)
        catch_up(c);
    if (!rds_ready(srv.redis))
        return;
    char leases[KEY_MAX], member[64], exp[24], dur[24];
    size_t llen = lease_key(c, leases);
    lease_member(c, member, sizeof member);
    uint64_t lease_ms = LEASE_BEATS * srv.cfg.events_heartbeat_ms;
    snprintf(exp, sizeof exp, "%llu", (unsigned long long)(now_ms() + lease_ms));
    snprintf(dur, sizeof dur, "%llu", (unsigned long long)lease_ms);
    const char *renew[4] = {leases, member, exp, dur};
    size_t renew_len[4] = {llen, strlen(member), strlen(exp), strlen(dur)};
    rds_eval(srv.redis, SCRIPT_events_renew, NULL, NULL, 1, 4, renew, renew_len);

    c->revoked = false;
    if (!c->guest && token_state_read(c->who, strlen(c->who), c->jti, strlen(c->jti), on_revocation,
                                      on_account, c) == 0)
        c->refs += 2;
}

static void on_drain(void *ud) {
    struct client *c = ud;
    if (c->wait_drain) {
        c->wait_drain = false;
        catch_up(c);
    }
}

static void on_stream_closed(void *ud) {
    struct client *c = ud;
    ev.streams--;
    c->conn = NULL;
    lease_release(c);
    client_drop(c);
}

static const struct conn_stream_ops stream_ops = {
    .on_tick = on_tick, .on_drain = on_drain, .on_close = on_stream_closed};

/* ---- opening ---- */

static void on_opened(redisReply *reply, int err, void *ud) {
    struct client *c = ud;
    if (!client_unref(c))
        return;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        client_refuse(c, 503);
        return;
    }
    if (reply->element[0]->integer == 0 || reply->elements != 3) {
        client_refuse(c, 429);
        return;
    }
    if (srv.draining) {
        /* Shutting down: streams were closed; do not start another. */
        lease_release(c);
        client_refuse(c, 503);
        return;
    }
    http_request *req = c->req;
    c->req = NULL;
    c->conn =
        conn_stream_begin(req, "text/event-stream", SSE_HEADERS, SSE_OPEN, sizeof SSE_OPEN - 1,
                          srv.cfg.events_heartbeat_ms, srv.cfg.events_max_backlog, &stream_ops, c);
    if (!c->conn) {
        /* The client left while we were opening. */
        lease_release(c);
        client_drop(c);
        return;
    }
    ev.streams++;
    c->state = CL_CATCHUP;
    /* A stream starts after the newest event, or resumes after the client's
     * id, but never after the newest: ids from elsewhere (another
     * deployment, a Redis that lost its data) must not hide live events. */
    const redisReply *nr = reply->element[1];
    struct sse_id newest;
    if (nr->type == REDIS_REPLY_STRING && sse_id_parse(nr->str, nr->len, &newest) == 0 &&
        (!c->resume || sse_id_after(c->last, newest)))
        c->last = newest;
    after_page(c, deliver(c, reply->element[2]));
}

static void client_open(struct client *c) {
    char leases[KEY_MAX], member[64], now[24], dur[24], max[24], after[48] = "";
    size_t llen = lease_key(c, leases);
    lease_member(c, member, sizeof member);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    snprintf(dur, sizeof dur, "%llu",
             (unsigned long long)(LEASE_BEATS * srv.cfg.events_heartbeat_ms));
    snprintf(max, sizeof max, "%llu", (unsigned long long)srv.cfg.events_max_per_account);
    if (c->resume)
        snprintf(after, sizeof after, "%llu-%llu", (unsigned long long)c->last.ms,
                 (unsigned long long)c->last.seq);
    const char *argv[8] = {leases, c->r->channel, member, now, dur, max, after, PAGE_STR};
    size_t lens[8] = {llen,        c->r->chlen, strlen(member), strlen(now),
                      strlen(dur), strlen(max), strlen(after),  sizeof PAGE_STR - 1};
    c->state = CL_OPENING;
    if (rds_eval(srv.redis, SCRIPT_events_open, on_opened, c, 2, 8, argv, lens) < 0) {
        client_refuse(c, 503);
        return;
    }
    c->refs++;
}

void events_get(http_request *req) {
    size_t n;
    const char *resume = http_header(req, "last-event-id", &n);
    struct sse_id after = {0, 0};
    if (resume && sse_id_parse(resume, n, &after) < 0) {
        resp_error(req, 400, "bad-request", "Last-Event-ID must be an event id (<ms>-<seq>)");
        return;
    }
    if (req->head) {
        resp_send(req, 200, "text/event-stream", SSE_HEADERS, "", 0);
        return;
    }
    if (srv.draining || !events_ready() || !rds_ready(srv.redis)) {
        resp_unavailable(req);
        return;
    }
    struct client *c = xcalloc(1, sizeof *c);
    buf_init(&c->held, NULL);
    if (req->guest) {
        /* A guest token cannot be revoked: only its expiry ends the stream. */
        snprintf(c->who, sizeof c->who, "%s", req->guest->id);
        c->guest = true;
        c->exp = req->guest->exp;
    } else {
        const struct account *a = req->account;
        snprintf(c->who, sizeof c->who, "%s", a->id);
        snprintf(c->jti, sizeof c->jti, "%s", a->jti ? a->jti : "");
        c->exp = a->exp;
        c->gen = a->gen;
    }
    c->serial = ++ev.serial;
    c->last = after;
    c->resume = resume != NULL;
    c->req = req;
    c->state = CL_WAITING;
    struct recipient *r = recipient_get(kind_of(c), c->who);
    c->r = r;
    c->next = r->clients;
    if (c->next)
        c->next->prev = c;
    r->clients = c;
    if (r->sub == SUB_ACTIVE)
        client_open(c);
    else if (r->sub == SUB_NONE)
        subscribe(r);
    /* SUB_PENDING or SUB_LEAVING: the confirmation in flight opens it. */
}

/* ---- notify ---- */

/* The events produced in one turn of the loop, published together by one
 * call of events_publish.lua when the turn's I/O has been handled (a check
 * handle), or sooner when the batch is full. */
#define BATCH_MAX 64
#define BATCH_BYTES (256 * 1024)
/* A batch's script call: each event's key, name and data, then max and ttl. */
_Static_assert(3 * BATCH_MAX + 2 <= RDS_EVAL_MAX_ARGC, "a full batch must fit one rds_eval");

static struct {
    uv_check_t flush;
    bool armed, closed;
    size_t n;
    buf bytes;                 /* keys, names and data, back to back */
    size_t lens[BATCH_MAX][3]; /* key, event, data */
} batch;

static void on_published(redisReply *reply, int err, void *ud) {
    size_t n = (size_t)(uintptr_t)ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY)
        log_warn("events", "%zu event(s) could not be published: %s", n,
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "store unavailable");
}

/* The logs' limits, as the scripts take them. */
static void log_limits(char keep[24], char ttl[24]) {
    snprintf(keep, 24, "%llu", (unsigned long long)srv.cfg.events_replay_max);
    snprintf(ttl, 24, "%llu", (unsigned long long)srv.cfg.events_replay_ttl_s);
}

int events_target(struct events_target *t, const char *kind, const char *id, size_t idlen) {
    t->keylen = key_entity(t->key, kind, id, idlen, ":events");
    log_limits(t->keep, t->ttl);
    return t->keylen ? 0 : -1;
}

/* The events argv of events_publish.lua: KEYS, then max and ttl, then each
 * event's name and data. */
static int publish(size_t n, const char *const *keys, const size_t (*lens)[3],
                   const char *const *names, const char *const *data, rds_cb cb, void *ud) {
    char keep[24], ttl[24];
    log_limits(keep, ttl);
    const char *argv[3 * BATCH_MAX + 2];
    size_t argl[3 * BATCH_MAX + 2];
    for (size_t i = 0; i < n; i++) {
        argv[i] = keys[i];
        argl[i] = lens[i][0];
        argv[n + 2 + 2 * i] = names[i];
        argl[n + 2 + 2 * i] = lens[i][1];
        argv[n + 3 + 2 * i] = data[i];
        argl[n + 3 + 2 * i] = lens[i][2];
    }
    argv[n] = keep;
    argl[n] = strlen(keep);
    argv[n + 1] = ttl;
    argl[n + 1] = strlen(ttl);
    return rds_eval(srv.redis, SCRIPT_events_publish, cb, ud, (int)n, (int)(3 * n + 2), argv, argl);
}

static void flush(void) {
    if (batch.armed) {
        uv_check_stop(&batch.flush);
        batch.armed = false;
    }
    size_t n = batch.n;
    if (!n)
        return;
    const char *keys[BATCH_MAX], *names[BATCH_MAX], *data[BATCH_MAX];
    const char *p = batch.bytes.data;
    for (size_t i = 0; i < n; i++) {
        keys[i] = p;
        names[i] = p += batch.lens[i][0];
        data[i] = p += batch.lens[i][1];
        p += batch.lens[i][2];
    }
    if (publish(n, keys, batch.lens, names, data, on_published, (void *)(uintptr_t)n) < 0)
        log_warn("events", "%zu event(s) lost: the store is unavailable", n);
    batch.n = 0;
    batch.bytes.len = 0;
}

static void on_flush(uv_check_t *h) {
    (void)h;
    flush();
}

int events_publish(const char *kind, const char *id, size_t idlen, const char *event,
                   const char *data, size_t datalen, rds_cb cb, void *ud) {
    char key[KEY_MAX];
    size_t lens[1][3] = {{key_entity(key, kind, id, idlen, ":events"), strlen(event), datalen}};
    const char *keys[1] = {key};
    if (!lens[0][0])
        return -1;
    return publish(1, keys, lens, &event, &data, cb, ud);
}

void events_notify(const char *kind, const char *id, size_t idlen, const char *event,
                   const char *data, size_t datalen) {
    char key[KEY_MAX];
    size_t klen = key_entity(key, kind, id, idlen, ":events"), elen = strlen(event);
    if (!klen || batch.closed || !rds_ready(srv.redis)) {
        log_warn("events", "event %s for %s:%.*s lost: the store is unavailable", event, kind,
                 (int)idlen, id);
        return;
    }
    if (batch.n == BATCH_MAX || batch.bytes.len + klen + elen + datalen > BATCH_BYTES)
        flush();
    size_t *l = batch.lens[batch.n++];
    l[0] = klen;
    l[1] = elen;
    l[2] = datalen;
    buf_append(&batch.bytes, key, klen);
    buf_append(&batch.bytes, event, elen);
    buf_append(&batch.bytes, data, datalen);
    if (!batch.armed) {
        uv_check_start(&batch.flush, on_flush);
        batch.armed = true;
    }
}

void events_notify_many(const char *kind, const char *const *ids, size_t n, const char *event,
                        const char *data, size_t datalen) {
    for (size_t i = 0; i < n; i++)
        events_notify(kind, ids[i], strlen(ids[i]), event, data, datalen);
}

/* ---- module ---- */

void events_on_store_ready(void) {
    for (struct recipient *r = ev.recipients; r; r = r->next)
        for (struct client *c = r->clients; c; c = c->next)
            if (c->state == CL_CATCHUP && !c->fetching && !c->wait_drain && r->sub == SUB_ACTIVE)
                catch_up(c);
}

bool events_ready(void) {
    return ev.sub && rds_ready(ev.sub);
}

int events_init(void) {
    strmap_init(&ev.channels);
    buf_init(&batch.bytes, NULL);
    uv_check_init(srv.loop, &batch.flush);
    uv_unref((uv_handle_t *)&batch.flush);
    buf_init(&ev.frame, NULL);
    arena_init(&ev.scratch);
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(ev.instance, sizeof ev.instance, rnd, sizeof rnd);
    char keepalive[KEY_MAX];
    key_named(keepalive, "events:keepalive");
    struct rds_options o = {.url = srv.cfg.redis,
                            .timeout_ms = (uint32_t)srv.cfg.redis_timeout_ms,
                            .on_state = on_sub_state,
                            .on_message = on_message,
                            .keepalive_channel = keepalive,
                            .keepalive_ms = KEEPALIVE_MS};
    ev.sub = rds_new(srv.loop, &o);
    if (!ev.sub)
        return -1;
    rds_start(ev.sub);
    return 0;
}

void events_close(void) {
    /* What handlers produced last goes out before the command connection
     * closes. */
    flush();
    batch.closed = true;
    uv_close((uv_handle_t *)&batch.flush, NULL);
    buf_free(&batch.bytes);
    /* Streams closed first (draining); closing the subscriber fails the
     * confirmations in flight and drops every subscription, which frees
     * each recipient without streams. */
    if (ev.sub)
        rds_close(ev.sub);
    if (!ev.recipients)
        strmap_free(&ev.channels); /* else a forced shutdown left streams */
    buf_free(&ev.frame);
    arena_reset(&ev.scratch);
}

void events_free(void) {
    rds_free(ev.sub);
    ev.sub = NULL;
}

void events_metrics(buf *out) {
    buf_printf(out,
               "# HELP onair_sse_streams Open event streams.\n"
               "# TYPE onair_sse_streams gauge\n"
               "onair_sse_streams %llu\n"
               "# HELP onair_sse_events_total Events written to streams.\n"
               "# TYPE onair_sse_events_total counter\n"
               "onair_sse_events_total %llu\n"
               "# HELP onair_sse_slow_closed_total Streams closed because their reader fell "
               "behind.\n"
               "# TYPE onair_sse_slow_closed_total counter\n"
               "onair_sse_slow_closed_total %llu\n"
               "# HELP onair_pubsub_up Whether the Pub/Sub subscriber is connected.\n"
               "# TYPE onair_pubsub_up gauge\n"
               "onair_pubsub_up %d\n"
               "# HELP onair_pubsub_channels Recipient channels this instance is subscribed to.\n"
               "# TYPE onair_pubsub_channels gauge\n"
               "onair_pubsub_channels %llu\n"
               "# HELP onair_pubsub_reconnects_total Reconnections of the subscriber.\n"
               "# TYPE onair_pubsub_reconnects_total counter\n"
               "onair_pubsub_reconnects_total %llu\n",
               (unsigned long long)ev.streams, (unsigned long long)ev.events,
               (unsigned long long)ev.slow_closed, events_ready() ? 1 : 0,
               (unsigned long long)ev.nrecipients_subscribed,
               (unsigned long long)(ev.sub ? rds_reconnects(ev.sub) : 0));
}
