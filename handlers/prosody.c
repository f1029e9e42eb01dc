/* Prosody rooms and occupants (API.md §7, docs/prosody.md): the Prosody
 * component tells the server which rooms exist and who is in them, with the
 * service token (AUTH_SERVICE).
 *
 * Every answer is one of seed 003's bodies, {"status", "message"}, byte for
 * byte.  Each change is one script (prosody_room_create.lua,
 * prosody_room_end.lua, prosody_occupant_create.lua,
 * prosody_occupant_change.lua) that checks and writes at once, answering an
 * outcome word that this file turns into the route's body; a room is read
 * with its occupants by prosody_room_read.lua.  The scripts take their times
 * from the store's clock (lib/prosody.lua), one clock for every instance. */
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/handlers.h"
#include "handlers/records.h"
#include "protocol/jid.h"
#include "storage/keys.h"

#define FIELD_MAX_CHARS 255

#define ROOM_INVALID "room inputs validation fail"
#define OCCUPANT_INVALID "occupant inputs validation fail"
#define NO_ROOM "room record with session not exist"

/* A script's outcome word and the seed's answer to it; a route's list ends
 * with a NULL word. */
struct outcome {
    const char *word;
    int status;
    const char *code, *message;
};

#define ROOM_DUPLICATE                                                                             \
    { "duplicate", 400, "duplicate", "room already exist with same session ID" }
#define NO_OCCUPANT                                                                                \
    { "no-occupant", 400, "no-occupant", "Cannot find occupant with jid" }

static const struct outcome room_created[] = {
    {"ok", 200, "success", "room created successfully"},
    ROOM_DUPLICATE,
    {NULL, 0, NULL, NULL},
};
static const struct outcome room_ended[] = {
    {"ok", 200, "success", "room ended successfully"},
    {"no-room", 404, "no-room", NO_ROOM},
    ROOM_DUPLICATE, /* already ended */
    {NULL, 0, NULL, NULL},
};
static const struct outcome occupant_created[] = {
    {"ok", 200, "success", "occupant created successfully"},
    {"duplicate", 400, "duplicate", "occupant already exist with same JID"},
    {"no-room", 400, "no-room", "Cannot find room with roomJid"},
    {NULL, 0, NULL, NULL},
};
static const struct outcome occupant_updated[] = {
    {"ok", 200, "success", "occupant updated successfully"},
    NO_OCCUPANT,
    {NULL, 0, NULL, NULL},
};
static const struct outcome occupant_destroyed[] = {
    {"ok", 200, "success", "occupant destroyed successfully"},
    NO_OCCUPANT,
    {NULL, 0, NULL, NULL},
};

static void on_changed(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (!err && reply && reply->type == REDIS_REPLY_STRING)
        for (const struct outcome *o = req->ctx; o->word; o++)
            if (!strcmp(reply->str, o->word)) {
                resp_error(req, o->status, o->code, o->message);
                return;
            }
    resp_unavailable(req);
}

/* Runs a change script; its outcome word is answered from `answers`. */
static void change(http_request *req, enum script_id script, const struct outcome *answers,
                   int nkeys, int argc, const char **argv, const size_t *lens) {
    req->ctx = (void *)answers;
    if (rds_eval(srv.redis, script, on_changed, req, nkeys, argc, argv, lens) < 0)
        resp_unavailable(req);
}

/* ---- input ---- */

/* A string of 1-255 characters (0-255 when `empty_ok`) without NUL: what
 * every string these routes take must be.  UTF-8 is the caller's (JSON
 * strings and checked parameters are). */
static bool text_ok(const char *s, size_t len, bool empty_ok) {
    size_t chars = json_utf8_chars(s, len);
    return (empty_ok || chars > 0) && chars <= FIELD_MAX_CHARS && !memchr(s, '\0', len);
}

/* The body's string fields (at most 8): a required one is 1-255 characters;
 * an optional one absent or null is left NULL, else 0-255 characters.  An
 * empty body reads as {} (its required fields are missing).  Answers 400
 * bad-json, or 422 with `invalid`, itself and returns -1. */
#define MAX_FIELDS 8
struct text_field {
    const char *name;
    bool required;
    const char **out;
    size_t *len;
};

static int read_body(http_request *req, const struct text_field *f, size_t n, const char *invalid) {
    json_doc doc;
    if (req->body.len == 0)
        (void)json_parse(&doc, &req->arena, "{}", 2);
    else if (handler_parse_json(req, &doc) < 0)
        return -1;
    struct json_field jf[MAX_FIELDS];
    for (size_t i = 0; i < n; i++) {
        *f[i].out = NULL;
        *f[i].len = 0;
        jf[i] = (struct json_field){.name = f[i].name,
                                    .type = JSON_STRING,
                                    .required = f[i].required,
                                    .null_ok = !f[i].required,
                                    .out = f[i].out,
                                    .len_out = f[i].len};
    }
    const char *field, *reason;
    bool ok = json_extract(&doc, 0, &req->arena, jf, n, &field, &reason) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = !*f[i].out || text_ok(*f[i].out, *f[i].len, !f[i].required);
    if (!ok) {
        resp_error(req, 422, "invalid", invalid);
        return -1;
    }
    return 0;
}

/* The route's parameter (a session or a jid), percent-decoded: 1-255
 * characters of UTF-8 without NUL, and a JID's shape when `jid`; NULL after
 * answering 422 with `invalid`. */
static const char *path_param(http_request *req, size_t *len, bool jid, const char *invalid) {
    const char *p = http_param(req, 0, len);
    if (!p || !json_utf8_valid(p, *len) || !text_ok(p, *len, false) ||
        (jid && !jid_valid(p, *len))) {
        resp_error(req, 422, "invalid", invalid);
        return NULL;
    }
    return p;
}

static bool role_ok(const char *role) {
    return !role || !strcmp(role, "participant") || !strcmp(role, "moderator");
}

static bool email_ok(const char *email, size_t len) {
    return !email || valid_email(email, len);
}

/* Appends "name", value to a script's field list when the value is given. */
static void set_field(const char **argv, size_t *lens, int *argc, const char *name,
                      const char *value, size_t len) {
    if (!value)
        return;
    argv[*argc] = name;
    lens[(*argc)++] = strlen(name);
    argv[*argc] = value;
    lens[(*argc)++] = len;
}

/* ---- rooms ---- */

void prosody_room_create(http_request *req) {
    const char *name, *session, *jid;
    size_t namelen, sessionlen, jidlen;
    const struct text_field f[] = {
        {"name", true, &name, &namelen},
        {"session", true, &session, &sessionlen},
        {"jid", true, &jid, &jidlen},
    };
    if (read_body(req, f, 3, ROOM_INVALID) < 0)
        return;
    if (!jid_valid(jid, jidlen)) {
        resp_error(req, 422, "invalid", ROOM_INVALID);
        return;
    }
    size_t lens[6];
    const char *argv[6] = {
        key_entity_arena(&req->arena, "prosody-room", session, sessionlen, &lens[0]),
        key_entity_arena(&req->arena, "prosody-roomjid", jid, jidlen, &lens[1]),
        keys_prefix(),
        name,
        session,
        jid};
    lens[2] = strlen(argv[2]);
    lens[3] = namelen;
    lens[4] = sessionlen;
    lens[5] = jidlen;
    change(req, SCRIPT_prosody_room_create, room_created, 2, 6, argv, lens);
}

void prosody_room_end(http_request *req) {
    size_t sessionlen, jidlen;
    const char *jid, *session = path_param(req, &sessionlen, false, ROOM_INVALID);
    const struct text_field f[] = {{"jid", true, &jid, &jidlen}};
    if (!session || read_body(req, f, 1, ROOM_INVALID) < 0)
        return;
    if (!jid_valid(jid, jidlen)) {
        resp_error(req, 422, "invalid", ROOM_INVALID);
        return;
    }
    size_t lens[4];
    const char *argv[4] = {
        key_entity_arena(&req->arena, "prosody-room", session, sessionlen, &lens[0]), keys_prefix(),
        session, jid};
    lens[1] = strlen(argv[1]);
    lens[2] = sessionlen;
    lens[3] = jidlen;
    change(req, SCRIPT_prosody_room_end, room_ended, 1, 4, argv, lens);
}

struct room {
    const char *name, *session, *jid, *created, *ended;
};
static const struct record_field room_fields[] = {
    {"name", offsetof(struct room, name)},     {"session", offsetof(struct room, session)},
    {"jid", offsetof(struct room, jid)},       {"createdAt", offsetof(struct room, created)},
    {"endedAt", offsetof(struct room, ended)},
};

struct occupant {
    const char *jid, *room_jid, *nick, *role, *email, *avatar, *user_agent, *ip;
    const char *joined, *left, *updated;
};
static const struct record_field occupant_fields[] = {
    {"jid", offsetof(struct occupant, jid)},
    {"roomJid", offsetof(struct occupant, room_jid)},
    {"nick", offsetof(struct occupant, nick)},
    {"role", offsetof(struct occupant, role)},
    {"email", offsetof(struct occupant, email)},
    {"avatar", offsetof(struct occupant, avatar)},
    {"userAgent", offsetof(struct occupant, user_agent)},
    {"ip", offsetof(struct occupant, ip)},
    {"joinedAt", offsetof(struct occupant, joined)},
    {"leftAt", offsetof(struct occupant, left)},
    {"updatedAt", offsetof(struct occupant, updated)},
};
#define NFIELDS(t) (sizeof t / sizeof t[0])

static void occupant_write_json(json_writer *w, const struct occupant *o) {
    json_w_obj_open(w);
    json_w_key(w, "jid");
    json_w_cstr(w, o->jid);
    json_w_key(w, "roomJid");
    json_w_cstr(w, o->room_jid);
    json_w_key(w, "nick");
    json_w_cstr(w, o->nick);
    json_w_key(w, "role");
    json_w_cstr(w, o->role);
    record_str_or_null(w, "email", o->email);
    record_str_or_null(w, "avatar", o->avatar);
    record_str_or_null(w, "userAgent", o->user_agent);
    record_str_or_null(w, "ip", o->ip);
    json_w_key(w, "joinedAt");
    json_w_cstr(w, o->joined);
    record_str_or_null(w, "leftAt", o->left);
    json_w_key(w, "updatedAt");
    json_w_cstr(w, o->updated);
    json_w_obj_close(w);
}

static void on_room(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct room room;
    if (reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_ARRAY ||
        record_read(room_fields, NFIELDS(room_fields), reply->element[0], &room) < 0) {
        resp_error(req, 404, "no-room", NO_ROOM);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "status");
    json_w_cstr(&r.w, "success");
    json_w_key(&r.w, "room");
    json_w_obj_open(&r.w);
    json_w_key(&r.w, "name");
    json_w_cstr(&r.w, room.name);
    json_w_key(&r.w, "session");
    json_w_cstr(&r.w, room.session);
    json_w_key(&r.w, "jid");
    json_w_cstr(&r.w, room.jid);
    json_w_key(&r.w, "createdAt");
    json_w_cstr(&r.w, room.created);
    record_str_or_null(&r.w, "endedAt", room.ended);
    json_w_key(&r.w, "occupants");
    json_w_arr_open(&r.w);
    const redisReply *occupants = reply->element[1];
    for (size_t i = 0; i < occupants->elements; i++) {
        struct occupant o;
        if (record_read(occupant_fields, NFIELDS(occupant_fields), occupants->element[i], &o) ==
                0 &&
            o.jid[0])
            occupant_write_json(&r.w, &o);
    }
    json_w_arr_close(&r.w);
    json_w_obj_close(&r.w);
    json_resp_send(req, &r, 200);
}

void prosody_room_get(http_request *req) {
    size_t sessionlen, keylen;
    const char *session = path_param(req, &sessionlen, false, ROOM_INVALID);
    if (!session)
        return;
    const char *argv[1] = {
        key_entity_arena(&req->arena, "prosody-room", session, sessionlen, &keylen)};
    if (rds_eval(srv.redis, SCRIPT_prosody_room_read, on_room, req, 1, 1, argv, &keylen) < 0)
        resp_unavailable(req);
}

/* ---- occupants ---- */

void prosody_occupant_create(http_request *req) {
    const char *v[8];
    size_t len[8];
    static const char *const names[8] = {"jid",   "roomJid", "nick",      "role",
                                         "email", "avatar",  "userAgent", "ip"};
    struct text_field f[8];
    for (size_t i = 0; i < 8; i++)
        f[i] = (struct text_field){names[i], i < 4, &v[i], &len[i]};
    if (read_body(req, f, 8, OCCUPANT_INVALID) < 0)
        return;
    /* v: jid, roomJid, nick, role, email, avatar, userAgent, ip */
    if (!jid_valid(v[0], len[0]) || !jid_valid(v[1], len[1]) || !role_ok(v[3]) ||
        !email_ok(v[4], len[4])) {
        resp_error(req, 422, "invalid", OCCUPANT_INVALID);
        return;
    }
    const char *argv[3 + 16];
    size_t lens[3 + 16];
    argv[0] = key_entity_arena(&req->arena, "prosody-roomjid", v[1], len[1], &lens[0]);
    argv[1] = key_entity_arena(&req->arena, "prosody-occupant", v[0], len[0], &lens[1]);
    argv[2] = keys_prefix();
    lens[2] = strlen(argv[2]);
    int argc = 3;
    /* Every field, "" for an absent optional one. */
    for (size_t i = 0; i < 8; i++)
        set_field(argv, lens, &argc, names[i], v[i] ? v[i] : "", v[i] ? len[i] : 0);
    change(req, SCRIPT_prosody_occupant_create, occupant_created, 2, argc, argv, lens);
}

/* Runs prosody_occupant_change.lua for the route's jid in body roomJid,
 * with `n` more arguments (field, value, ...). */
static void occupant_change(http_request *req, const char *jid, size_t jidlen, const char *action,
                            const char *room_jid, size_t room_jid_len, const char **more,
                            const size_t *morelens, int n, const struct outcome *answers) {
    const char *argv[4 + 6];
    size_t lens[4 + 6];
    argv[0] = key_entity_arena(&req->arena, "prosody-occupant", jid, jidlen, &lens[0]);
    argv[1] = keys_prefix();
    argv[2] = action;
    argv[3] = room_jid;
    lens[1] = strlen(argv[1]);
    lens[2] = strlen(action);
    lens[3] = room_jid_len;
    for (int i = 0; i < n; i++) {
        argv[4 + i] = more[i];
        lens[4 + i] = morelens[i];
    }
    change(req, SCRIPT_prosody_occupant_change, answers, 1, 4 + n, argv, lens);
}

void prosody_occupant_update(http_request *req) {
    size_t jidlen, len[4];
    const char *v[4]; /* roomJid, nick, role, email */
    const char *jid = path_param(req, &jidlen, true, OCCUPANT_INVALID);
    const struct text_field f[] = {
        {"roomJid", true, &v[0], &len[0]},
        {"nick", false, &v[1], &len[1]},
        {"role", false, &v[2], &len[2]},
        {"email", false, &v[3], &len[3]},
    };
    if (!jid || read_body(req, f, 4, OCCUPANT_INVALID) < 0)
        return;
    if (!jid_valid(v[0], len[0]) || (v[1] && !len[1]) || !role_ok(v[2]) ||
        !email_ok(v[3], len[3])) {
        resp_error(req, 422, "invalid", OCCUPANT_INVALID);
        return;
    }
    const char *more[6];
    size_t morelens[6];
    int n = 0;
    set_field(more, morelens, &n, "nick", v[1], len[1]);
    set_field(more, morelens, &n, "role", v[2], len[2]);
    set_field(more, morelens, &n, "email", v[3], len[3]);
    occupant_change(req, jid, jidlen, "update", v[0], len[0], more, morelens, n, occupant_updated);
}

void prosody_occupant_destroy(http_request *req) {
    size_t jidlen, room_jid_len;
    const char *room_jid, *jid = path_param(req, &jidlen, true, OCCUPANT_INVALID);
    const struct text_field f[] = {{"roomJid", true, &room_jid, &room_jid_len}};
    if (!jid || read_body(req, f, 1, OCCUPANT_INVALID) < 0)
        return;
    if (!jid_valid(room_jid, room_jid_len)) {
        resp_error(req, 422, "invalid", OCCUPANT_INVALID);
        return;
    }
    occupant_change(req, jid, jidlen, "leave", room_jid, room_jid_len, NULL, NULL, 0,
                    occupant_destroyed);
}
