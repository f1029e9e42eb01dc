/* The dashboard's telemetry queries (API.md §6.3, docs/telemetry.md
 * "Queries"): conferences, their events, issues and quality summary,
 * participants, sessions and search.  Each request is checked here (its
 * filters and paging, 400 missing_parameters / invalid_parameters) and then
 * answered by one call of tm_query.lua, which checks who may see what and
 * writes the response's JSON; another organization's object is 404.  A page
 * of events is the exception: the script locates it, and this file reads it
 * (one XRANGE) and writes its JSON, which costs the store far less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "handlers/telemetry.h"

#define LIMIT_DEFAULT "50"
#define LIMIT_MAX 200
#define OFFSET_MAX 1000000000L
#define SEARCH_MAX_CHARS 64
#define PARAMS_MAX 8

static void not_found(http_request *req, const char *what) {
    char msg[48];
    snprintf(msg, sizeof msg, "No such %s", what);
    tm_error(req, 404, "not-found", msg);
}

/* The stored name of an event's field and its name in the answer. */
static const char *const event_names[][2] = {{"c", "category"},   {"t", "type"},
                                             {"s", "session"},    {"p", "participant"},
                                             {"n", "connection"}, {"r", "peerId"}};

/* One stream entry [id, [field, value, ...]] as an event object: the stored
 * `d` (the SDK's own JSON) embedded as it is, `at` as a number. */
static void event_write(json_writer *w, const redisReply *e) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    const redisReply *f = e->element[1];
    json_w_obj_open(w);
    json_w_key(w, "id");
    json_w_str(w, e->element[0]->str, e->element[0]->len);
    const redisReply *data = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (!strcmp(k->str, "d")) {
            data = v;
        } else if (!strcmp(k->str, "at")) {
            json_w_key(w, "at");
            if (v->len && strspn(v->str, "0123456789.") == v->len)
                json_w_raw(w, v->str, v->len);
            else
                json_w_null(w);
        } else {
            for (size_t n = 0; n < sizeof event_names / sizeof event_names[0]; n++)
                if (!strcmp(k->str, event_names[n][0])) {
                    json_w_key(w, event_names[n][1]);
                    json_w_str(w, v->str, v->len);
                }
        }
    }
    json_w_key(w, "data");
    if (data)
        json_w_raw(w, data->str, data->len);
    else
        json_w_null(w);
    json_w_obj_close(w);
}

/* Answers {"data":[event, ...], "count":N, "next": the last event's id when
 * the page is full (continue with ?after=), else null} from stream entries,
 * leaving out the first `skip`. */
static void events_respond(http_request *req, const redisReply *page, size_t skip, long long count,
                           size_t limit) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "data");
    json_w_arr_open(&r.w);
    for (size_t i = skip; i < page->elements; i++)
        event_write(&r.w, page->element[i]);
    json_w_arr_close(&r.w);
    json_w_key(&r.w, "count");
    json_w_int(&r.w, count);
    json_w_key(&r.w, "next");
    const redisReply *last = page->elements ? page->element[page->elements - 1] : NULL;
    if (page->elements > skip && page->elements - skip == limit &&
        last->type == REDIS_REPLY_ARRAY && last->elements == 2)
        json_w_str(&r.w, last->element[0]->str, last->element[0]->len);
    else
        json_w_null(&r.w);
    json_resp_send(req, &r, 200);
}

/* A page of events the script located: read here, not through Lua. */
struct range_ctx {
    http_request *req;
    size_t skip, limit;
    long long count;
};

static void on_range(redisReply *reply, int err, void *ud) {
    struct range_ctx *c = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(c->req);
        return;
    }
    events_respond(c->req, reply, c->skip, c->count, c->limit);
}

/* {'range', stream, start, skip, count, limit}: XRANGE stream start + COUNT
 * skip+limit. */
static void events_range(http_request *req, const redisReply *reply) {
    struct range_ctx *c = arena_calloc(&req->arena, sizeof *c);
    c->req = req;
    c->skip = (size_t)reply->element[3]->integer;
    c->count = reply->element[4]->integer;
    c->limit = (size_t)reply->element[5]->integer;
    char n[24];
    snprintf(n, sizeof n, "%zu", c->skip + c->limit);
    const char *argv[] = {"XRANGE", reply->element[1]->str, reply->element[2]->str, "+", "COUNT",
                          n};
    if (rds_command_argv(srv.redis, on_range, c, 6, argv, NULL) < 0)
        resp_unavailable(req);
}

/* Whether every element of reply[from..] is an integer. */
static bool integers_from(const redisReply *reply, size_t from) {
    for (size_t i = from; i < reply->elements; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER)
            return false;
    return true;
}

static void on_query(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (!err && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        const char *what = reply->element[0]->str;
        if (!strcmp(what, "events") && reply->elements == 4 &&
            reply->element[1]->type == REDIS_REPLY_INTEGER &&
            reply->element[2]->type == REDIS_REPLY_ARRAY && integers_from(reply, 3)) {
            events_respond(req, reply->element[2], 0, reply->element[1]->integer,
                           (size_t)reply->element[3]->integer);
            return;
        }
        if (!strcmp(what, "range") && reply->elements == 6 &&
            reply->element[1]->type == REDIS_REPLY_STRING &&
            reply->element[2]->type == REDIS_REPLY_STRING && integers_from(reply, 3)) {
            events_range(req, reply);
            return;
        }
    }
    if (!err && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        const char *outcome = reply->element[0]->str;
        const redisReply *v = reply->element[1];
        if (!strcmp(outcome, "ok")) {
            resp_send(req, 200, "application/json; charset=utf-8", NULL, v->str, v->len);
            return;
        }
        if (!strcmp(outcome, "not-found")) {
            not_found(req, v->str);
            return;
        }
    }
    tm_reply_check(req, reply, err);
}

/* Runs tm_query.lua's `action` for the caller with params[0..n). */
static void query_run(http_request *req, const char *action, int n, const char **params) {
    const struct account *me = req->account;
    const char *argv[5 + PARAMS_MAX] = {me->id, account_is_admin(me) ? "1" : "0", me->organization,
                                        account_can_log_in(me) ? "1" : "0", action};
    for (int i = 0; i < n; i++)
        argv[5 + i] = params[i];
    tm_eval(req, SCRIPT_tm_query, on_query, req, 5 + n, argv, NULL);
}

/* A whole number in [min, max] as text: 0, or -1 when it is not one. */
static int parse_whole(const char *v, long min, long max, long *out) {
    char *end;
    if (!*v || *v == '-' || *v == '+' || *v == ' ')
        return -1;
    *out = strtol(v, &end, 10);
    return *end || *out < min || *out > max ? -1 : 0;
}

/* ?limit (1..200, default 50) and ?offset (>= 0) as script arguments;
 * answers 400 invalid_parameters itself (-1). */
static int paging(http_request *req, const char **limit, const char **offset) {
    const char *v;
    long n;
    *limit = LIMIT_DEFAULT;
    *offset = "0";
    if (http_query(req, "limit", &v, NULL) == 0) {
        if (parse_whole(v, 1, LIMIT_MAX, &n) < 0) {
            tm_invalid(req, "limit: 1..200");
            return -1;
        }
        *limit = v;
    }
    if (http_query(req, "offset", &v, NULL) == 0) {
        if (parse_whole(v, 0, OFFSET_MAX, &n) < 0) {
            tm_invalid(req, "offset: a whole number >= 0");
            return -1;
        }
        *offset = v;
    }
    return 0;
}

/* A query parameter that names a server id: 1 (set), 0 (absent), -1 after
 * answering 400 invalid_parameters (empty or not a UUID). */
static int id_query(http_request *req, const char *name, const char **out) {
    size_t len;
    *out = "";
    if (http_query(req, name, out, &len) < 0)
        return 0;
    if (!is_uuid(*out, len)) {
        tm_invalid(req, name);
        return -1;
    }
    return 1;
}

/* A time as ms since the epoch from unix ms ("1700000000000") or ISO 8601
 * UTC ("2026-11-23T17:00:00Z", "…:00.250Z", or a date "2026-11-23").
 * Returns 0, or -1 when it is neither. */
static int parse_time(const char *v, long long *ms) {
    char *end;
    if (*v >= '0' && *v <= '9' && strspn(v, "0123456789") == strlen(v) && strlen(v) <= 15) {
        *ms = strtoll(v, &end, 10);
        return 0;
    }
    struct tm tm = {0};
    int frac = 0, used = 0;
    size_t len = strlen(v);
    if (len == 10 && sscanf(v, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &used) == 3 &&
        used == 10) {
    } else if (sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) == 6 &&
               used == 19) {
        const char *rest = v + used;
        if (rest[0] == '.') {
            int digits = (int)strspn(rest + 1, "0123456789");
            if (digits < 1 || digits > 9)
                return -1;
            for (int i = 0; i < 3; i++)
                frac = frac * 10 + (i < digits ? rest[1 + i] - '0' : 0);
            rest += 1 + digits;
        }
        if (strcmp(rest, "Z") != 0)
            return -1;
    } else {
        return -1;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0)
        return -1;
    *ms = (long long)t * 1000 + frac;
    return 0;
}

/* ?created_at_gte|gt|lte|lt as a ZRANGEBYSCORE range ("[min" inclusive is
 * the bare number, exclusive "(n").  Returns how many were given, or -1
 * after answering 400 invalid_parameters. */
static int time_range(http_request *req, const char **min, const char **max) {
    static const struct {
        const char *name;
        bool lower, exclusive;
    } bounds[] = {{"created_at_gte", true, false},
                  {"created_at_gt", true, true},
                  {"created_at_lte", false, false},
                  {"created_at_lt", false, true}};
    long long lo = -1, hi = -1;
    bool lo_ex = false, hi_ex = false;
    int given = 0;
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        const char *v;
        long long ms;
        if (http_query(req, bounds[i].name, &v, NULL) < 0)
            continue;
        if (parse_time(v, &ms) < 0) {
            tm_invalid(req, bounds[i].name);
            return -1;
        }
        given++;
        /* Two bounds on one side: the tighter wins. */
        if (bounds[i].lower && (lo < 0 || ms > lo || (ms == lo && bounds[i].exclusive)))
            lo = ms, lo_ex = bounds[i].exclusive;
        if (!bounds[i].lower && (hi < 0 || ms < hi || (ms == hi && bounds[i].exclusive)))
            hi = ms, hi_ex = bounds[i].exclusive;
    }
    char *smin = arena_alloc(&req->arena, 24), *smax = arena_alloc(&req->arena, 24);
    if (lo < 0)
        strcpy(smin, "-inf");
    else
        snprintf(smin, 24, "%s%lld", lo_ex ? "(" : "", lo);
    if (hi < 0)
        strcpy(smax, "+inf");
    else
        snprintf(smax, 24, "%s%lld", hi_ex ? "(" : "", hi);
    *min = smin, *max = smax;
    return given;
}

/* The id filters `names` into out[0..n) ("" when absent).  Returns how
 * many were given, or -1 after answering 400 invalid_parameters. */
static int id_filters(http_request *req, const char *const *names, int n, const char **out) {
    int given = 0;
    for (int i = 0; i < n; i++) {
        int r = id_query(req, names[i], &out[i]);
        if (r < 0)
            return -1;
        given += r;
    }
    return given;
}

void tmq_conferences(http_request *req) {
    static const char *const names[] = {"appId", "participantId"};
    const char *p[6]; /* appId, participantId, min, max, offset, limit */
    int given = id_filters(req, names, 2, p);
    if (given < 0)
        return;
    int t = time_range(req, &p[2], &p[3]);
    if (t < 0 || paging(req, &p[5], &p[4]) < 0)
        return;
    if (given + t == 0) {
        tm_missing(req, "filter: appId, participantId or created_at_*");
        return;
    }
    query_run(req, "conferences", 6, p);
}

/* The path's :id when it is a server id, or NULL after answering 404 (these
 * routes' error body) naming `what`. */
static const char *path_id(http_request *req, const char *what) {
    size_t len;
    const char *id = http_param(req, 0, &len);
    if (!id || !is_uuid(id, len)) {
        not_found(req, what);
        return NULL;
    }
    return id;
}

/* The routes about one object named by the path's :id. */
static void one(http_request *req, const char *action, const char *what) {
    const char *id = path_id(req, what);
    if (id)
        query_run(req, action, 1, &id);
}

void tmq_conference(http_request *req) {
    one(req, "conference", "conference");
}

void tmq_summary(http_request *req) {
    one(req, "summary", "conference");
}

void tmq_participant(http_request *req) {
    one(req, "participant", "participant");
}

void tmq_session(http_request *req) {
    one(req, "session", "session");
}

void tmq_issues(http_request *req) {
    const char *id = path_id(req, "conference"), *limit, *offset;
    if (!id || paging(req, &limit, &offset) < 0)
        return;
    const char *params[] = {id, offset, limit};
    query_run(req, "issues", 3, params);
}

/* A stream entry id, "<ms>-<seq>". */
static bool is_stream_id(const char *s) {
    size_t ms = strspn(s, "0123456789");
    return ms >= 1 && ms <= 20 && s[ms] == '-' && strspn(s + ms + 1, "0123456789") >= 1 &&
           strspn(s + ms + 1, "0123456789") <= 20 && !s[ms + 1 + strspn(s + ms + 1, "0123456789")];
}

void tmq_events(http_request *req) {
    const char *id = path_id(req, "conference"), *limit, *offset;
    if (!id || paging(req, &limit, &offset) < 0)
        return;
    const char *type, *after = "";
    size_t tlen;
    char *filter = "";
    if (http_query(req, "type", &type, &tlen) == 0) {
        bool exclude = type[0] == '-';
        if (tlen - exclude < 1 || tlen - exclude > 64) {
            tm_invalid(req, "type");
            return;
        }
        filter = arena_alloc(&req->arena, tlen + 2);
        filter[0] = exclude ? '-' : '+';
        memcpy(filter + 1, type + exclude, tlen - exclude + 1);
    }
    if (http_query(req, "after", &after, NULL) == 0 && !is_stream_id(after)) {
        tm_invalid(req, "after: an event id");
        return;
    }
    const char *params[] = {id, filter, offset, limit, after};
    query_run(req, "events", 5, params);
}

/* A list that needs at least one of the id filters `names`: the script's
 * `action` gets them, then offset and limit. */
static void filtered_list(http_request *req, const char *action, const char *const *names, int n,
                          const char *missing) {
    const char *p[PARAMS_MAX];
    int given = id_filters(req, names, n, p);
    if (given < 0 || paging(req, &p[n + 1], &p[n]) < 0)
        return;
    if (!given) {
        tm_missing(req, missing);
        return;
    }
    query_run(req, action, n + 2, p);
}

void tmq_participants(http_request *req) {
    static const char *const names[] = {"appId", "conferenceId"};
    filtered_list(req, "participants", names, 2, "filter: appId or conferenceId");
}

void tmq_sessions(http_request *req) {
    static const char *const names[] = {"appId", "conferenceId", "participantId"};
    filtered_list(req, "sessions", names, 3, "filter: conferenceId, participantId or appId");
}

void tmq_search(http_request *req) {
    const char *q;
    size_t len;
    if (http_query(req, "query", &q, &len) < 0 || len < 1) {
        tm_invalid(req, "query: 1 to 64 characters");
        return;
    }
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)q[i] & 0xC0) != 0x80;
    if (chars > SEARCH_MAX_CHARS || memchr(q, '\0', len)) {
        tm_invalid(req, "query: 1 to 64 characters");
        return;
    }
    char *lower = arena_strndup(&req->arena, q, len);
    for (char *s = lower; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    const char *params[] = {lower};
    query_run(req, "search", 1, params);
}
