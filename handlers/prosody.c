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

/* What a string these routes take must be, beyond 0-255 characters (UTF-8
 * is the caller's: JSON strings and checked parameters are). */
enum text_kind {
    TEXT,          /* 1-255 characters */
    TEXT_OR_EMPTY, /* 0-255 characters */
    JID,           /* node@domain[/resource] (protocol/jid.h) */
    ROLE,          /* participant | moderator */
    EMAIL,         /* an email address (as accounts' identities) */
};

static bool text_ok(enum text_kind kind, const char *s, size_t len) {
    size_t chars = json_utf8_chars(s, len);
    if ((chars == 0 && kind != TEXT_OR_EMPTY) || chars > FIELD_MAX_CHARS || memchr(s, '\0', len))
        return false;
    switch (kind) {
    case JID:
        return jid_valid(s, len);
    case ROLE:
        return !strcmp(s, "participant") || !strcmp(s, "moderator");
    case EMAIL:
        return valid_email(s, len);
    default:
        return true;
    }
}

/* One string member of a body: required, or optional (absent or null leaves
 * *out NULL). */
struct text_field {
    const char *name;
    enum text_kind kind;
    bool required;
    const char **out;
    size_t *len;
};
#define MAX_FIELDS 8

/* Reads the body's string members (at most MAX_FIELDS) and checks each
 * given one against its kind.  An empty body reads as {} (its required
 * members are missing).  Answers 400 bad-json, or 422 with `invalid`,
 * itself and returns -1. */
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
        ok = !*f[i].out || text_ok(f[i].kind, *f[i].out, *f[i].len);
    if (!ok) {
        resp_error(req, 422, "invalid", invalid);
        return -1;
    }
    return 0;
}

/* The route's parameter (a session, TEXT, or a jid, JID), percent-decoded
 * and checked like a body's string; NULL after answering 422 with
 * `invalid`. */
static const char *path_param(http_request *req, size_t *len, enum text_kind kind,
                              const char *invalid) {
    const char *p = http_param(req, 0, len);
    if (!p || !json_utf8_valid(p, *len) || !text_ok(kind, p, *len)) {
        resp_error(req, 422, "invalid", invalid);
        return NULL;
    }
    return p;
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

/* POST /api/v1/rooms {name, session, jid}: created, or the session was
 * ever taken (400 duplicate).  A live room holding the jid is ended first. */
void prosody_room_create(http_request *req) {
    const char *name, *session, *jid;
    size_t namelen, sessionlen, jidlen;
    const struct text_field f[] = {
        {"name", TEXT, true, &name, &namelen},
        {"session", TEXT, true, &session, &sessionlen},
        {"jid", JID, true, &jid, &jidlen},
    };
    if (read_body(req, f, 3, ROOM_INVALID) < 0)
        return;
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

/* DELETE /api/v1/rooms/:session {jid}: the live room of that session and
 * jid ends with its occupants; 404 no-room when there is none, 400
 * duplicate when it has already ended. */
void prosody_room_end(http_request *req) {
    size_t sessionlen, jidlen;
    const char *jid, *session = path_param(req, &sessionlen, TEXT, ROOM_INVALID);
    const struct text_field f[] = {{"jid", JID, true, &jid, &jidlen}};
    if (!session || read_body(req, f, 1, ROOM_INVALID) < 0)
        return;
    size_t lens[4];
    const char *argv[4] = {
        key_entity_arena(&req->arena, "prosody-room", session, sessionlen, &lens[0]), keys_prefix(),
        session, jid};
    lens[1] = strlen(argv[1]);
    lens[2] = sessionlen;
    lens[3] = jidlen;
    change(req, SCRIPT_prosody_room_end, room_ended, 1, 4, argv, lens);
}

/* A room and an occupant as stored, in the order their objects show the
 * fields (docs/prosody.md): every name is the hash's and the JSON's. */
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

/* Answers prosody_room_read.lua's {room, {occupant, ...}}: the room object
 * with every occupant it had, or 404 no-room for {}. */
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
    record_write_fields(&r.w, room_fields, NFIELDS(room_fields), &room);
    json_w_key(&r.w, "occupants");
    json_w_arr_open(&r.w);
    const redisReply *occupants = reply->element[1];
    for (size_t i = 0; i < occupants->elements; i++) {
        struct occupant o;
        if (record_read(occupant_fields, NFIELDS(occupant_fields), occupants->element[i], &o) ==
                0 &&
            o.jid[0]) {
            json_w_obj_open(&r.w);
            record_write_fields(&r.w, occupant_fields, NFIELDS(occupant_fields), &o);
            json_w_obj_close(&r.w);
        }
    }
    json_w_arr_close(&r.w);
    json_w_obj_close(&r.w);
    json_resp_send(req, &r, 200);
}

/* GET /api/v1/rooms/:session, live or ended. */
void prosody_room_get(http_request *req) {
    size_t sessionlen, keylen;
    const char *session = path_param(req, &sessionlen, TEXT, ROOM_INVALID);
    if (!session)
        return;
    const char *argv[1] = {
        key_entity_arena(&req->arena, "prosody-room", session, sessionlen, &keylen)};
    if (rds_eval(srv.redis, SCRIPT_prosody_room_read, on_room, req, 1, 1, argv, &keylen) < 0)
        resp_unavailable(req);
}

/* ---- occupants ---- */

/* POST /api/v1/occupants: joins the live room holding roomJid (400 no-room
 * otherwise) unless the jid is a live occupant anywhere (400 duplicate). */
void prosody_occupant_create(http_request *req) {
    const char *v[8];
    size_t len[8];
    const struct text_field f[8] = {
        {"jid", JID, true, &v[0], &len[0]},
        {"roomJid", JID, true, &v[1], &len[1]},
        {"nick", TEXT, true, &v[2], &len[2]},
        {"role", ROLE, true, &v[3], &len[3]},
        {"email", EMAIL, false, &v[4], &len[4]},
        {"avatar", TEXT_OR_EMPTY, false, &v[5], &len[5]},
        {"userAgent", TEXT_OR_EMPTY, false, &v[6], &len[6]},
        {"ip", TEXT_OR_EMPTY, false, &v[7], &len[7]},
    };
    if (read_body(req, f, 8, OCCUPANT_INVALID) < 0)
        return;
    const char *argv[3 + 16];
    size_t lens[3 + 16];
    argv[0] = key_entity_arena(&req->arena, "prosody-roomjid", v[1], len[1], &lens[0]);
    argv[1] = key_entity_arena(&req->arena, "prosody-occupant", v[0], len[0], &lens[1]);
    argv[2] = keys_prefix();
    lens[2] = strlen(argv[2]);
    int argc = 3;
    /* Every field, "" for an absent optional one. */
    for (size_t i = 0; i < 8; i++)
        set_field(argv, lens, &argc, f[i].name, v[i] ? v[i] : "", len[i]);
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

/* PUT /api/v1/occupants/:jid {roomJid, nick?, role?, email?}: sets the
 * fields given on the live occupant (400 no-occupant when there is none). */
void prosody_occupant_update(http_request *req) {
    size_t jidlen, len[4];
    const char *v[4]; /* roomJid, nick, role, email */
    const char *jid = path_param(req, &jidlen, JID, OCCUPANT_INVALID);
    const struct text_field f[] = {
        {"roomJid", JID, true, &v[0], &len[0]},
        {"nick", TEXT, false, &v[1], &len[1]},
        {"role", ROLE, false, &v[2], &len[2]},
        {"email", EMAIL, false, &v[3], &len[3]},
    };
    if (!jid || read_body(req, f, 4, OCCUPANT_INVALID) < 0)
        return;
    const char *more[6];
    size_t morelens[6];
    int n = 0;
    for (size_t i = 1; i < 4; i++)
        set_field(more, morelens, &n, f[i].name, v[i], len[i]);
    occupant_change(req, jid, jidlen, "update", v[0], len[0], more, morelens, n, occupant_updated);
}

/* DELETE /api/v1/occupants/:jid {roomJid}: the live occupant leaves (400
 * no-occupant when there is none); it stays in the room's history. */
void prosody_occupant_destroy(http_request *req) {
    size_t jidlen, room_jid_len;
    const char *room_jid, *jid = path_param(req, &jidlen, JID, OCCUPANT_INVALID);
    const struct text_field f[] = {{"roomJid", JID, true, &room_jid, &room_jid_len}};
    if (!jid || read_body(req, f, 1, OCCUPANT_INVALID) < 0)
        return;
    occupant_change(req, jid, jidlen, "leave", room_jid, room_jid_len, NULL, NULL, 0,
                    occupant_destroyed);
}
