/* POST /socket/auth (API.md §5, docs/streams.md "Pusher"): signs a pusher-js
 * subscription to one of the caller's own private or presence channels.
 *
 *   private-account-<id>    the account itself
 *   private-gig-<id>        the gig's customer or operator
 *   private-chat_<id>       the same, for the gig's chat
 *   private-stream-<id>     the stream's guest, or a dealer of its organization
 *   private-org-<code>      an account of the organization with that code
 *   presence-org-<code>     the same, signed with the member's channel_data
 *
 * Anything else is 403, public and private-encrypted- channels included.
 * Whatever the store must say (parties, organizations, codes) is one read-only
 * script, socket_access.lua: one round trip. */
#include <stdio.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "protocol/form.h"
#include "protocol/pusher.h"
#include "storage/keys.h"

struct socket_auth {
    http_request *req;
    struct pusher_subscription sub;
    bool presence;
};

static void forbidden(http_request *req) {
    resp_error(req, 403, "forbidden", "Not a channel of yours");
}

/* Reads socket_id and channel_name, from a form when the Content-Type says
 * so and from JSON otherwise, into s->sub.  Returns 0, or -1 after answering
 * 400 for a body that does not parse or 422 naming a missing or wrong field. */
static int read_body(http_request *req, struct socket_auth *s) {
    static const char *const names[2] = {"socket_id", "channel_name"};
    const char *val[2];
    size_t len[2];
    size_t ctlen;
    const char *ct = http_header(req, "content-type", &ctlen);
    if (ct && form_is_urlencoded(ct, ctlen)) {
        const char *body = req->body.data ? req->body.data : "";
        for (int i = 0; i < 2; i++) {
            enum form_result r =
                form_get(&req->arena, body, req->body.len, names[i], &val[i], &len[i]);
            if (r == FORM_EMALFORMED) {
                resp_error(req, 400, "bad-request",
                           "The body is not valid application/x-www-form-urlencoded");
                return -1;
            }
            if (r == FORM_EABSENT) {
                handler_invalid(req, 422, "invalid", names[i], "is required");
                return -1;
            }
        }
    } else {
        json_doc doc;
        if (handler_parse_json(req, &doc) < 0)
            return -1;
        const struct json_field fields[2] = {
            {.name = names[0],
             .type = JSON_STRING,
             .required = true,
             .out = &val[0],
             .len_out = &len[0]},
            {.name = names[1],
             .type = JSON_STRING,
             .required = true,
             .out = &val[1],
             .len_out = &len[1]},
        };
        if (handler_extract(req, &doc, fields, 2) < 0)
            return -1;
    }
    if (!pusher_socket_id_valid(val[0], len[0])) {
        handler_invalid(req, 422, "invalid", names[0], "must be digits, a dot and digits");
        return -1;
    }
    if (!pusher_channel_name_valid(val[1], len[1])) {
        handler_invalid(req, 422, "invalid", names[1],
                        "must be 1 to 164 of A-Z a-z 0-9 and _ - = @ , . ;");
        return -1;
    }
    s->sub = (struct pusher_subscription){
        .socket_id = val[0], .socket_id_len = len[0], .channel = val[1], .channel_len = len[1]};
    return 0;
}

/* The presence channel_data of an account: {"user_id", "user_info": {"name",
 * "type"}}, the name being the first and last names joined by a space (one of
 * them alone when the other is empty). */
static void member_json(buf *out, const struct account *a) {
    json_writer w;
    json_w_init(&w, out);
    json_w_obj_open(&w);
    json_w_key(&w, "user_id");
    json_w_cstr(&w, a->id);
    json_w_key(&w, "user_info");
    json_w_obj_open(&w);
    json_w_key(&w, "name");
    size_t first = strlen(a->first_name), last = strlen(a->last_name);
    char *name = arena_alloc(out->a, first + last + 2);
    snprintf(name, first + last + 2, "%s%s%s", a->first_name, first && last ? " " : "",
             a->last_name);
    json_w_cstr(&w, name);
    json_w_key(&w, "type");
    json_w_cstr(&w, a->type);
    json_w_obj_close(&w);
    json_w_obj_close(&w);
}

/* 200 {"auth": "<key>:<signature>"} (+ "channel_data" for presence). */
static void grant(struct socket_auth *s) {
    http_request *req = s->req;
    buf data, auth;
    buf_init(&data, &req->arena);
    buf_init(&auth, &req->arena);
    if (s->presence) {
        member_json(&data, req->account);
        s->sub.channel_data = data.data;
        s->sub.channel_data_len = data.len;
    }
    pusher_auth(&auth, srv.cfg.pusher_key, srv.cfg.pusher_secret, &s->sub);
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "auth");
    json_w_str(&r.w, auth.data, auth.len);
    if (s->presence) {
        json_w_key(&r.w, "channel_data");
        json_w_str(&r.w, data.data, data.len);
    }
    json_resp_send(req, &r, 200);
}

static void on_access(redisReply *reply, int err, void *ud) {
    struct socket_auth *s = ud;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER)
        resp_unavailable(s->req);
    else if (reply->integer == 1)
        grant(s);
    else
        forbidden(s->req);
}

/* Asks socket_access.lua about the `kind` hash of entity `id`. */
static void ask_store(struct socket_auth *s, const char *kind, const char *id, size_t idlen,
                      const char *who, const char *what) {
    char key[KEY_MAX];
    key_entity(key, kind, id, idlen, NULL);
    const char *argv[4] = {key, kind, who, what};
    if (rds_eval(srv.redis, SCRIPT_socket_access, on_access, s, 1, 4, argv, NULL) < 0)
        resp_unavailable(s->req);
}

/* When s[0..*n) starts with prefix, drops it and returns true. */
static bool strip(const char **s, size_t *n, const char *prefix) {
    size_t plen = strlen(prefix);
    if (*n < plen || memcmp(*s, prefix, plen) != 0)
        return false;
    *s += plen;
    *n -= plen;
    return true;
}

/* Decides on s->sub.channel: grants it, refuses it, or asks the store. */
static void authorize(struct socket_auth *s) {
    http_request *req = s->req;
    const struct account *me = req->account; /* or NULL for a guest */
    const struct guest *guest = req->guest;
    const char *id = s->sub.channel;
    size_t n = s->sub.channel_len;
    if (pusher_channel_kind(id, n) == PUSHER_CHANNEL_PRESENCE) {
        s->presence = true;
        if (me && me->organization[0] && strip(&id, &n, "presence-org-") && n > 0) {
            const char *code = arena_strndup(&req->arena, id, n);
            ask_store(s, "org", me->organization, strlen(me->organization), "", code);
            return;
        }
    } else if (pusher_channel_kind(id, n) == PUSHER_CHANNEL_PRIVATE) {
        if (strip(&id, &n, "private-account-")) {
            if (me && n == strlen(me->id) && memcmp(id, me->id, n) == 0) {
                grant(s);
                return;
            }
        } else if (strip(&id, &n, "private-gig-") || strip(&id, &n, "private-chat_")) {
            if (me && is_uuid(id, n)) {
                ask_store(s, "gig", id, n, me->id, "");
                return;
            }
        } else if (strip(&id, &n, "private-stream-")) {
            if (guest && n == strlen(guest->stream) && memcmp(id, guest->stream, n) == 0) {
                ask_store(s, "stream", id, n, guest->id, "");
                return;
            }
            if (me && !strcmp(me->type, "dealer") && me->organization[0] && is_uuid(id, n)) {
                ask_store(s, "stream", id, n, "", me->organization);
                return;
            }
        } else if (strip(&id, &n, "private-org-")) {
            if (me && me->organization[0] && n > 0) {
                const char *code = arena_strndup(&req->arena, id, n);
                ask_store(s, "org", me->organization, strlen(me->organization), "", code);
                return;
            }
        }
    }
    forbidden(req);
}

void socket_auth(http_request *req) {
    if (!srv.cfg.pusher_key || !srv.cfg.pusher_key[0] || !srv.cfg.pusher_secret ||
        !srv.cfg.pusher_secret[0]) {
        resp_error(req, 503, "pusher-not-configured",
                   "Pusher is not configured (ONAIR_PUSHER_KEY, ONAIR_PUSHER_SECRET)");
        return;
    }
    struct socket_auth *s = arena_calloc(&req->arena, sizeof *s);
    s->req = req;
    if (read_body(req, s) < 0)
        return;
    authorize(s);
}
