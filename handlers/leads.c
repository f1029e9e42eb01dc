/* Leads (API.md §5, docs/streams.md "Leads"): a shopper leaves its contact
 * details for a dealership, naming it by one of its streams or by its
 * organization token; the organization's owner and dealers, and admins, read
 * them.
 *
 * lead_create.lua finds the organization and writes the lead with its
 * indexes in one step; lead_list.lua pages what a caller may read.  This file
 * validates input, shapes answers and tells the organization's owner. */
#include <stdio.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/events.h"
#include "handlers/handlers.h"
#include "handlers/records.h"
#include "storage/keys.h"

#define ORG_TOKEN_LEN 32 /* 16 random bytes in hex (organizations.c) */

/* The lead object's keys, which are also its hash's fields, in order. */
static const char *const lead_keys[] = {"id",      "organization", "streamId",  "vin",
                                        "email",   "phone",        "firstName", "lastName",
                                        "comment", "createdAt"};
#define NLEAD_KEYS (sizeof lead_keys / sizeof lead_keys[0])

/* Writes a lead from its HGETALL reply ('' is null). */
static void lead_write_json(json_writer *w, const redisReply *flat) {
    json_w_obj_open(w);
    for (size_t k = 0; k < NLEAD_KEYS; k++) {
        const redisReply *v = NULL;
        for (size_t i = 0; i + 1 < flat->elements && !v; i += 2)
            if (flat->element[i]->type == REDIS_REPLY_STRING &&
                !strcmp(flat->element[i]->str, lead_keys[k]))
                v = flat->element[i + 1];
        json_w_key(w, lead_keys[k]);
        if (v && v->type == REDIS_REPLY_STRING && v->len)
            json_w_str(w, v->str, v->len);
        else
            json_w_null(w);
    }
    json_w_obj_close(w);
}

static bool is_lead(const redisReply *flat) {
    return flat && flat->type == REDIS_REPLY_ARRAY && flat->elements >= 2 &&
           flat->elements % 2 == 0;
}

/* ---- POST /leads ---- */

/* The body's fields: all optional strings, each with the most characters it
 * may have (0: no limit of its own). */
enum { F_STREAM, F_TOKEN, F_VIN, F_EMAIL, F_PHONE, F_FIRST, F_LAST, F_COMMENT, NFIELDS };
static const struct {
    const char *name;
    size_t max_chars;
} inputs[NFIELDS] = {
    [F_STREAM] = {"streamId", 0}, [F_TOKEN] = {"organizationToken", 0},
    [F_VIN] = {"vinId", 32},      [F_EMAIL] = {"email", 254},
    [F_PHONE] = {"phone", 0},     [F_FIRST] = {"firstName", 100},
    [F_LAST] = {"lastName", 100}, [F_COMMENT] = {"comment", 4000},
};

struct lead_in {
    const char *v[NFIELDS];
    size_t len[NFIELDS];
    bool has[NFIELDS];
};

/* Reads and checks the body; 0, or -1 after answering 400 or 422. */
static int read_lead(http_request *req, struct lead_in *in) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return -1;
    struct json_field fields[NFIELDS];
    for (int f = 0; f < NFIELDS; f++)
        fields[f] = (struct json_field){.name = inputs[f].name,
                                        .type = JSON_STRING,
                                        .null_ok = true,
                                        .min_len = 1,
                                        .out = &in->v[f],
                                        .len_out = &in->len[f],
                                        .present = &in->has[f]};
    if (handler_extract(req, &doc, fields, NFIELDS) < 0)
        return -1;
    for (int f = 0; f < NFIELDS; f++) {
        if (in->has[f] && inputs[f].max_chars &&
            json_utf8_chars(in->v[f], in->len[f]) > inputs[f].max_chars) {
            char reason[48];
            snprintf(reason, sizeof reason, "must be at most %zu characters", inputs[f].max_chars);
            handler_invalid(req, 422, "invalid", inputs[f].name, reason);
            return -1;
        }
    }
    if (!in->has[F_EMAIL] && !in->has[F_PHONE]) {
        handler_invalid(req, 422, "invalid", "email", "or phone is required");
        return -1;
    }
    if (in->has[F_EMAIL] && !valid_email(in->v[F_EMAIL], in->len[F_EMAIL])) {
        handler_invalid(req, 422, "invalid", "email", "is not an email address");
        return -1;
    }
    if (in->has[F_PHONE] && !valid_phone(in->v[F_PHONE], in->len[F_PHONE])) {
        handler_invalid(req, 422, "invalid", "phone", "must be 6 to 16 digits, + first allowed");
        return -1;
    }
    if (!in->has[F_STREAM] && !in->has[F_TOKEN]) {
        handler_invalid(req, 422, "invalid", "organizationToken", "or streamId is required");
        return -1;
    }
    if (!in->has[F_STREAM] && !in->has[F_VIN]) {
        handler_invalid(req, 422, "invalid", "vinId", "is required with organizationToken");
        return -1;
    }
    return 0;
}

static bool is_org_token(const char *s, size_t n) {
    if (n != ORG_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void lead_not_found(http_request *req, bool by_stream) {
    resp_error(req, 404, "not-found", by_stream ? "No such stream" : "No such organization token");
}

struct create {
    http_request *req;
    bool by_stream;
};

static void on_created(redisReply *reply, int err, void *ud) {
    struct create *c = ud;
    http_request *req = c->req;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    if (!strcmp(reply->element[0]->str, "not-found")) {
        lead_not_found(req, c->by_stream);
        return;
    }
    if (strcmp(reply->element[0]->str, "ok") || reply->elements != 3 ||
        !is_lead(reply->element[1]) || reply->element[2]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "lead");
    size_t at = r.b.len;
    lead_write_json(&r.w, reply->element[1]);
    size_t lead_len = r.b.len - at;
    const redisReply *owner = reply->element[2];
    if (owner->len) {
        buf ev;
        buf_init(&ev, &req->arena);
        buf_appends(&ev, "{\"lead\":");
        buf_append(&ev, r.b.data + at, lead_len);
        buf_appendc(&ev, '}');
        events_notify("acct", owner->str, owner->len, "lead", ev.data, ev.len);
    }
    json_resp_send(req, &r, 201);
}

void leads_create(http_request *req) {
    struct lead_in in = {0};
    if (read_lead(req, &in) < 0)
        return;
    struct create *c = arena_calloc(&req->arena, sizeof *c);
    c->req = req;
    c->by_stream = in.has[F_STREAM]; /* streamId wins when both forms are given */
    char lead[KEY_MAX], by[KEY_MAX], id[37], iso[32], ms[24];
    if (c->by_stream) {
        if (!is_uuid(in.v[F_STREAM], in.len[F_STREAM])) {
            lead_not_found(req, true);
            return;
        }
        key_entity(by, "stream", in.v[F_STREAM], in.len[F_STREAM], NULL);
    } else {
        if (!is_org_token(in.v[F_TOKEN], in.len[F_TOKEN])) {
            lead_not_found(req, false);
            return;
        }
        char name[64];
        snprintf(name, sizeof name, "idx:orgtoken:%s", in.v[F_TOKEN]);
        key_named(by, name);
    }
    uuid_v4(id);
    key_entity(lead, "lead", id, 36, NULL);
    now_iso(iso);
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)now_ms());
    enum { HEAD = 7, NOPT = 5 };
    static const int optional[NOPT] = {F_EMAIL, F_PHONE, F_FIRST, F_LAST, F_COMMENT};
    const char *argv[HEAD + 2 * NOPT + 2] = {lead,
                                             by,
                                             keys_prefix(),
                                             c->by_stream ? "stream" : "token",
                                             id,
                                             ms,
                                             c->by_stream ? "" : in.v[F_VIN]};
    size_t lens[HEAD + 2 * NOPT + 2];
    for (int i = 0; i < HEAD; i++)
        lens[i] = strlen(argv[i]);
    int argc = HEAD;
    for (int i = 0; i < NOPT; i++) {
        int f = optional[i];
        argv[argc] = inputs[f].name;
        lens[argc] = strlen(inputs[f].name);
        argc++;
        argv[argc] = in.has[f] ? in.v[f] : "";
        lens[argc] = in.has[f] ? in.len[f] : 0;
        argc++;
    }
    argv[argc] = "createdAt";
    lens[argc++] = 9;
    argv[argc] = iso;
    lens[argc] = strlen(iso);
    argc++;
    if (rds_eval(srv.redis, SCRIPT_lead_create, on_created, c, 2, argc, argv, lens) < 0)
        resp_unavailable(req);
}

/* ---- GET /leads ---- */

static bool write_listed(json_writer *w, arena *a, const redisReply *entity) {
    (void)a;
    if (!is_lead(entity))
        return false;
    lead_write_json(w, entity);
    return true;
}

static void on_list(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (!err && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        !strcmp(reply->element[0]->str, "forbidden")) {
        resp_error(req, 403, "forbidden", "Only an organization's dealers and owner read leads");
        return;
    }
    record_page_respond(req, reply, err, "leads", write_listed);
}

void leads_list(http_request *req) {
    long limit, offset;
    if (read_paging(req, &limit, &offset) < 0)
        return;
    const struct account *me = req->account;
    char all[KEY_MAX], owned[KEY_MAX], slimit[16], soffset[16];
    key_named(all, "leads:all");
    key_entity(owned, "acct", me->id, strlen(me->id), ":orgs");
    snprintf(slimit, sizeof slimit, "%ld", limit);
    snprintf(soffset, sizeof soffset, "%ld", offset);
    const char *argv[7] = {all,
                           owned,
                           keys_prefix(),
                           account_is_admin(me) ? "1" : "0",
                           strcmp(me->type, "dealer") == 0 ? me->organization : "",
                           soffset,
                           slimit};
    if (rds_eval(srv.redis, SCRIPT_lead_list, on_list, req, 2, 7, argv, NULL) < 0)
        resp_unavailable(req);
}
