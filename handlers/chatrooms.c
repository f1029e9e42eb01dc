/* Two-person chat rooms with camera state (API.md §8, docs/chatrooms.md):
 * adding the pair's room, writing to it, listing and selecting rooms,
 * stopping one, the camera switch, and the idle deadline that makes a
 * silent room inactive.
 *
 * Each change is one script (chatroom_*.lua) that checks membership and
 * writes atomically, publishing its events in the same step; the scripts
 * answer a room as one member sees it (lib/chatroom.lua's view) and this
 * file writes it as the seed's detail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "handlers/records.h"
#include "storage/keys.h"

#define ROOM_KIND "room"    /* reaper kind and key kind */
#define ROOMS_MAX "100"     /* rooms per account, at most (docs/chatrooms.md) */
#define MESSAGES_KEPT "100" /* messages kept per room, the newest */
#define MESSAGE_MAX_CHARS 4000
#define WINDOW_FROM "-5" /* a detail's messages: the newest 5 (lib/chatroom.lua) */
#define ROOM_ID_MAX_DIGITS 15

#define NO_ROOM "No such room"

/* Now as unix seconds with microseconds: the seed's `activity`. */
static void now_seconds(char out[32]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, 32, "%lld.%06ld", (long long)ts.tv_sec, ts.tv_nsec / 1000);
}

/* The route's room id (digits, no leading zero), or NULL after answering 404. */
static const char *room_param(http_request *req, size_t *len) {
    const char *id = http_param(req, 0, len);
    bool ok = id && *len && *len <= ROOM_ID_MAX_DIGITS && id[0] != '0';
    for (size_t i = 0; ok && i < *len; i++)
        ok = id[i] >= '0' && id[i] <= '9';
    if (!ok) {
        resp_error(req, 404, "not-found", NO_ROOM);
        return NULL;
    }
    return id;
}

/* The script's word, a tagged reply's first element, or NULL. */
static const char *outcome_of(const redisReply *reply, int err) {
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return NULL;
    return reply->element[0]->str;
}

static bool is_int(const redisReply *r) {
    return r->type == REDIS_REPLY_INTEGER;
}

static bool is_str(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING;
}

/* A view (lib/chatroom.lua): {id, abonent id, is_current, is_active,
 * is_low_account, activity, is_abonent_camera, my letter, my mark, the
 * abonent's mark[, {stored message, ...}]}. */
enum {
    V_ID,
    V_ABONENT,
    V_CURRENT,
    V_ACTIVE,
    V_LOW,
    V_ACTIVITY,
    V_CAMERA,
    V_MINE,
    V_MY_MARK,
    V_THEIR_MARK,
    V_MESSAGES,
    V_COUNT
};

/* A stored message: "<a|b>{"id":N,..." less the closing brace. */
#define STORED_ID_AT 7 /* strlen("a{\"id\":") */

struct stored {
    const char *s;
    size_t len;
};

/* A room as one member sees it, read from a view. */
struct view {
    long long id, my_mark, their_mark;
    const char *abonent, *activity;
    size_t abonent_len, activity_len;
    double when; /* activity, for ordering */
    bool current, active, low, camera;
    char mine;
    const struct stored *msgs; /* oldest first */
    size_t nmsgs;
};

/* Reads an array of stored messages, pointing into the reply.  Returns -1
 * when it is not one. */
static int stored_read(const redisReply *r, arena *a, const struct stored **out, size_t *n) {
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    struct stored *m = arena_alloc(a, (r->elements ? r->elements : 1) * sizeof *m);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (!is_str(e) || e->len <= STORED_ID_AT)
            return -1;
        m[i].s = e->str;
        m[i].len = e->len;
    }
    *out = m;
    *n = r->elements;
    return 0;
}

/* Reads a view reply (with its messages, or without when `head_only`);
 * its own strings are copied into `copy` when it is not NULL, and the
 * messages' point into the reply.  Returns -1 when it is not a view. */
static int view_read(const redisReply *v, bool head_only, arena *a, arena *copy, struct view *out) {
    size_t n = head_only ? V_MESSAGES : V_COUNT;
    if (v->type != REDIS_REPLY_ARRAY || v->elements != n)
        return -1;
    redisReply *const *e = v->element;
    if (!is_int(e[V_ID]) || !is_str(e[V_ABONENT]) || !is_int(e[V_CURRENT]) ||
        !is_int(e[V_ACTIVE]) || !is_int(e[V_LOW]) || !is_str(e[V_ACTIVITY]) ||
        !is_int(e[V_CAMERA]) || !is_str(e[V_MINE]) || e[V_MINE]->len != 1 ||
        !is_int(e[V_MY_MARK]) || !is_int(e[V_THEIR_MARK]))
        return -1;
    *out = (struct view){
        .id = e[V_ID]->integer,
        .my_mark = e[V_MY_MARK]->integer,
        .their_mark = e[V_THEIR_MARK]->integer,
        .abonent =
            copy ? arena_strndup(copy, e[V_ABONENT]->str, e[V_ABONENT]->len) : e[V_ABONENT]->str,
        .abonent_len = e[V_ABONENT]->len,
        .activity =
            copy ? arena_strndup(copy, e[V_ACTIVITY]->str, e[V_ACTIVITY]->len) : e[V_ACTIVITY]->str,
        .activity_len = e[V_ACTIVITY]->len,
        .when = strtod(e[V_ACTIVITY]->str, NULL),
        .current = e[V_CURRENT]->integer,
        .active = e[V_ACTIVE]->integer,
        .low = e[V_LOW]->integer,
        .camera = e[V_CAMERA]->integer,
        .mine = e[V_MINE]->str[0],
    };
    return head_only ? 0 : stored_read(e[V_MESSAGES], a, &out->msgs, &out->nmsgs);
}

/* Writes a view as the detail of API.md §8: {abonent_id, id, is_current,
 * is_active, is_low_account, activity, is_abonent_camera,
 * messages:{"<id>":{..., is_readed}}}.  A message is read when its id is at
 * most the mark of the member who did not write it. */
static void write_detail(json_writer *w, const struct view *v) {
    json_w_obj_open(w);
    json_w_key(w, "abonent_id");
    json_w_str(w, v->abonent, v->abonent_len);
    json_w_key(w, "id");
    json_w_int(w, v->id);
    json_w_key(w, "is_current");
    json_w_bool(w, v->current);
    json_w_key(w, "is_active");
    json_w_bool(w, v->active);
    json_w_key(w, "is_low_account");
    json_w_bool(w, v->low);
    json_w_key(w, "activity");
    json_w_raw(w, v->activity, v->activity_len);
    json_w_key(w, "is_abonent_camera");
    json_w_bool(w, v->camera);
    json_w_key(w, "messages");
    json_w_obj_open(w);
    for (size_t i = 0; i < v->nmsgs; i++) {
        const char *m = v->msgs[i].s, *digits = m + STORED_ID_AT;
        long long id = strtoll(digits, NULL, 10);
        long long mark = m[0] == v->mine ? v->their_mark : v->my_mark;
        json_w_keyn(w, digits, strspn(digits, "0123456789"));
        json_w_raw(w, m + 1, v->msgs[i].len - 1);
        buf_appends(w->b, id <= mark ? ",\"is_readed\":true}" : ",\"is_readed\":false}");
    }
    json_w_obj_close(w);
    json_w_obj_close(w);
}

/* Answers the detail of a view, or the script's refusal (its word:
 * `outcome`; NULL when the store failed; `missing`: the 404's message).
 * `v` is NULL when the reply held no view. */
static void respond_detail(http_request *req, const char *outcome, const struct view *v,
                           const char *missing) {
    if (outcome && auth_refused(req, outcome))
        return;
    if (outcome && !strcmp(outcome, "not-found")) {
        resp_error(req, 404, "not-found", missing);
        return;
    }
    if (outcome && !strcmp(outcome, "full")) {
        resp_error(req, 409, "conflict", "An account has at most " ROOMS_MAX " rooms");
        return;
    }
    if (!outcome || strcmp(outcome, "ok") || !v) {
        resp_unavailable(req);
        return;
    }
    buf b;
    buf_init(&b, &req->arena);
    json_writer w;
    json_w_init(&w, &b);
    write_detail(&w, v);
    resp_json(req, 200, &b);
}

/* Whether a body's account id is the caller's. */
static bool is_caller(const char *id, size_t len, const char *me, size_t melen) {
    return len == melen && memcmp(id, me, len) == 0;
}

/* ---- POST /room/add ---- */

static void on_added(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    struct view v;
    const char *outcome = outcome_of(reply, err);
    bool ok = outcome && reply->elements == 2 &&
              view_read(reply->element[1], false, &req->arena, NULL, &v) == 0;
    respond_detail(req, outcome, ok ? &v : NULL, "No such account");
}

void chatrooms_add(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *owner, *abonent;
    size_t ownerlen, abonentlen;
    const struct json_field fields[] = {
        {.name = "owner",
         .type = JSON_STRING,
         .required = true,
         .out = &owner,
         .len_out = &ownerlen},
        {.name = "abonent",
         .type = JSON_STRING,
         .required = true,
         .out = &abonent,
         .len_out = &abonentlen},
    };
    if (handler_extract(req, &doc, fields, 2) < 0)
        return;
    const char *me = req->account->id;
    if (!is_caller(owner, ownerlen, me, strlen(me))) {
        resp_error(req, 403, "forbidden", "owner must be your own id");
        return;
    }
    if (is_caller(abonent, abonentlen, me, strlen(me))) {
        handler_invalid(req, 422, "invalid", "abonent", "must not be the owner");
        return;
    }
    if (!is_uuid(abonent, abonentlen)) {
        resp_error(req, 404, "not-found", "No such account");
        return;
    }
    /* The pair's index names the two ids in order, whoever adds it. */
    bool mefirst = strcmp(me, abonent) < 0;
    char acct[KEY_MAX], other[KEY_MAX], pair[KEY_MAX], name[96], secs[32], iso[32];
    key_entity(acct, "acct", me, strlen(me), NULL);
    key_entity(other, "acct", abonent, abonentlen, NULL);
    snprintf(name, sizeof name, "roompair:%s:%s", mefirst ? me : abonent, mefirst ? abonent : me);
    key_named(pair, name);
    now_seconds(secs);
    now_iso(iso);
    const char *argv[9] = {acct, other, pair, keys_prefix(), me, abonent, secs, iso, ROOMS_MAX};
    if (rds_eval(srv.redis, SCRIPT_chatroom_add, on_added, req, 3, 9, argv, NULL) < 0)
        resp_unavailable(req);
}

/* ---- POST /room/message (and POST /room/list) ---- */

/* A message's two replies: the script's (the room's view less its
 * messages), then the room's newest messages (LRANGE, sent right behind the
 * script by rds_eval_then, which runs the script's callback first).  The
 * view is copied into the request's arena; the window's reply answers. */
struct sent {
    http_request *req;
    const char *outcome; /* the script's word; NULL: none (the store failed) */
    struct view v;
    bool have_view;
};

static void on_written(redisReply *reply, int err, void *ud) {
    struct sent *st = ud;
    arena *a = &st->req->arena;
    const char *outcome = outcome_of(reply, err);
    st->outcome = outcome ? arena_strndup(a, outcome, strlen(outcome)) : NULL;
    st->have_view =
        outcome && reply->elements == 2 && view_read(reply->element[1], true, a, a, &st->v) == 0;
}

static void on_window(redisReply *reply, int err, void *ud) {
    struct sent *st = ud;
    bool have_window =
        !err && reply && stored_read(reply, &st->req->arena, &st->v.msgs, &st->v.nmsgs) == 0;
    respond_detail(st->req, st->outcome, st->have_view && have_window ? &st->v : NULL, NO_ROOM);
}

/* The token's claims only (AUTH_CLAIMS): the script checks them with the
 * account, then writes; the room's newest messages are read by the command
 * right behind it, in the same round trip (rds_eval_then: reading them
 * inside the script cost about a third of its Redis time), so the window
 * holds the new message. */
void chatrooms_message(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    int author;
    double room;
    const char *message;
    size_t msglen;
    const struct json_field fields[] = {
        {.name = "author", .type = JSON_OBJECT, .required = true, .out = &author},
        {.name = "room_id", .type = JSON_NUMBER, .required = true, .out = &room},
        {.name = "message",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = MESSAGE_MAX_CHARS,
         .chars = true,
         .out = &message,
         .len_out = &msglen},
    };
    if (handler_extract(req, &doc, fields, 3) < 0)
        return;
    const char *author_id;
    size_t author_len;
    const struct json_field author_fields[] = {
        {.name = "id",
         .type = JSON_STRING,
         .required = true,
         .out = &author_id,
         .len_out = &author_len},
    };
    const char *field, *reason;
    if (json_extract(&doc, author, &req->arena, author_fields, 1, &field, &reason) < 0) {
        handler_invalid(req, 422, "invalid", "author.id", reason);
        return;
    }
    if (room < 1 || room >= 1e15 || room != (double)(long long)room) {
        handler_invalid(req, 422, "invalid", "room_id", "must be a positive whole number");
        return;
    }
    const struct claims *cl = req->claims;
    if (!is_caller(author_id, author_len, cl->sub, cl->sublen)) {
        resp_error(req, 403, "forbidden", "author.id must be your own id");
        return;
    }
    buf text;
    buf_init(&text, &req->arena);
    json_escape(&text, message, msglen);
    char id[24], key[KEY_MAX], acct[KEY_MAX], revoked[KEY_MAX], gen[24], secs[32], iso[32], due[24];
    size_t idlen = (size_t)snprintf(id, sizeof id, "%lld", (long long)room);
    struct events_target t;
    events_target(&t, "acct", cl->sub, cl->sublen);
    size_t lens[14];
    lens[0] = key_entity(acct, "acct", cl->sub, cl->sublen, NULL);
    lens[1] = token_revoked_key(revoked, cl->jti, cl->jtilen);
    lens[2] = key_entity(key, ROOM_KIND, id, idlen, NULL);
    snprintf(gen, sizeof gen, "%lld", (long long)cl->gen);
    now_seconds(secs);
    now_iso(iso);
    snprintf(due, sizeof due, "%llu", (unsigned long long)(now_ms() + srv.cfg.chat_idle_ms));
    const char *argv[14] = {acct,      revoked, key, keys_prefix(), cl->sub,       gen,    id,
                            text.data, secs,    iso, due,           MESSAGES_KEPT, t.keep, t.ttl};
    for (size_t i = 3; i < 14; i++)
        lens[i] = i == 4 ? cl->sublen : i == 7 ? text.len : strlen(argv[i]);
    char window[KEY_MAX];
    const char *lrange[4] = {"LRANGE", window, WINDOW_FROM, "-1"};
    size_t lrange_lens[4] = {6, key_entity(window, ROOM_KIND, id, idlen, ":msgs"),
                             strlen(WINDOW_FROM), 2};
    struct sent *st = arena_calloc(&req->arena, sizeof *st);
    st->req = req;
    const struct rds_then then = {4, lrange, lrange_lens, on_window};
    if (rds_eval_then(srv.redis, SCRIPT_chatroom_message, on_written, st, 3, 14, argv, lens,
                      &then) < 0)
        resp_unavailable(req);
}

/* ---- GET /room/list, GET /room/select/:id ---- */

/* Whether each contact of a list reply is {id, username, firstName,
 * lastName, online, isCamera} with an id. */
static bool are_contacts(const redisReply *contacts) {
    for (size_t i = 0; i < contacts->elements; i++) {
        const redisReply *c = contacts->element[i];
        if (c->type != REDIS_REPLY_ARRAY || c->elements != 6 || !is_str(c->element[0]))
            return false;
    }
    return true;
}

/* A contact field that is "1". */
static bool flag(const redisReply *r) {
    return is_str(r) && !strcmp(r->str, "1");
}

/* Writes contacts_ids, online_ids and contact_users: the contacts in the
 * order of the rooms (each is the abonent of one room). */
static void write_contacts(json_writer *w, arena *a, const struct view *rooms, size_t nrooms,
                           const redisReply *contacts) {
    const redisReply **order = arena_alloc(a, (nrooms ? nrooms : 1) * sizeof *order);
    size_t n = 0;
    for (size_t i = 0; i < nrooms; i++) {
        const char *abonent = rooms[i].abonent;
        for (size_t j = 0; j < contacts->elements; j++)
            if (!strcmp(contacts->element[j]->element[0]->str, abonent))
                order[n++] = contacts->element[j];
    }
    json_w_key(w, "contacts_ids");
    json_w_arr_open(w);
    for (size_t i = 0; i < n; i++)
        json_w_cstr(w, order[i]->element[0]->str);
    json_w_arr_close(w);
    json_w_key(w, "online_ids");
    json_w_arr_open(w);
    for (size_t i = 0; i < n; i++)
        if (flag(order[i]->element[4]))
            json_w_cstr(w, order[i]->element[0]->str);
    json_w_arr_close(w);
    json_w_key(w, "contact_users");
    json_w_obj_open(w);
    for (size_t i = 0; i < n; i++) {
        redisReply *const *c = order[i]->element;
        json_w_key(w, c[0]->str);
        json_w_obj_open(w);
        json_w_key(w, "id");
        json_w_cstr(w, c[0]->str);
        record_str_or_null(w, "username", is_str(c[1]) ? c[1]->str : "");
        json_w_key(w, "firstName");
        json_w_cstr(w, is_str(c[2]) ? c[2]->str : "");
        json_w_key(w, "lastName");
        json_w_cstr(w, is_str(c[3]) ? c[3]->str : "");
        json_w_key(w, "is_online");
        json_w_bool(w, flag(c[4]));
        json_w_key(w, "is_camera");
        json_w_bool(w, flag(c[5]));
        json_w_obj_close(w);
    }
    json_w_obj_close(w);
}

/* Views, newest activity first; the larger id first on a tie.  A view
 * compares equal to itself, as qsort requires (a quicksort may compare the
 * pivot with itself). */
static int by_activity(const void *x, const void *y) {
    const struct view *a = x, *b = y;
    if (a->when != b->when)
        return a->when < b->when ? 1 : -1;
    return (a->id < b->id) - (a->id > b->id);
}

/* Writes room_ids and rooms, in the order given. */
static void write_rooms(json_writer *w, const struct view *rooms, size_t n) {
    json_w_key(w, "room_ids");
    json_w_arr_open(w);
    for (size_t i = 0; i < n; i++)
        json_w_int(w, rooms[i].id);
    json_w_arr_close(w);
    json_w_key(w, "rooms");
    json_w_obj_open(w);
    for (size_t i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", rooms[i].id);
        json_w_key(w, id);
        write_detail(w, &rooms[i]);
    }
    json_w_obj_close(w);
}

/* Answers {room_ids, rooms, contacts_ids, online_ids, contact_users,
 * current_room} from a list reply, rooms newest activity first. */
static void on_listed(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    const char *outcome = outcome_of(reply, err);
    if (outcome && !strcmp(outcome, "not-found")) {
        resp_error(req, 404, "not-found", NO_ROOM);
        return;
    }
    if (!outcome || strcmp(outcome, "ok") || reply->elements != 4 || !is_str(reply->element[1]) ||
        reply->element[2]->type != REDIS_REPLY_ARRAY ||
        reply->element[3]->type != REDIS_REPLY_ARRAY || !are_contacts(reply->element[3])) {
        resp_unavailable(req);
        return;
    }
    const redisReply *views = reply->element[2];
    size_t n = views->elements;
    struct view *rooms = arena_alloc(&req->arena, (n ? n : 1) * sizeof *rooms);
    for (size_t i = 0; i < n; i++) {
        if (view_read(views->element[i], false, &req->arena, NULL, &rooms[i]) < 0) {
            resp_unavailable(req);
            return;
        }
    }
    qsort(rooms, n, sizeof *rooms, by_activity);
    struct json_resp r;
    json_resp_begin(req, &r);
    write_rooms(&r.w, rooms, n);
    write_contacts(&r.w, &req->arena, rooms, n, reply->element[3]);
    json_w_key(&r.w, "current_room");
    const redisReply *current = reply->element[1];
    if (current->len)
        json_w_raw(&r.w, current->str, current->len);
    else
        json_w_null(&r.w);
    json_resp_send(req, &r, 200);
}

/* Runs chatroom_list.lua for the caller, selecting `room` first when not "". */
static void list(http_request *req, const char *room, size_t roomlen) {
    const char *me = req->account->id;
    char acct[KEY_MAX], rooms[KEY_MAX];
    size_t lens[6];
    lens[0] = key_entity(acct, "acct", me, strlen(me), NULL);
    lens[1] = key_entity(rooms, "acct", me, strlen(me), ":rooms");
    const char *argv[6] = {acct, rooms, keys_prefix(), me, room, ROOMS_MAX};
    for (size_t i = 2; i < 6; i++)
        lens[i] = i == 4 ? roomlen : strlen(argv[i]);
    if (rds_eval(srv.redis, SCRIPT_chatroom_list, on_listed, req, 2, 6, argv, lens) < 0)
        resp_unavailable(req);
}

void chatrooms_list(http_request *req) {
    list(req, "", 0);
}

void chatrooms_select(http_request *req) {
    size_t len;
    const char *id = room_param(req, &len);
    if (id)
        list(req, id, len);
}

/* ---- GET /room/stop/:id ---- */

static void on_stopped(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    const char *outcome = outcome_of(reply, err);
    if (outcome && !strcmp(outcome, "not-found"))
        resp_error(req, 404, "not-found", NO_ROOM);
    else if (outcome && !strcmp(outcome, "ok"))
        resp_json_str(req, 200, "{\"status\":0,\"message\":\"Ok\"}");
    else
        resp_unavailable(req);
}

void chatrooms_stop(http_request *req) {
    size_t len;
    const char *id = room_param(req, &len);
    if (!id)
        return;
    const char *me = req->account->id;
    struct events_target t; /* for the log's limits */
    events_target(&t, "acct", me, strlen(me));
    char key[KEY_MAX];
    size_t lens[6];
    lens[0] = key_entity(key, ROOM_KIND, id, len, NULL);
    const char *argv[6] = {key, keys_prefix(), me, id, t.keep, t.ttl};
    for (size_t i = 1; i < 6; i++)
        lens[i] = i == 3 ? len : strlen(argv[i]);
    if (rds_eval(srv.redis, SCRIPT_chatroom_stop, on_stopped, req, 1, 6, argv, lens) < 0)
        resp_unavailable(req);
}

/* ---- GET /webrtc/cameraOn, /webrtc/cameraOff ---- */

static void on_camera(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER) {
        resp_unavailable(req);
        return;
    }
    bool on = req->ctx != NULL;
    resp_json_str(req, 200, on ? "{\"camera_on\":\"ok\"}" : "{\"camera_off\":\"ok\"}");
}

/* Sets the caller's camera state and tells its contacts when it changed. */
static void camera(http_request *req, bool on) {
    const char *me = req->account->id;
    req->ctx = on ? req : NULL;
    struct events_target t; /* for the log's limits */
    events_target(&t, "acct", me, strlen(me));
    char data[96], acct[KEY_MAX], rooms[KEY_MAX]; /* account ids are UUIDs */
    snprintf(data, sizeof data, "{\"account_id\":\"%s\",\"is_camera\":%s}", me,
             on ? "true" : "false");
    key_entity(acct, "acct", me, strlen(me), NULL);
    key_entity(rooms, "acct", me, strlen(me), ":rooms");
    const char *argv[8] = {acct, rooms,  keys_prefix(), on ? "1" : "0",
                           data, t.keep, t.ttl,         ROOMS_MAX};
    if (rds_eval(srv.redis, SCRIPT_chatroom_camera, on_camera, req, 2, 8, argv, NULL) < 0)
        resp_unavailable(req);
}

void chatrooms_camera_on(http_request *req) {
    camera(req, true);
}

void chatrooms_camera_off(http_request *req) {
    camera(req, false);
}

/* ---- idleness ---- */

struct room {
    const char *id, *a, *b;
};

static const struct record_field room_fields[] = {
    {"id", offsetof(struct room, id)},
    {"a", offsetof(struct room, a)},
    {"b", offsetof(struct room, b)},
};

/* A room's idle deadline fired: it is inactive now; both members are told. */
static void idled(arena *a, const char *what, const redisReply *entity) {
    struct room r;
    if (record_read(room_fields, sizeof room_fields / sizeof room_fields[0], entity, &r) < 0 ||
        !r.id[0])
        return;
    char data[96]; /* `what` is the script's word, the id digits */
    int n = snprintf(data, sizeof data, "{\"action\":\"%s\",\"room_id\":%s}", what, r.id);
    if (n < 0 || (size_t)n >= sizeof data)
        return;
    const char *members[2] = {r.a, r.b};
    events_notify_many("acct", members, 2, "room", data, (size_t)n);
}

static const struct record_expiry room_expiry = {ROOM_KIND, SCRIPT_chatroom_idle, idled};

int chatrooms_init(void) {
    return record_expiry_register(&room_expiry);
}
