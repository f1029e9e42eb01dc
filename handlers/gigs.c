/* Gigs (API.md §4, docs/gigs.md): the operators' map, requests, every
 * transition of the lifecycle, lists, and the deadlines that expire gigs.
 *
 * Each change is one script (gig_create.lua, gig_act.lua, gig_expire.lua)
 * that checks roles and state and writes atomically; this file validates
 * input, shapes answers and tells the other party (handlers/events). */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "handlers/map.h"
#include "handlers/records.h"
#include "handlers/media.h"
#include "storage/keys.h"
#include "storage/reaper.h"

#define GIG_KIND "gig" /* reaper kind: the gig's current deadline */

/* ---- the gig object ---- */

/* A gig hash as its fields' values; "" for an absent field. */
struct gig {
    const char *id, *status, *lat, *lon, *device, *customer, *operator, * offered;
    const char *hs_c, *hs_o, *rate_c, *rate_o, *created, *updated, *started, *stopped;
    const char *started_ms, *stopped_ms;
    const char *offered_to[MAP_MAX]; /* `offered`, split */
    size_t noffered;
    const char *json; /* the gig object once written (gig_write_json), or NULL */
    size_t json_len;
};

static const struct record_field gig_fields[] = {
    {"id", offsetof(struct gig, id)},
    {"status", offsetof(struct gig, status)},
    {"lat", offsetof(struct gig, lat)},
    {"lon", offsetof(struct gig, lon)},
    {"deviceId", offsetof(struct gig, device)},
    {"customer", offsetof(struct gig, customer)},
    {"operator", offsetof(struct gig, operator)},
    {"offered", offsetof(struct gig, offered)},
    {"hsC", offsetof(struct gig, hs_c)},
    {"hsO", offsetof(struct gig, hs_o)},
    {"rateC", offsetof(struct gig, rate_c)},
    {"rateO", offsetof(struct gig, rate_o)},
    {"createdAt", offsetof(struct gig, created)},
    {"updatedAt", offsetof(struct gig, updated)},
    {"startedAt", offsetof(struct gig, started)},
    {"stoppedAt", offsetof(struct gig, stopped)},
    {"startedMs", offsetof(struct gig, started_ms)},
    {"stoppedMs", offsetof(struct gig, stopped_ms)},
};
#define NGIG_FIELDS (sizeof gig_fields / sizeof gig_fields[0])

/* Reads an HGETALL reply; -1 when it is not a gig.  Strings point into the
 * reply, or the arena. */
static int gig_from_reply(arena *a, const redisReply *flat, struct gig *g) {
    g->noffered = 0;
    g->json = NULL;
    if (record_read(gig_fields, NGIG_FIELDS, flat, g) < 0)
        return -1;
    g->noffered = record_split(a, g->offered, g->offered_to, MAP_MAX);
    return g->id[0] ? 0 : -1;
}

/* Whether s is a JSON number of the form -?digits[.digits] (as create()
 * stores coordinates: "%.7f"). */
static bool is_plain_decimal(const char *s) {
    s += *s == '-';
    if (!isdigit((unsigned char)*s) || (s[0] == '0' && isdigit((unsigned char)s[1])))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    return *s == '\0';
}

/* A stored coordinate, copied as it is (reading and formatting it again
 * took 3.5% of onair's CPU in bench/run.sh gig_lifecycle); anything else,
 * read and written. */
static void number(json_writer *w, const char *key, const char *v) {
    json_w_key(w, key);
    if (is_plain_decimal(v))
        json_w_raw(w, v, strlen(v));
    else
        json_w_double(w, strtod(v, NULL));
}

static void rating_or_null(json_writer *w, const char *key, const char *v) {
    json_w_key(w, key);
    if (v[0])
        json_w_int(w, strtol(v, NULL, 10));
    else
        json_w_null(w);
}

/* The gig object of API.md §4.2. */
static void gig_render(json_writer *w, const struct gig *g) {
    json_w_obj_open(w);
    json_w_key(w, "id");
    json_w_cstr(w, g->id);
    json_w_key(w, "status");
    json_w_cstr(w, g->status);
    number(w, "latitude", g->lat);
    number(w, "longitude", g->lon);
    record_str_or_null(w, "deviceId", g->device);
    record_str_or_null(w, "customer", g->customer);
    record_str_or_null(w, "operator", g->operator);
    json_w_key(w, "offeredTo");
    json_w_arr_open(w);
    for (size_t i = 0; i < g->noffered; i++)
        json_w_cstr(w, g->offered_to[i]);
    json_w_arr_close(w);
    json_w_key(w, "handshakes");
    json_w_obj_open(w);
    json_w_key(w, "customer");
    json_w_bool(w, strcmp(g->hs_c, "1") == 0);
    json_w_key(w, "operator");
    json_w_bool(w, strcmp(g->hs_o, "1") == 0);
    json_w_obj_close(w);
    json_w_key(w, "ratings");
    json_w_obj_open(w);
    rating_or_null(w, "customer", g->rate_c);
    rating_or_null(w, "operator", g->rate_o);
    json_w_obj_close(w);
    record_str_or_null(w, "createdAt", g->created);
    record_str_or_null(w, "updatedAt", g->updated);
    record_str_or_null(w, "startedAt", g->started);
    record_str_or_null(w, "stoppedAt", g->stopped);
    json_w_key(w, "durationMs");
    if (g->started_ms[0] && g->stopped_ms[0])
        json_w_int(w, strtoll(g->stopped_ms, NULL, 10) - strtoll(g->started_ms, NULL, 10));
    else
        json_w_null(w);
    json_w_obj_close(w);
}

/* Writes the gig object: rendered once, then copied, since an answer and
 * its events carry the same object. */
static void gig_write_json(json_writer *w, struct gig *g, arena *a) {
    if (!g->json) {
        buf b;
        buf_init(&b, a);
        json_writer gw;
        json_w_init(&gw, &b);
        gig_render(&gw, g);
        g->json = b.data;
        g->json_len = b.len;
    }
    json_w_raw(w, g->json, g->json_len);
}

/* Sends {"gig": ..., "action": ...} to each listed account. */
static void notify(arena *a, struct gig *g, const char *action, const char *const *to, size_t n) {
    buf b;
    buf_init(&b, a);
    json_writer w;
    json_w_init(&w, &b);
    json_w_obj_open(&w);
    json_w_key(&w, "gig");
    gig_write_json(&w, g, a);
    json_w_key(&w, "action");
    json_w_cstr(&w, action);
    json_w_obj_close(&w);
    for (size_t i = 0; i < n; i++)
        if (to[i] && to[i][0])
            events_notify("acct", to[i], strlen(to[i]), "gig", b.data, b.len);
}

static void respond_gig(http_request *req, int status, struct gig *g) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "gig");
    gig_write_json(&r.w, g, &req->arena);
    json_resp_send(req, &r, status);
}

static void locked(http_request *req, const char *gig_id) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "status");
    json_w_cstr(&r.w, "rating-required");
    json_w_key(&r.w, "message");
    json_w_cstr(&r.w, "Rate your last gig first");
    json_w_key(&r.w, "gigId");
    json_w_cstr(&r.w, gig_id);
    json_resp_send(req, &r, 423);
}

#define NO_GIG "No such gig"

static void not_found(http_request *req) {
    resp_error(req, 404, "not-found", NO_GIG);
}

/* The gig id of the route, or NULL after answering 404. */
static const char *gig_param(http_request *req, size_t *len) {
    return id_param(req, len, NO_GIG);
}

/* ---- requesting ---- */

/* A gig script's call: the script answers with words ({'ok', ...},
 * {'conflict'}, {'locked', gigId}, ...), and the gig itself is read by an
 * HGETALL sent right behind the script (rds_eval_then), which costs Redis a
 * fraction of carrying its fields back through Lua.  The script's answer
 * comes first and is kept here; the gig's answers the request. */
#define GIG_WORDS 4
struct gig_call {
    http_request *req;
    const char *action;           /* gig_act.lua's; NULL for gig_create.lua */
    const char *words[GIG_WORDS]; /* words[0] NULL: the script failed */
    size_t nwords;
};

static void on_script(redisReply *reply, int err, void *ud) {
    struct gig_call *call = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->elements > GIG_WORDS)
        return;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            return;
    for (size_t i = 0; i < reply->elements; i++)
        call->words[i] =
            arena_strndup(&call->req->arena, reply->element[i]->str, reply->element[i]->len);
    call->nwords = reply->elements;
}

/* Sends `script` with the gig's HGETALL behind it; `on_gig` answers. */
static void gig_call(struct gig_call *call, enum script_id script, int nkeys, int argc,
                     const char **argv, rds_cb on_gig) {
    const char *hgetall[2] = {"HGETALL", argv[0]}; /* every gig script's KEYS[1] */
    const struct rds_then then = {2, hgetall, NULL, on_gig};
    if (rds_eval_then(srv.redis, script, on_script, call, nkeys, argc, argv, NULL, &then) < 0)
        resp_unavailable(call->req);
}

/* The word the script answered with, or NULL after answering: 503 for a
 * failure, 423 for {'locked', gigId}, and 401/403 for a refused token. */
static const char *outcome_of(const struct gig_call *call) {
    http_request *req = call->req;
    const char *outcome = call->words[0];
    if (!outcome) {
        resp_unavailable(req);
        return NULL;
    }
    if (!strcmp(outcome, "locked") && call->nwords == 2) {
        locked(req, call->words[1]);
        return NULL;
    }
    return auth_refused(req, outcome) ? NULL : outcome;
}

/* The gig read after the script; -1 when there is none. */
static int gig_read(http_request *req, const redisReply *reply, int err, struct gig *g) {
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY)
        return -1;
    return gig_from_reply(&req->arena, reply, g);
}

static void on_created(redisReply *reply, int err, void *ud) {
    struct gig_call *call = ud;
    http_request *req = call->req;
    const char *outcome = outcome_of(call);
    struct gig g;
    if (!outcome) {
        return;
    } else if (!strcmp(outcome, "forbidden")) {
        resp_error(req, 403, "forbidden", "Only customers request gigs");
    } else if (!strcmp(outcome, "conflict")) {
        resp_error(req, 409, "conflict", "You already have a gig in progress");
    } else if (!strcmp(outcome, "no-operators")) {
        resp_error(req, 404, "no-operators", "No droperators found to service area.");
    } else if (!strcmp(outcome, "ok") && gig_read(req, reply, err, &g) == 0) {
        notify(&req->arena, &g, "offered", g.offered_to, g.noffered);
        respond_gig(req, 201, &g);
    } else {
        resp_unavailable(req);
    }
}

/* Runs gig_create.lua: it checks the caller, finds the operators the map
 * would list at the point and offers them the gig, in one round trip. */
static void create(http_request *req, double lat, double lon, const char *device) {
    const struct claims *cl = req->claims;
    char id[37], gig[KEY_MAX], acct[KEY_MAX], revoked[KEY_MAX], geo[KEY_MAX], slat[32], slon[32],
        iso[32], now[24], due[24], age[24], gen[24], radius[24], want[8];
    uuid_v4(id);
    key_entity(gig, "gig", id, 36, NULL);
    key_entity(acct, "acct", cl->sub, cl->sublen, NULL);
    token_revoked_key(revoked, cl->jti, cl->jtilen);
    key_named(geo, "geo:operator");
    snprintf(slat, sizeof slat, "%.7f", lat);
    snprintf(slon, sizeof slon, "%.7f", lon);
    now_iso(iso);
    uint64_t ms = now_ms();
    snprintf(now, sizeof now, "%llu", (unsigned long long)ms);
    snprintf(due, sizeof due, "%llu", (unsigned long long)(ms + srv.cfg.gig_claim_timeout_ms));
    snprintf(age, sizeof age, "%llu", (unsigned long long)srv.cfg.gig_location_max_age_s * 1000);
    snprintf(gen, sizeof gen, "%lld", (long long)cl->gen);
    snprintf(radius, sizeof radius, "%llu", (unsigned long long)srv.cfg.geo_radius_m);
    snprintf(want, sizeof want, "%d", MAP_MAX);
    const char *argv[] = {gig,    acct, revoked, geo, keys_prefix(), id,  cl->sub, slat, slon,
                          device, iso,  now,     due, age,           gen, radius,  want, MAP_SCAN};
    struct gig_call *call = arena_calloc(&req->arena, sizeof *call);
    call->req = req;
    gig_call(call, SCRIPT_gig_create, 4, sizeof argv / sizeof argv[0], argv, on_created);
}

void gigs_create(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    double lat, lon;
    const char *device = "";
    bool has_device = false;
    const struct json_field fields[] = {
        {.name = "latitude", .type = JSON_NUMBER, .required = true, .out = &lat},
        {.name = "longitude", .type = JSON_NUMBER, .required = true, .out = &lon},
        {.name = "deviceId",
         .type = JSON_STRING,
         .null_ok = true,
         .min_len = 1,
         .max_len = 128,
         .out = &device,
         .present = &has_device},
    };
    if (handler_extract(req, &doc, fields, 3) < 0)
        return;
    if (check_location(req, lat, lon, "latitude", "longitude") < 0)
        return;
    if (!has_device && req->claims->platform[0]) {
        handler_invalid(req, 422, "invalid", "deviceId", "is required on mobile");
        return;
    }
    create(req, lat, lon, device ? device : "");
}

/* ---- transitions ---- */

/* Who hears of a transition: the other party, or both. */
static void notify_transition(http_request *req, struct gig *g, const char *what) {
    const char *me = req->claims->sub;
    const char *other = strcmp(me, g->customer) == 0 ? g->operator: g->customer;
    const char *both[2] = {g->customer, g->operator};
    if (!strcmp(what, "declined"))
        return; /* one of several offers turned down: nothing to tell yet */
    if (!strcmp(what, "handshaked") || !strcmp(what, "rated")) {
        notify(&req->arena, g, what, both, 2);
        return;
    }
    if (!strncmp(what, "rated-by-", 9))
        what = "rating";
    notify(&req->arena, g, what, &other, 1);
}

static void on_acted(redisReply *reply, int err, void *ud) {
    struct gig_call *call = ud;
    http_request *req = call->req;
    const char *outcome = outcome_of(call);
    struct gig g;
    if (!outcome)
        return;
    if (!strcmp(outcome, "not-found")) {
        not_found(req);
        return;
    }
    if (!strcmp(outcome, "conflict")) {
        resp_error(req, 409, "conflict", "Not allowed in the gig's current state");
        return;
    }
    if (strcmp(outcome, "ok") || call->nwords != 4 || gig_read(req, reply, err, &g) < 0) {
        resp_unavailable(req);
        return;
    }
    notify_transition(req, &g, call->words[1]);
    if (strcmp(call->action, "handshake") != 0) {
        respond_gig(req, 200, &g);
        return;
    }
    const char *first = call->words[2], *last = call->words[3];
    char *name = arena_alloc(&req->arena, strlen(first) + strlen(last) + 2);
    sprintf(name, "%s %s", first, last);
    struct media_party who = {.gig_id = g.id, .account_id = req->claims->sub, .name = name};
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "stream");
    json_w_obj_open(&r.w);
    if (media_provider()->credentials(&who, &r.w, &req->arena) < 0) {
        resp_unavailable(req);
        return;
    }
    json_w_obj_close(&r.w);
    json_w_key(&r.w, "gig");
    gig_write_json(&r.w, &g, &req->arena);
    json_resp_send(req, &r, 200);
}

/* Runs gig_act.lua: `arg` is the claim's response or the rating. */
static void act(http_request *req, const char *action, const char *arg) {
    size_t idlen;
    const char *id = gig_param(req, &idlen);
    if (!id)
        return;
    struct gig_call *call = arena_calloc(&req->arena, sizeof *call);
    call->req = req;
    call->action = action;
    const struct claims *cl = req->claims;
    char gig[KEY_MAX], acct[KEY_MAX], revoked[KEY_MAX], iso[32], now[24], due[24], gen[24];
    key_entity(gig, "gig", id, idlen, NULL);
    key_entity(acct, "acct", cl->sub, cl->sublen, NULL);
    token_revoked_key(revoked, cl->jti, cl->jtilen);
    now_iso(iso);
    uint64_t ms = now_ms();
    snprintf(now, sizeof now, "%llu", (unsigned long long)ms);
    snprintf(due, sizeof due, "%llu", (unsigned long long)(ms + srv.cfg.gig_confirm_timeout_ms));
    snprintf(gen, sizeof gen, "%lld", (long long)cl->gen);
    const char *argv[11] = {gig, acct, revoked, keys_prefix(), action, cl->sub,
                            iso, now,  arg,     due,           gen};
    gig_call(call, SCRIPT_gig_act, 3, 11, argv, on_acted);
}

void gigs_claim(http_request *req) {
    json_doc doc;
    if (gig_param(req, &(size_t){0}) == NULL || handler_parse_json(req, &doc) < 0)
        return;
    int t = json_get(&doc, 0, "response");
    if (t < 0 || !(json_string_eq(&doc, t, "accept") || json_string_eq(&doc, t, "reject"))) {
        handler_invalid(req, 422, "invalid", "response", "must be accept or reject");
        return;
    }
    act(req, "claim", json_string_eq(&doc, t, "accept") ? "accept" : "reject");
}

void gigs_rate(http_request *req) {
    json_doc doc;
    if (gig_param(req, &(size_t){0}) == NULL || handler_parse_json(req, &doc) < 0)
        return;
    int t = json_get(&doc, 0, "rating");
    int64_t n;
    if (t < 0 || json_type(&doc, t) != JSON_NUMBER || json_int64(&doc, t, &n) < 0 || n < 1 ||
        n > 5) {
        handler_invalid(req, 422, "invalid", "rating", "must be a whole number 1..5");
        return;
    }
    static const char *const digits[] = {"", "1", "2", "3", "4", "5"};
    act(req, "rate", digits[n]);
}

void gigs_confirm(http_request *req) {
    act(req, "confirm", "");
}
void gigs_reject(http_request *req) {
    act(req, "reject", "");
}
void gigs_cancel(http_request *req) {
    act(req, "cancel", "");
}
void gigs_handshake(http_request *req) {
    act(req, "handshake", "");
}
void gigs_start(http_request *req) {
    act(req, "start", "");
}
void gigs_stop(http_request *req) {
    act(req, "stop", "");
}

/* ---- reading ---- */

static void on_gig(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct gig g;
    const struct account *me = req->account;
    if (gig_from_reply(&req->arena, reply, &g) < 0) {
        not_found(req);
        return;
    }
    bool offered = false;
    for (size_t i = 0; i < g.noffered; i++)
        offered |= strcmp(g.offered_to[i], me->id) == 0;
    if (!offered && strcmp(g.customer, me->id) && strcmp(g.operator, me->id) &&
        !account_is_admin(me)) {
        not_found(req);
        return;
    }
    respond_gig(req, 200, &g);
}

void gigs_get(http_request *req) {
    size_t idlen;
    const char *id = gig_param(req, &idlen);
    if (!id)
        return;
    char key[KEY_MAX];
    key_entity(key, "gig", id, idlen, NULL);
    if (rds_command(srv.redis, on_gig, req, "HGETALL %s", key) < 0)
        resp_unavailable(req);
}

static const char *const statuses[] = {"requested", "claimed",   "unclaimed",  "confirmed",
                                       "rejected",  "cancelled", "handshaked", "started",
                                       "stopped",   "rated",     "expired"};

static bool write_listed(json_writer *w, arena *a, const redisReply *entity) {
    struct gig g;
    if (gig_from_reply(a, entity, &g) < 0)
        return false;
    gig_render(w, &g);
    return true;
}

static void on_list(redisReply *reply, int err, void *ud) {
    record_page_respond(ud, reply, err, "gigs", write_listed);
}

void gigs_list(http_request *req) {
    char key[KEY_MAX];
    key_entity(key, "acct", req->account->id, strlen(req->account->id), ":gigs");
    record_page(req, key, "gig", statuses, sizeof statuses / sizeof statuses[0], on_list);
}

/* ---- deadlines ---- */

/* A gig's deadline fired: `what` is the status it had. */
static void expired(arena *a, const char *what, const redisReply *entity) {
    struct gig g;
    if (gig_from_reply(a, entity, &g) < 0)
        return;
    const char *both[2] = {g.customer, g.operator};
    if (strcmp(what, "requested") == 0) {
        notify(a, &g, "expired", both, 1);
        notify(a, &g, "expired", g.offered_to, g.noffered);
    } else {
        notify(a, &g, "expired", both, 2);
    }
}

static const struct record_expiry gig_expiry = {GIG_KIND, SCRIPT_gig_expire, expired};

int gigs_init(void) {
    if (media_init(srv.cfg.media_provider) < 0)
        return -1;
    return record_expiry_register(&gig_expiry);
}
