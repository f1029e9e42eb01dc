/* Routes for the black-box tests only (served with --test-hooks, 404 without):
 * a JSON echo, a slow request, a Redis-backed request, a server-side
 * deadline and an event to an account's streams.  They exercise the real request path, store client
 * and reaper; nothing here is a stand-in for a product route. */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "protocol/json.h"
#include "storage/keys.h"
#include "core/log.h"
#include "storage/reaper.h"

/* Writes token t (and its subtree) back out through the writer. */
static void reemit(const json_doc *doc, int t, json_writer *w, arena *a) {
    const char *s;
    size_t n;
    switch (json_type(doc, t)) {
    case JSON_OBJECT: {
        json_w_obj_open(w);
        int k = t + 1;
        for (uint32_t i = 0; i < doc->tok[t].size; i++) {
            json_string(doc, k, a, &s, &n);
            json_w_keyn(w, s, n);
            reemit(doc, k + 1, w, a);
            k = json_next(doc, k + 1);
        }
        json_w_obj_close(w);
        break;
    }
    case JSON_ARRAY: {
        json_w_arr_open(w);
        int e = t + 1;
        for (uint32_t i = 0; i < doc->tok[t].size; i++) {
            reemit(doc, e, w, a);
            e = json_next(doc, e);
        }
        json_w_arr_close(w);
        break;
    }
    case JSON_STRING:
        json_string(doc, t, a, &s, &n);
        json_w_str(w, s, n);
        break;
    case JSON_NUMBER: {
        int64_t i;
        double d;
        if (json_int64(doc, t, &i) == 0)
            json_w_int(w, i);
        else if (json_number(doc, t, &d) == 0)
            json_w_double(w, d);
        else
            json_w_null(w); /* out of double's range */
        break;
    }
    case JSON_BOOL: {
        bool b = false;
        json_bool(doc, t, &b);
        json_w_bool(w, b);
        break;
    }
    default:
        json_w_null(w);
        break;
    }
}

void testhook_echo(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "echo");
    reemit(&doc, 0, &r.w, &req->arena);
    json_resp_send(req, &r, 200);
}

struct sleep_ctx {
    uv_timer_t timer;
    http_request *req;
    uint64_t ms;
};

static void on_sleep_closed(uv_handle_t *h) {
    struct sleep_ctx *s = h->data;
    buf b;
    buf_init(&b, &s->req->arena);
    buf_printf(&b, "{\"slept\":%llu}", (unsigned long long)s->ms);
    resp_json(s->req, 200, &b);
}

static void on_slept(uv_timer_t *t) {
    /* The handle lives in the request's arena: close it before responding. */
    uv_close((uv_handle_t *)t, on_sleep_closed);
}

void testhook_sleep(http_request *req) {
    const char *v;
    char *end;
    if (http_query(req, "ms", &v, NULL) < 0) {
        resp_error(req, 422, "invalid", "ms is required");
        return;
    }
    unsigned long long ms = strtoull(v, &end, 10);
    if (*end || !*v || ms > 30000) {
        resp_error(req, 422, "invalid", "ms must be 0..30000");
        return;
    }
    struct sleep_ctx *s = arena_alloc(&req->arena, sizeof *s);
    s->req = req;
    s->ms = ms;
    uv_timer_init(srv.loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_slept, ms, 0);
}

static void on_incr(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER) {
        resp_unavailable(req);
        return;
    }
    buf b;
    buf_init(&b, &req->arena);
    buf_printf(&b, "{\"count\":%lld}", reply->integer);
    resp_json(req, 200, &b);
}

void testhook_redis(http_request *req) {
    char key[KEY_MAX];
    key_named(key, "test:counter");
    if (rds_command(srv.redis, on_incr, req, "INCR %s", key) < 0)
        resp_unavailable(req);
}

/* Appends the body to a list; answers the list's length as "count".  Large
 * bodies fill the store connection's output buffer, which the order of
 * commands must survive. */
void testhook_redis_push(http_request *req) {
    char key[KEY_MAX];
    size_t klen = key_named(key, "test:list");
    const char *argv[3] = {"RPUSH", key, req->body.data ? req->body.data : ""};
    size_t lens[3] = {5, klen, req->body.len};
    if (rds_command_argv(srv.redis, on_incr, req, 3, argv, lens) < 0)
        resp_unavailable(req);
}

struct deadline_ctx {
    http_request *req;
    const char *id;
    uint64_t due;
};

static void on_scheduled(redisReply *reply, int err, void *ud) {
    struct deadline_ctx *d = ud;
    if (err || !reply || reply->type == REDIS_REPLY_ERROR) {
        resp_unavailable(d->req);
        return;
    }
    struct json_resp r;
    json_resp_begin(d->req, &r);
    json_w_key(&r.w, "id");
    json_w_cstr(&r.w, d->id);
    json_w_key(&r.w, "due");
    json_w_int(&r.w, (int64_t)d->due);
    json_resp_send(d->req, &r, 201);
}

void testhook_deadline(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    struct deadline_ctx *d = arena_calloc(&req->arena, sizeof *d);
    size_t idlen;
    double in_ms;
    const char *field, *reason;
    const struct json_field fields[] = {
        {.name = "id",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 128,
         .out = &d->id,
         .len_out = &idlen},
        {.name = "in_ms", .type = JSON_NUMBER, .required = true, .out = &in_ms},
    };
    if (json_type(&doc, 0) != JSON_OBJECT) {
        resp_error(req, 422, "invalid", "The body must be an object");
        return;
    }
    if (json_extract(&doc, 0, &req->arena, fields, 2, &field, &reason) < 0) {
        buf b;
        buf_init(&b, &req->arena);
        buf_printf(&b, "%s %s", field, reason);
        resp_error(req, 422, "invalid", b.data);
        return;
    }
    if (in_ms < 0 || in_ms > 86400000) {
        resp_error(req, 422, "invalid", "in_ms must be 0..86400000");
        return;
    }
    d->req = req;
    d->due = reaper_now_ms() + (uint64_t)in_ms;
    if (reaper_schedule("test", d->id, idlen, d->due, on_scheduled, d) < 0)
        resp_unavailable(req);
}

static void on_fired(redisReply *reply, int err, void *ud) {
    if (err || !reply || reply->type == REDIS_REPLY_ERROR)
        log_warn("testhooks", "firing a test deadline failed; it fires again after the lease");
}

static void fire_test(const char *member, size_t len, void *ud) {
    char zset[KEY_MAX], list[KEY_MAX];
    size_t zlen = reaper_key("test", zset), llen = key_named(list, "test:fired");
    const char *argv[3] = {zset, list, member};
    size_t lens[3] = {zlen, llen, len};
    rds_eval(srv.redis, SCRIPT_test_fire, on_fired, NULL, 2, 3, argv, lens);
}

int testhooks_init(void) {
    if (!srv.cfg.test_hooks)
        return 0;
    return reaper_register("test", fire_test, NULL);
}

static void on_notified(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "id");
    json_w_str(&r.w, reply->element[0]->str, reply->element[0]->len);
    json_resp_send(req, &r, 200);
}

/* {"to": account id, "event": name, "data": object}: events_publish, answered
 * with the event's id once it is in the log and published. */
void testhook_notify(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *to, *event;
    size_t tolen;
    int data;
    const struct json_field fields[] = {
        {.name = "to",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 64,
         .out = &to,
         .len_out = &tolen},
        {.name = "event",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 64,
         .out = &event},
        {.name = "data", .type = JSON_OBJECT, .required = true, .out = &data},
    };
    if (handler_extract(req, &doc, fields, 3) < 0)
        return;
    if (strpbrk(event, "\r\n")) {
        handler_invalid(req, 422, "invalid", "event", "must be one line");
        return;
    }
    buf compact; /* events carry one line of JSON, as handlers write them */
    buf_init(&compact, &req->arena);
    json_writer w;
    json_w_init(&w, &compact);
    reemit(&doc, data, &w, &req->arena);
    if (events_publish("acct", to, tolen, event, compact.data, compact.len, on_notified, req) < 0)
        resp_unavailable(req);
}
