/* Dealer streams (API.md §5, docs/streams.md): a shopper's request to an
 * organization, a dealer's accept, stop and note, the dealers' heartbeat
 * pings, reading and listing, and the deadlines that make streams `missed`
 * or `expired`.
 *
 * Each change is one script (stream_request.lua, stream_act.lua,
 * stream_ping.lua, stream_expire.lua) that checks who may do it and the
 * state, and writes atomically; this file validates input, shapes answers
 * and tells the other side (handlers/events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "handlers/records.h"
#include "protocol/vin.h"
#include "storage/keys.h"
#include "storage/reaper.h"

#define STREAM_KIND "stream" /* reaper kind: the stream's current deadline */

/* ---- the stream object ---- */

struct stream {
    const char *id, *status, *org, *vin, *session, *guest, *dealer, *offered, *note;
    const char *created, *updated, *accept_by_ms, *accepted, *expires_ms, *stopped;
    const char *stopped_by, *ended;
    const char **offered_to; /* `offered`, split */
    size_t noffered;
};

static const struct record_field stream_fields[] = {
    {"id", offsetof(struct stream, id)},
    {"status", offsetof(struct stream, status)},
    {"org", offsetof(struct stream, org)},
    {"vin", offsetof(struct stream, vin)},
    {"sessionId", offsetof(struct stream, session)},
    {"guest", offsetof(struct stream, guest)},
    {"dealer", offsetof(struct stream, dealer)},
    {"offered", offsetof(struct stream, offered)},
    {"note", offsetof(struct stream, note)},
    {"createdAt", offsetof(struct stream, created)},
    {"updatedAt", offsetof(struct stream, updated)},
    {"acceptByMs", offsetof(struct stream, accept_by_ms)},
    {"acceptedAt", offsetof(struct stream, accepted)},
    {"expiresMs", offsetof(struct stream, expires_ms)},
    {"stoppedAt", offsetof(struct stream, stopped)},
    {"stoppedBy", offsetof(struct stream, stopped_by)},
    {"endedAt", offsetof(struct stream, ended)},
};
#define NSTREAM_FIELDS (sizeof stream_fields / sizeof stream_fields[0])

static const char *const statuses[] = {"requested", "streaming", "stopped",       "completed",
                                       "missed",    "expired",   "missed-offline"};

/* Reads an HGETALL reply; -1 when it is not a stream. */
static int stream_from_reply(arena *a, const redisReply *flat, struct stream *s) {
    s->noffered = 0;
    s->offered_to = NULL;
    if (record_read(stream_fields, NSTREAM_FIELDS, flat, s) < 0 || !s->id[0])
        return -1;
    /* Every dealer it was offered to (docs/streams.md: all of them). */
    size_t n = 1;
    for (const char *p = s->offered; *p; p++)
        n += *p == ',';
    s->offered_to = arena_alloc(a, n * sizeof *s->offered_to);
    s->noffered = record_split(a, s->offered, s->offered_to, n);
    return 0;
}

/* "key": the ms timestamp as ISO 8601, or null when "". */
static void time_or_null(json_writer *w, const char *key, const char *ms) {
    json_w_key(w, key);
    if (!ms[0]) {
        json_w_null(w);
        return;
    }
    char iso[32];
    ms_iso(strtoull(ms, NULL, 10), iso);
    json_w_cstr(w, iso);
}

static void stream_write_json(json_writer *w, const struct stream *s) {
    json_w_obj_open(w);
    json_w_key(w, "id");
    json_w_cstr(w, s->id);
    json_w_key(w, "status");
    json_w_cstr(w, s->status);
    json_w_key(w, "organization");
    json_w_cstr(w, s->org);
    json_w_key(w, "vin");
    json_w_cstr(w, s->vin);
    record_str_or_null(w, "sessionId", s->session);
    json_w_key(w, "guest");
    json_w_cstr(w, s->guest);
    record_str_or_null(w, "dealer", s->dealer);
    json_w_key(w, "offeredTo");
    json_w_arr_open(w);
    for (size_t i = 0; i < s->noffered; i++)
        json_w_cstr(w, s->offered_to[i]);
    json_w_arr_close(w);
    record_str_or_null(w, "note", s->note);
    record_str_or_null(w, "createdAt", s->created);
    record_str_or_null(w, "updatedAt", s->updated);
    time_or_null(w, "acceptBy", s->accept_by_ms);
    record_str_or_null(w, "acceptedAt", s->accepted);
    time_or_null(w, "expiresAt", s->expires_ms);
    record_str_or_null(w, "stoppedAt", s->stopped);
    record_str_or_null(w, "stoppedBy", s->stopped_by);
    record_str_or_null(w, "endedAt", s->ended);
    json_w_obj_close(w);
}

/* Sends {"stream": ..., "action": ...} to accounts and, when given, the
 * guest. */
static void notify(arena *a, const struct stream *s, const char *action, const char *const *accts,
                   size_t n, const char *guest) {
    buf b;
    buf_init(&b, a);
    json_writer w;
    json_w_init(&w, &b);
    json_w_obj_open(&w);
    json_w_key(&w, "stream");
    stream_write_json(&w, s);
    json_w_key(&w, "action");
    json_w_cstr(&w, action);
    json_w_obj_close(&w);
    for (size_t i = 0; i < n; i++)
        if (accts[i] && accts[i][0])
            events_notify("acct", accts[i], strlen(accts[i]), "stream", b.data, b.len);
    if (guest && guest[0])
        events_notify("guest", guest, strlen(guest), "stream", b.data, b.len);
}

static void respond_stream(http_request *req, int status, const struct stream *s,
                           const char *token) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "stream");
    stream_write_json(&r.w, s);
    if (token) {
        json_w_key(&r.w, "token");
        json_w_cstr(&r.w, token);
    }
    json_resp_send(req, &r, status);
}

#define NO_STREAM "No such stream"

static void not_found(http_request *req) {
    resp_error(req, 404, "not-found", NO_STREAM);
}

/* The stream id of the route, or NULL after answering 404. */
static const char *stream_param(http_request *req, size_t *len) {
    return id_param(req, len, NO_STREAM);
}

/* ---- requesting ---- */

struct request_ctx {
    http_request *req;
    char guest[37];
};

static void on_requested(redisReply *reply, int err, void *ud) {
    struct request_ctx *c = ud;
    http_request *req = c->req;
    struct stream s;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    if (!strcmp(reply->element[0]->str, "not-found")) {
        resp_error(req, 404, "not-found", "No such organization");
        return;
    }
    buf token;
    buf_init(&token, &req->arena);
    if (reply->elements != 2 || stream_from_reply(&req->arena, reply->element[1], &s) < 0 ||
        token_issue_guest(&token, c->guest, s.id) < 0) {
        resp_unavailable(req);
        return;
    }
    buf_appendc(&token, '\0');
    notify(&req->arena, &s, "requested", s.offered_to, s.noffered, NULL);
    respond_stream(req, 201, &s, token.data);
}

void streams_request(http_request *req) {
    size_t codelen;
    const char *code = http_param(req, 0, &codelen);
    json_doc doc;
    if (!code || !codelen || codelen > 64) {
        resp_error(req, 404, "not-found", "No such organization");
        return;
    }
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *vin, *session = NULL;
    size_t vinlen;
    const struct json_field fields[] = {
        {.name = "vin", .type = JSON_STRING, .required = true, .out = &vin, .len_out = &vinlen},
        {.name = "sessionId",
         .type = JSON_STRING,
         .null_ok = true,
         .min_len = 1,
         .max_len = 128,
         .chars = true,
         .out = &session},
    };
    if (handler_extract(req, &doc, fields, 2) < 0)
        return;
    struct vin_info info;
    if (vin_decode(vin, vinlen, 2000, &info) < 0) {
        handler_invalid(req, 422, "invalid", "vin",
                        "must be 17 characters of A-H, J-N, P, R-Z and 0-9");
        return;
    }
    struct request_ctx *c = arena_alloc(&req->arena, sizeof *c);
    c->req = req;
    uuid_v4(c->guest);
    char id[37], key[KEY_MAX], idx[KEY_MAX], name[96], iso[32], now[24], due[24], timeout[24];
    uuid_v4(id);
    key_entity(key, "stream", id, 36, NULL);
    snprintf(name, sizeof name, "idx:orgcode:%.*s", (int)codelen, code);
    key_named(idx, name);
    now_iso(iso);
    uint64_t ms = now_ms();
    snprintf(now, sizeof now, "%llu", (unsigned long long)ms);
    snprintf(due, sizeof due, "%llu", (unsigned long long)(ms + srv.cfg.stream_accept_timeout_ms));
    snprintf(timeout, sizeof timeout, "%llu", (unsigned long long)srv.cfg.ping_timeout_ms);
    const char *argv[] = {key, idx, keys_prefix(), id,     c->guest, vin, session ? session : "",
                          iso, now, due,           timeout};
    if (rds_eval(srv.redis, SCRIPT_stream_request, on_requested, c, 2, sizeof argv / sizeof argv[0],
                 argv, NULL) < 0)
        resp_unavailable(req);
}

/* ---- transitions ---- */

static void on_acted(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    const char *outcome = reply->element[0]->str;
    struct stream s;
    if (!strcmp(outcome, "not-found")) {
        not_found(req);
    } else if (!strcmp(outcome, "forbidden")) {
        resp_error(req, 403, "forbidden", "Not yours to do on this stream");
    } else if (!strcmp(outcome, "occupied")) {
        resp_error(req, 409, "occupied", "Another dealer accepted the stream");
    } else if (!strcmp(outcome, "busy")) {
        resp_error(req, 409, "busy", "You are streaming another stream");
    } else if (!strcmp(outcome, "conflict")) {
        resp_error(req, 409, "conflict", "Not allowed in the stream's current state");
    } else if (strcmp(outcome, "ok") || reply->elements != 3 ||
               reply->element[1]->type != REDIS_REPLY_STRING ||
               stream_from_reply(&req->arena, reply->element[2], &s) < 0) {
        resp_unavailable(req);
    } else {
        const char *what = reply->element[1]->str;
        if (!strcmp(what, "accepted")) {
            /* The shopper, and the other dealers it was offered to. */
            const char **others = arena_alloc(&req->arena, (s.noffered + 1) * sizeof *others);
            size_t n = 0;
            for (size_t i = 0; i < s.noffered; i++)
                if (strcmp(s.offered_to[i], s.dealer) != 0)
                    others[n++] = s.offered_to[i];
            notify(&req->arena, &s, what, others, n, s.guest);
        } else if (!strcmp(what, "stopped") && req->guest) {
            if (s.dealer[0])
                notify(&req->arena, &s, what, &s.dealer, 1, NULL);
            else
                notify(&req->arena, &s, what, s.offered_to, s.noffered, NULL);
        } else if (!strcmp(what, "stopped") || !strcmp(what, "completed")) {
            /* A dealer did it: the other party is the shopper. */
            notify(&req->arena, &s, what, NULL, 0, s.guest);
        }
        respond_stream(req, 200, &s, NULL);
    }
}

/* Runs stream_act.lua as the caller. */
static void act(http_request *req, const char *action, const char *arg) {
    size_t idlen;
    const char *id = stream_param(req, &idlen);
    if (!id)
        return;
    const char *me, *role, *org = "";
    if (req->guest) {
        me = req->guest->id;
        role = strncmp(req->guest->stream, id, idlen) == 0 ? "guest" : "other";
    } else {
        me = req->account->id;
        role = strcmp(req->account->type, "dealer") == 0 ? "dealer" : "other";
        org = req->account->organization;
    }
    char key[KEY_MAX], iso[32], now[24];
    key_entity(key, "stream", id, idlen, NULL);
    now_iso(iso);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    const char *argv[9] = {key, keys_prefix(), action, me, role, org, iso, now, arg};
    if (rds_eval(srv.redis, SCRIPT_stream_act, on_acted, req, 1, 9, argv, NULL) < 0)
        resp_unavailable(req);
}

void streams_accept(http_request *req) {
    char due[24];
    snprintf(due, sizeof due, "%llu", (unsigned long long)(now_ms() + srv.cfg.ping_timeout_ms));
    act(req, "accept", due);
}

void streams_stop(http_request *req) {
    act(req, "stop", "");
}

void streams_note(http_request *req) {
    json_doc doc;
    if (stream_param(req, &(size_t){0}) == NULL || handler_parse_json(req, &doc) < 0)
        return;
    const char *note;
    const struct json_field fields[] = {
        {.name = "note",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 4000,
         .chars = true,
         .out = &note},
    };
    if (handler_extract(req, &doc, fields, 1) < 0)
        return;
    act(req, "note", note);
}

/* ---- pings ---- */

static void on_pinged(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    const char *outcome = reply->element[0]->str;
    if (auth_refused(req, outcome))
        return;
    if (!strcmp(outcome, "forbidden")) {
        resp_error(req, 403, "forbidden", "Only dealers ping");
        return;
    }
    if (reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_INTEGER) {
        resp_unavailable(req);
        return;
    }
    char iso[32], body[96];
    ms_iso((uint64_t)reply->element[1]->integer, iso);
    snprintf(body, sizeof body, "{\"status\":\"ok\",\"expiresAt\":\"%s\"}", iso);
    resp_json_str(req, 200, body);
}

/* The token's claims only (AUTH_CLAIMS): the script checks them with the
 * account and pings, in one round trip. */
void streams_ping(http_request *req) {
    const struct claims *cl = req->claims;
    char key[KEY_MAX], revoked[KEY_MAX], gen[24], now[24], timeout[24];
    size_t lens[7];
    lens[0] = key_entity(key, "acct", cl->sub, cl->sublen, NULL);
    lens[1] = token_revoked_key(revoked, cl->jti, cl->jtilen);
    snprintf(gen, sizeof gen, "%lld", (long long)cl->gen);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    snprintf(timeout, sizeof timeout, "%llu", (unsigned long long)srv.cfg.ping_timeout_ms);
    const char *argv[7] = {key, revoked, keys_prefix(), cl->sub, gen, now, timeout};
    for (size_t i = 2; i < 7; i++)
        lens[i] = i == 3 ? cl->sublen : strlen(argv[i]);
    if (rds_eval(srv.redis, SCRIPT_stream_ping, on_pinged, req, 2, 7, argv, lens) < 0)
        resp_unavailable(req);
}

/* ---- reading ---- */

/* Dealers of the stream's organization, its guest and admins see it. */
static bool may_see(const http_request *req, const struct stream *s) {
    if (req->guest)
        return strcmp(req->guest->stream, s->id) == 0;
    const struct account *me = req->account;
    return account_is_admin(me) || (!strcmp(me->type, "dealer") && me->organization[0] &&
                                    !strcmp(me->organization, s->org));
}

static void on_stream(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct stream s;
    if (stream_from_reply(&req->arena, reply, &s) < 0 || !may_see(req, &s)) {
        not_found(req);
        return;
    }
    respond_stream(req, 200, &s, NULL);
}

void streams_get(http_request *req) {
    size_t idlen;
    const char *id = stream_param(req, &idlen);
    if (!id)
        return;
    char key[KEY_MAX];
    key_entity(key, "stream", id, idlen, NULL);
    if (rds_command(srv.redis, on_stream, req, "HGETALL %s", key) < 0)
        resp_unavailable(req);
}

static bool write_listed(json_writer *w, arena *a, const redisReply *entity) {
    struct stream s;
    if (stream_from_reply(a, entity, &s) < 0)
        return false;
    stream_write_json(w, &s);
    return true;
}

static void on_list(redisReply *reply, int err, void *ud) {
    record_page_respond(ud, reply, err, "streams", write_listed);
}

void streams_list(http_request *req) {
    const struct account *me = req->account;
    char key[KEY_MAX];
    if (account_is_admin(me)) {
        key_named(key, "streams:all");
    } else if (!strcmp(me->type, "dealer") && me->organization[0]) {
        key_entity(key, "org", me->organization, strlen(me->organization), ":streams");
    } else {
        resp_error(req, 403, "forbidden", "Only an organization's dealers list its streams");
        return;
    }
    record_page(req, key, "stream", statuses, sizeof statuses / sizeof statuses[0], on_list);
}

/* ---- deadlines ---- */

/* A stream's deadline fired: it is now `missed` or `expired`. */
static void expired(arena *a, const char *what, const redisReply *entity) {
    struct stream s;
    if (stream_from_reply(a, entity, &s) < 0)
        return;
    if (!strcmp(what, "missed"))
        notify(a, &s, "missed", s.offered_to, s.noffered, s.guest);
    else
        notify(a, &s, "expired", &s.dealer, 1, s.guest);
}

static const struct record_expiry stream_expiry = {STREAM_KIND, SCRIPT_stream_expire, expired};

int streams_init(void) {
    return record_expiry_register(&stream_expiry);
}
