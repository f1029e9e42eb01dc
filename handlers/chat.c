/* A dealer stream's chat (API.md §5, docs/streams.md "Chat"): the stream's
 * guest and the dealer that accepted it write; they and admins read.
 *
 * A message's JSON is built here, less its id; chat_post.lua numbers it with
 * the stream's chatSeq and keeps it in the stream's chat list, and
 * chat_read.lua pages the list.  Stored JSON goes out as it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "storage/keys.h"

#define CHAT_KEEP "10000" /* messages kept per stream, the newest */
#define MESSAGE_MAX_CHARS 2000
#define START_MAX 1000000000L
#define LIMIT_DEFAULT 10
#define LIMIT_MAX 100

#define NO_STREAM "No such stream"

static void not_found(http_request *req) {
    resp_error(req, 404, "not-found", NO_STREAM);
}

/* The route's stream id, or NULL after answering 404: not a stream id, or
 * not the stream the calling guest's token is for. */
static const char *stream_param(http_request *req, size_t *len) {
    const char *id = id_param(req, len, NO_STREAM);
    if (id && req->guest && strncmp(req->guest->stream, id, *len) != 0) {
        not_found(req);
        return NULL;
    }
    return id;
}

static const char *caller_id(const http_request *req) {
    return req->account ? req->account->id : req->guest->id;
}

/* The script's word for the caller, a tagged reply's first word, or NULL. */
static const char *outcome_of(const redisReply *reply, int err) {
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return reply->element[0]->str;
}

/* ---- POST /chat/:streamId ---- */

struct post {
    http_request *req;
    const char *stream;
};

static void on_posted(redisReply *reply, int err, void *ud) {
    struct post *p = ud;
    http_request *req = p->req;
    const char *outcome = outcome_of(reply, err);
    if (outcome && !strcmp(outcome, "not-found")) {
        not_found(req);
        return;
    }
    if (!outcome || strcmp(outcome, "ok") || reply->elements != 4 ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[2]->type != REDIS_REPLY_STRING ||
        reply->element[3]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    const redisReply *msg = reply->element[1], *kind = reply->element[2], *to = reply->element[3];
    if (to->len) {
        buf ev;
        buf_init(&ev, &req->arena);
        json_writer w;
        json_w_init(&w, &ev);
        json_w_obj_open(&w);
        json_w_key(&w, "streamId");
        json_w_cstr(&w, p->stream);
        json_w_key(&w, "message");
        json_w_raw(&w, msg->str, msg->len);
        json_w_obj_close(&w);
        events_notify(kind->str, to->str, to->len, "chat", ev.data, ev.len);
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "message");
    json_w_raw(&r.w, msg->str, msg->len);
    json_resp_send(req, &r, 201);
}

void chat_post(http_request *req) {
    size_t idlen;
    const char *id = stream_param(req, &idlen);
    if (!id)
        return;
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *from, *message;
    size_t fromlen, msglen;
    const struct json_field fields[] = {
        {.name = "from", .type = JSON_STRING, .required = true, .out = &from, .len_out = &fromlen},
        {.name = "message",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .out = &message,
         .len_out = &msglen},
    };
    if (handler_extract(req, &doc, fields, 2) < 0)
        return;
    if (json_utf8_chars(message, msglen) > MESSAGE_MAX_CHARS) {
        handler_invalid(req, 422, "invalid", "message", "must be 1 to 2000 characters");
        return;
    }
    const char *me = caller_id(req);
    if (fromlen != strlen(me) || memcmp(from, me, fromlen) != 0) {
        resp_error(req, 403, "forbidden", "from must be your own id");
        return;
    }
    /* The message's JSON after its id, which the script adds. */
    char iso[32];
    now_iso(iso);
    buf rest;
    buf_init(&rest, &req->arena);
    buf_appends(&rest, ",\"from\":\"");
    json_escape(&rest, from, fromlen);
    buf_appends(&rest, "\",\"message\":\"");
    json_escape(&rest, message, msglen);
    buf_appends(&rest, "\",\"createdAt\":\"");
    buf_appends(&rest, iso);
    buf_appends(&rest, "\"}");
    struct post *p = arena_alloc(&req->arena, sizeof *p);
    p->req = req;
    p->stream = id;
    char stream[KEY_MAX], chat[KEY_MAX];
    size_t streamlen = key_entity(stream, "stream", id, idlen, NULL);
    size_t chatlen = key_entity(chat, "stream", id, idlen, ":chat");
    const char *role = req->guest ? "guest" : "account";
    const char *argv[6] = {stream, chat, role, me, rest.data, CHAT_KEEP};
    size_t lens[6] = {streamlen, chatlen, strlen(role), strlen(me), rest.len, strlen(CHAT_KEEP)};
    if (rds_eval(srv.redis, SCRIPT_chat_post, on_posted, p, 2, 6, argv, lens) < 0)
        resp_unavailable(req);
}

/* ---- GET /chat/:streamId ---- */

struct read {
    http_request *req;
    long start, limit;
};

/* Reads the whole number ?name (def when absent) within min..max; 0, or -1
 * after answering 422 with reason. */
static int query_long(http_request *req, const char *name, long def, long min, long max,
                      const char *reason, long *out) {
    const char *v;
    char *end;
    *out = def;
    if (http_query(req, name, &v, NULL) < 0)
        return 0;
    *out = strtol(v, &end, 10);
    if (!*v || *end || *out < min || *out > max) {
        handler_invalid(req, 422, "invalid", name, reason);
        return -1;
    }
    return 0;
}

static void on_read(redisReply *reply, int err, void *ud) {
    struct read *rd = ud;
    http_request *req = rd->req;
    const char *outcome = outcome_of(reply, err);
    if (outcome && !strcmp(outcome, "not-found")) {
        not_found(req);
        return;
    }
    if (!outcome || strcmp(outcome, "ok") || reply->elements != 3 ||
        reply->element[1]->type != REDIS_REPLY_INTEGER ||
        reply->element[2]->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "messages");
    json_w_arr_open(&r.w);
    const redisReply *page = reply->element[2];
    for (size_t i = 0; i < page->elements; i++)
        if (page->element[i]->type == REDIS_REPLY_STRING)
            json_w_raw(&r.w, page->element[i]->str, page->element[i]->len);
    json_w_arr_close(&r.w);
    json_w_key(&r.w, "start");
    json_w_int(&r.w, rd->start);
    json_w_key(&r.w, "limit");
    json_w_int(&r.w, rd->limit);
    json_w_key(&r.w, "total");
    json_w_int(&r.w, reply->element[1]->integer);
    json_resp_send(req, &r, 200);
}

void chat_get(http_request *req) {
    size_t idlen;
    const char *id = stream_param(req, &idlen);
    if (!id)
        return;
    struct read *rd = arena_alloc(&req->arena, sizeof *rd);
    rd->req = req;
    if (query_long(req, "start", 0, 0, START_MAX, "must be a whole number", &rd->start) < 0 ||
        query_long(req, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX, "must be 1..100", &rd->limit) < 0)
        return;
    const char *role = req->guest ? "guest" : account_is_admin(req->account) ? "admin" : "account";
    char stream[KEY_MAX], chat[KEY_MAX], start[24], limit[24];
    key_entity(stream, "stream", id, idlen, NULL);
    key_entity(chat, "stream", id, idlen, ":chat");
    snprintf(start, sizeof start, "%ld", rd->start);
    snprintf(limit, sizeof limit, "%ld", rd->limit);
    const char *argv[6] = {stream, chat, role, caller_id(req), start, limit};
    if (rds_eval(srv.redis, SCRIPT_chat_read, on_read, rd, 2, 6, argv, NULL) < 0)
        resp_unavailable(req);
}
