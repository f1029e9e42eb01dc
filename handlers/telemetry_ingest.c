/* The telemetry SDK's routes (API.md §6.1, docs/telemetry.md): /initialize,
 * /sessions and the event routes.  Each request is checked here against the
 * contract (JSON once, tokens without the store), then makes one script call
 * that stores its events' raw JSON slices, cut from the body, and applies
 * their effects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "handlers/plans.h"
#include "handlers/telemetry.h"
#include "protocol/rtcstats.h"

#define TM_ID_MAX 64 /* ids and names of /initialize, characters */
#define META_KEYS_MAX 5
#define META_KEY_MAX 64
#define META_STRING_MAX 127

/* ---- /initialize ---- */

/* The Origin header's host, lowercased ("" when absent or unreadable). */
static const char *origin_host(http_request *req) {
    size_t n;
    const char *v = http_header(req, "origin", &n);
    if (!v)
        return "";
    for (size_t i = 0; i + 3 <= n; i++)
        if (!memcmp(v + i, "://", 3)) {
            v += i + 3;
            n -= i + 3;
            break;
        }
    size_t h = 0;
    if (n && v[0] == '[') { /* [IPv6]:port */
        while (h < n && v[h] != ']')
            h++;
        h += h < n;
    } else {
        while (h < n && v[h] != ':' && v[h] != '/')
            h++;
    }
    char *out = arena_strndup(&req->arena, v, h);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

static void on_initialized(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (tm_reply_check(req, reply, err) < 0)
        return;
    if (reply->elements < 5) {
        resp_unavailable(req);
        return;
    }
    struct tm_claims c = {0};
    snprintf(c.app, sizeof c.app, "%s", reply->element[1]->str);
    snprintf(c.conference, sizeof c.conference, "%s", reply->element[2]->str);
    snprintf(c.participant, sizeof c.participant, "%s", reply->element[3]->str);
    struct json_resp r;
    json_resp_begin(req, &r);
    buf tok;
    buf_init(&tok, &req->arena);
    if (tm_token_issue(&tok, TM_INIT, &c) < 0) {
        resp_unavailable(req);
        return;
    }
    json_w_key(&r.w, "token");
    json_w_str(&r.w, tok.data, tok.len);
    json_w_key(&r.w, "getStatsInterval");
    json_w_int(&r.w, strtoll(reply->element[4]->str, NULL, 10));
    json_w_key(&r.w, "batchConnectionEvents");
    json_w_bool(&r.w, false);
    json_w_key(&r.w, "time");
    json_w_double(&r.w, (double)now_ms() / 1000.0);
    json_resp_send(req, &r, 200);
}

void tm_initialize(http_request *req) {
    json_doc doc;
    if (tm_parse(req, &doc) < 0)
        return;
    /* The checks of API.md §6.1, in their order. */
    static const char *const required[] = {"apiKey", "conferenceId", "userId"};
    for (size_t i = 0; i < 3; i++) {
        int t = json_get(&doc, 0, required[i]);
        if (t < 0 || json_type(&doc, t) == JSON_NULL ||
            (json_type(&doc, t) == JSON_STRING && doc.tok[t].end == doc.tok[t].start)) {
            tm_missing(req, required[i]);
            return;
        }
    }
    static const char *const names[] = {"apiKey", "conferenceId", "userId", "conferenceName",
                                        "userName"};
    const char *v[5];
    size_t len[5];
    for (size_t i = 0; i < 5; i++)
        if (tm_member_str(req, &doc, 0, names[i], &v[i], &len[i]) < 0 ||
            json_utf8_chars(v[i], len[i]) > TM_ID_MAX) {
            tm_invalid(req, names[i]);
            return;
        }
    /* A retried /initialize carries its delay too: it backdates a new
     * conference's creation. */
    double delta;
    if (tm_member_delta(&doc, 0, "delta", &delta) < 0) {
        tm_invalid(req, "delta");
        return;
    }
    bool key_ok = len[0] == 32;
    for (size_t i = 0; key_ok && i < 32; i++)
        key_ok = (v[0][i] >= 'a' && v[0][i] <= 'z') || (v[0][i] >= '0' && v[0][i] <= '9');
    if (!key_ok) {
        tm_error(req, 400, "invalid_api_key", "The apiKey names no active app");
        return;
    }
    char conf[37], par[37], month[8], at[24];
    uuid_v4(conf);
    uuid_v4(par);
    plans_month(now_ms(), month);
    snprintf(at, sizeof at, "%llu", (unsigned long long)tm_backdate(delta));
    const char *argv[11] = {v[0], origin_host(req),          v[1],  v[3], v[2], v[4], conf,
                            par,  plans_conference_limits(), month, at};
    size_t lens[11] = {len[0], strlen(argv[1]), len[1],        len[3],    len[2], len[4], 36,
                       36,     strlen(argv[8]), strlen(month), strlen(at)};
    tm_eval(req, SCRIPT_tm_initialize, on_initialized, req, 11, argv, lens);
}

/* ---- /sessions ---- */

/* meta: an object of at most 5 keys of at most 64 characters, each value a
 * string shorter than 128 characters, a number or a boolean. */
static bool meta_valid(http_request *req, const json_doc *doc, int t) {
    if (json_type(doc, t) == JSON_NULL)
        return true;
    if (json_type(doc, t) != JSON_OBJECT || doc->tok[t].size > META_KEYS_MAX)
        return false;
    for (int k = t + 1; k < json_next(doc, t); k = json_next(doc, k + 1)) {
        const char *s;
        size_t n;
        if (json_string(doc, k, &req->arena, &s, &n) < 0 || json_utf8_chars(s, n) > META_KEY_MAX)
            return false;
        enum json_type vt = json_type(doc, k + 1);
        if (vt == JSON_STRING && (json_string(doc, k + 1, &req->arena, &s, &n) < 0 ||
                                  json_utf8_chars(s, n) > META_STRING_MAX))
            return false;
        if (vt != JSON_STRING && vt != JSON_NUMBER && vt != JSON_BOOL)
            return false;
    }
    return true;
}

/* The session fields a body may carry, stored as their raw JSON. */
static const char *const session_fields[] = {"platform",   "constraints", "devices",
                                             "appVersion", "meta",        "webrtcSdk"};
#define NSESSION_FIELDS (sizeof session_fields / sizeof session_fields[0])

/* Appends (field, raw JSON) for each of `fields` present in the body. */
static int raw_fields(const json_doc *doc, const char *const *fields, size_t n, const char **argv,
                      size_t *lens) {
    int argc = 0;
    for (size_t i = 0; i < n; i++) {
        int t = json_get(doc, 0, fields[i]);
        if (t < 0)
            continue;
        argv[argc] = fields[i];
        lens[argc++] = strlen(fields[i]);
        json_raw(doc, t, &argv[argc], &lens[argc]);
        argc++;
    }
    return argc;
}

struct session_ctx {
    http_request *req;
    struct tm_claims claims;
};

static void on_session_created(redisReply *reply, int err, void *ud) {
    struct session_ctx *c = ud;
    http_request *req = c->req;
    if (tm_reply_check(req, reply, err) < 0)
        return;
    buf tok;
    buf_init(&tok, &req->arena);
    if (tm_token_issue(&tok, TM_SESSION, &c->claims) < 0) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "token");
    json_w_str(&r.w, tok.data, tok.len);
    json_resp_send(req, &r, 200);
}

/* The arguments common to both calls: op, app, conference, participant,
 * session, the sessions that make multiple_rejoins, the session's start (ms;
 * "" for an update). */
#define SESSION_ARGS 7
static int session_args(const struct tm_claims *c, const char *op, const char *start,
                        const char **argv, size_t *lens) {
    static char rejoins[12];
    snprintf(rejoins, sizeof rejoins, "%d", RTC_MULTIPLE_REJOINS_SESSIONS);
    const char *args[SESSION_ARGS] = {op,         c->app,  c->conference, c->participant,
                                      c->session, rejoins, start};
    for (int i = 0; i < SESSION_ARGS; i++) {
        argv[i] = args[i];
        lens[i] = strlen(args[i]);
    }
    return SESSION_ARGS;
}

void tm_sessions_create(http_request *req) {
    struct session_ctx *c = arena_calloc(&req->arena, sizeof *c);
    c->req = req;
    json_doc doc;
    if (tm_begin(req, &doc, TM_INIT, &c->claims) < 0)
        return;
    int meta = json_get(&doc, 0, "meta");
    if (meta >= 0 && !meta_valid(req, &doc, meta)) {
        tm_error(req, 400, "invalid_meta",
                 "meta: at most 5 keys of at most 64 characters; values strings shorter than "
                 "128 characters, numbers or booleans");
        return;
    }
    /* A retried POST /sessions carries its delay: the session started then. */
    double delta;
    if (tm_member_delta(&doc, 0, "delta", &delta) < 0) {
        tm_invalid(req, "delta");
        return;
    }
    char start[24];
    snprintf(start, sizeof start, "%llu", (unsigned long long)tm_backdate(delta));
    uuid_v4(c->claims.session);
    const char *argv[SESSION_ARGS + 2 * NSESSION_FIELDS];
    size_t lens[SESSION_ARGS + 2 * NSESSION_FIELDS];
    int argc = session_args(&c->claims, "create", start, argv, lens);
    argc += raw_fields(&doc, session_fields, NSESSION_FIELDS, argv + argc, lens + argc);
    tm_eval(req, SCRIPT_tm_session, on_session_created, c, argc, argv, lens);
}

/* A hash's value for `name` in an HGETALL reply, or NULL. */
static const redisReply *hash_value(const redisReply *flat, const char *name) {
    for (size_t i = 0; i + 1 < flat->elements; i += 2)
        if (!strcmp(flat->element[i]->str, name))
            return flat->element[i + 1];
    return NULL;
}

/* "key": the ms time of hash field `field` as ISO 8601, or null. */
static void write_time(json_writer *w, const redisReply *flat, const char *key, const char *field) {
    const redisReply *v = hash_value(flat, field);
    json_w_key(w, key);
    if (!v) {
        json_w_null(w);
        return;
    }
    char iso[32];
    ms_iso(strtoull(v->str, NULL, 10), iso);
    json_w_cstr(w, iso);
}

/* "key": hash field `field` as a string, or null. */
static void write_str(json_writer *w, const redisReply *flat, const char *key, const char *field) {
    const redisReply *v = hash_value(flat, field);
    json_w_key(w, key);
    if (v)
        json_w_str(w, v->str, v->len);
    else
        json_w_null(w);
}

static void on_session_updated(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (tm_reply_check(req, reply, err) < 0)
        return;
    const redisReply *s = reply->elements > 1 ? reply->element[1] : NULL;
    if (!s || s->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "data");
    json_w_obj_open(&r.w);
    write_str(&r.w, s, "id", "id");
    write_str(&r.w, s, "conference", "conference");
    write_str(&r.w, s, "participant", "participant");
    write_str(&r.w, s, "app", "app");
    for (size_t i = 0; i < NSESSION_FIELDS; i++) {
        const redisReply *v = hash_value(s, session_fields[i]);
        json_w_key(&r.w, session_fields[i]);
        if (v)
            json_w_raw(&r.w, v->str, v->len); /* the JSON the SDK sent, validated then */
        else
            json_w_null(&r.w);
    }
    write_time(&r.w, s, "start", "startMs");
    write_time(&r.w, s, "end", "endMs");
    const redisReply *ongoing = hash_value(s, "ongoing");
    json_w_key(&r.w, "ongoing");
    json_w_bool(&r.w, ongoing && ongoing->str[0] == '1');
    json_w_obj_close(&r.w);
    json_resp_send(req, &r, 200);
}

void tm_sessions_update(http_request *req) {
    static const char *const updatable[] = {"devices", "webrtcSdk", "constraints", "platform"};
    struct tm_claims c;
    json_doc doc;
    if (tm_begin(req, &doc, TM_SESSION, &c) < 0)
        return;
    const char *argv[SESSION_ARGS + 2 * 4];
    size_t lens[SESSION_ARGS + 2 * 4];
    int argc = session_args(&c, "update", "", argv, lens);
    argc += raw_fields(&doc, updatable, 4, argv + argc, lens + argc);
    tm_eval(req, SCRIPT_tm_session, on_session_updated, req, argc, argv, lens);
}
