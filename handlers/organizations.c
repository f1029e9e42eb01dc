/* Organizations (API.md §6.3): created and owned by an account (a non-admin
 * may own one), seen by their owner, their active members and admins.  The
 * public `code` registers dealers; the secret `token` is shown only to the
 * owner and admins. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "handlers/records.h"
#include "storage/keys.h"

#define CODE_LEN 8
#define LIST_DEFAULT 50
#define LIST_MAX 200

/* Writes an organization from its hash fields; the token only when `secret`. */
static void org_write_json(json_writer *w, const redisReply *flat, bool secret) {
    static const char *const order[] = {"id",   "name",  "code",     "token",
                                        "plan", "owner", "createdAt"};
    json_w_obj_open(w);
    for (size_t f = 0; f < sizeof order / sizeof order[0]; f++) {
        if (!secret && !strcmp(order[f], "token"))
            continue;
        for (size_t i = 0; i + 1 < flat->elements; i += 2)
            if (!strcmp(flat->element[i]->str, order[f])) {
                json_w_key(w, order[f]);
                json_w_str(w, flat->element[i + 1]->str, flat->element[i + 1]->len);
                break;
            }
    }
    json_w_obj_close(w);
}

static bool role_sees_secret(const char *role) {
    return !strcmp(role, "owner") || !strcmp(role, "admin");
}

static void respond_one(http_request *req, const char *role, const redisReply *flat) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "data");
    org_write_json(&r.w, flat, role_sees_secret(role));
    json_resp_send(req, &r, 200);
}

/* ---- create ---- */

struct create_ctx {
    http_request *req;
    const char *name;
    int attempts;
};

static void create_try(struct create_ctx *c);

static void on_created(redisReply *reply, int err, void *ud) {
    struct create_ctx *c = ud;
    http_request *req = c->req;
    if (err || !record_tagged(reply)) {
        resp_unavailable(req);
        return;
    }
    const char *outcome = reply->element[0]->str;
    if (!strcmp(outcome, "max")) {
        resp_error(req, 400, "max_organizations_reached", "An account may own one organization");
    } else if (!strcmp(outcome, "code-taken") && ++c->attempts < 5) {
        create_try(c); /* 36^8 codes: a collision is rare, several in a row rarer still */
    } else if (!strcmp(outcome, "ok") && reply->elements > 1) {
        respond_one(req, "owner", reply->element[1]);
    } else {
        resp_error(req, 500, "internal", "Could not allocate an organization code");
    }
}

static void create_try(struct create_ctx *c) {
    http_request *req = c->req;
    const struct account *me = req->account;
    char id[37], code[CODE_LEN + 1], token[33], created[32], ms[24];
    uuid_v4(id);
    uint8_t r[CODE_LEN + 16];
    randombytes_buf(r, sizeof r);
    for (int i = 0; i < CODE_LEN; i++)
        code[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[r[i] % 36];
    code[CODE_LEN] = '\0';
    sodium_bin2hex(token, sizeof token, r + CODE_LEN, 16);
    now_iso(created);
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)now_ms());
    char org[KEY_MAX], idx[KEY_MAX], tidx[KEY_MAX], owned[KEY_MAX], all[KEY_MAX], name[64];
    key_entity(org, "org", id, 36, NULL);
    snprintf(name, sizeof name, "idx:orgcode:%s", code);
    key_named(idx, name);
    snprintf(name, sizeof name, "idx:orgtoken:%s", token);
    key_named(tidx, name);
    key_entity(owned, "acct", me->id, strlen(me->id), ":orgs");
    key_named(all, "orgs:all");
    const char *argv[] = {
        org,     idx,    owned,       all,     tidx,      account_is_admin(me) ? "1" : "0",
        ms,      id,     "id",        id,      "name",    c->name,
        "code",  code,   "token",     token,   "plan",    "free",
        "owner", me->id, "createdAt", created, "deleted", "0"};
    if (rds_eval(srv.redis, SCRIPT_org_create, on_created, c, 5, sizeof argv / sizeof argv[0], argv,
                 NULL) < 0)
        resp_unavailable(req);
}

void orgs_create(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    struct create_ctx *c = arena_calloc(&req->arena, sizeof *c);
    c->req = req;
    const char *field, *reason;
    const struct json_field fields[] = {
        {.name = "name",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 100,
         .out = &c->name},
    };
    if (json_type(&doc, 0) != JSON_OBJECT ||
        json_extract(&doc, 0, &req->arena, fields, 1, &field, &reason) < 0) {
        handler_invalid(req, 422, "invalid", "name", "is required: 1 to 100 characters");
        return;
    }
    create_try(c);
}

/* ---- read, rename, delete ---- */

struct access_ctx {
    http_request *req;
    bool deleting;
};

static void on_access(redisReply *reply, int err, void *ud) {
    struct access_ctx *c = ud;
    http_request *req = c->req;
    if (err || !record_tagged(reply)) {
        resp_unavailable(req);
        return;
    }
    const char *role = reply->element[0]->str;
    if (!strcmp(role, "not-found") || reply->elements < 2) {
        if (!strcmp(role, "forbidden"))
            resp_error(req, 403, "forbidden", "Only the owner or an admin may change it");
        else
            resp_error(req, 404, "not-found", "No such organization");
        return;
    }
    if (c->deleting)
        resp_json_str(req, 200, "{\"status\":\"success\"}");
    else
        respond_one(req, role, reply->element[1]);
}

static void access(http_request *req, const char *action, const char *new_name) {
    size_t idlen;
    const char *id = id_param(req, &idlen, "No such organization");
    if (!id)
        return;
    const struct account *me = req->account;
    struct access_ctx *c = arena_calloc(&req->arena, sizeof *c);
    c->req = req;
    c->deleting = !strcmp(action, "delete");
    char key[KEY_MAX];
    key_entity(key, "org", id, idlen, NULL);
    const char *argv[8] = {key,
                           action,
                           me->id,
                           account_is_admin(me) ? "1" : "0",
                           me->organization,
                           account_can_log_in(me) ? "1" : "0",
                           keys_prefix(),
                           new_name ? new_name : ""};
    if (rds_eval(srv.redis, SCRIPT_org_access, on_access, c, 1, 8, argv, NULL) < 0)
        resp_unavailable(req);
}

void orgs_get(http_request *req) {
    access(req, "get", NULL);
}

void orgs_delete(http_request *req) {
    access(req, "delete", NULL);
}

void orgs_update(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *name, *field, *reason;
    const struct json_field fields[] = {
        {.name = "name",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 100,
         .out = &name},
    };
    if (json_type(&doc, 0) != JSON_OBJECT ||
        json_extract(&doc, 0, &req->arena, fields, 1, &field, &reason) < 0) {
        handler_invalid(req, 422, "invalid", "name", "is required: 1 to 100 characters");
        return;
    }
    access(req, "rename", name);
}

/* ---- list ---- */

/* Reads ?limit (1..200, default 50) and ?offset (>= 0); answers 422 itself. */
int read_paging(http_request *req, long *limit, long *offset) {
    const char *v;
    char *end;
    *limit = LIST_DEFAULT;
    *offset = 0;
    if (http_query(req, "limit", &v, NULL) == 0) {
        *limit = strtol(v, &end, 10);
        if (*end || !*v || *limit < 1 || *limit > LIST_MAX) {
            handler_invalid(req, 422, "invalid", "limit", "must be 1..200");
            return -1;
        }
    }
    if (http_query(req, "offset", &v, NULL) == 0) {
        *offset = strtol(v, &end, 10);
        if (*end || !*v || *offset < 0 || *offset > 1000000000) {
            handler_invalid(req, 422, "invalid", "offset", "must be a whole number");
            return -1;
        }
    }
    return 0;
}

static void on_list(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        resp_unavailable(req);
        return;
    }
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "data");
    json_w_arr_open(&r.w);
    for (size_t i = 1; i + 1 < reply->elements; i += 2)
        if (reply->element[i + 1]->elements)
            org_write_json(&r.w, reply->element[i + 1], role_sees_secret(reply->element[i]->str));
    json_w_arr_close(&r.w);
    json_w_key(&r.w, "count");
    json_w_int(&r.w, reply->element[0]->integer);
    json_resp_send(req, &r, 200);
}

void orgs_list(http_request *req) {
    long limit, offset;
    if (read_paging(req, &limit, &offset) < 0)
        return;
    const struct account *me = req->account;
    char owned[KEY_MAX], all[KEY_MAX], slimit[16], soffset[16];
    key_entity(owned, "acct", me->id, strlen(me->id), ":orgs");
    key_named(all, "orgs:all");
    snprintf(slimit, sizeof slimit, "%ld", limit);
    snprintf(soffset, sizeof soffset, "%ld", offset);
    const char *argv[9] = {owned,
                           all,
                           account_is_admin(me) ? "1" : "0",
                           me->organization,
                           account_can_log_in(me) ? "1" : "0",
                           soffset,
                           slimit,
                           keys_prefix(),
                           me->id};
    if (rds_eval(srv.redis, SCRIPT_org_list, on_list, req, 2, 9, argv, NULL) < 0)
        resp_unavailable(req);
}
