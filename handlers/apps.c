/* Telemetry apps (API.md §6.2–§6.3): an organization's apps, each with the
 * api_key the SDK's /initialize presents.  Members of the organization (its
 * owner and its active accounts) and admins see and change them; anyone else
 * is told they do not exist. */
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

#define NAME_MAX_CHARS 100
#define DOMAIN_MAX 253
#define INTERVAL_DEFAULT "10000"
#define INTERVAL_MIN 1000
#define INTERVAL_MAX 3600000

/* The descriptions of the name and domain fields (POST and PUT). */
static struct json_field name_field(const char **out, bool required) {
    return (struct json_field){.name = "name",
                               .type = JSON_STRING,
                               .required = required,
                               .min_len = 1,
                               .max_len = NAME_MAX_CHARS,
                               .chars = true,
                               .out = out};
}

static struct json_field domain_field(const char **out, bool *present) {
    return (struct json_field){.name = "domain",
                               .type = JSON_STRING,
                               .null_ok = true,
                               .max_len = DOMAIN_MAX,
                               .out = out,
                               .present = present};
}

/* A fresh api_key: 32 lowercase hex characters. */
static void new_api_key(char out[33]) {
    uint8_t r[16];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(out, 33, r, sizeof r);
}

/* Writes {"data": app} from its hash fields. */
static void app_respond(http_request *req, const redisReply *flat) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "data");
    json_w_obj_open(&r.w);
    static const char *const order[] = {"id",        "name",     "api_key",      "domain",
                                        "recording", "interval", "organization", "createdAt"};
    for (size_t f = 0; f < sizeof order / sizeof order[0]; f++)
        for (size_t i = 0; i + 1 < flat->elements; i += 2) {
            const redisReply *v = flat->element[i + 1];
            if (strcmp(flat->element[i]->str, order[f]) != 0)
                continue;
            json_w_key(&r.w, order[f]);
            if (!strcmp(order[f], "recording"))
                json_w_bool(&r.w, v->str[0] == '1');
            else if (!strcmp(order[f], "interval"))
                json_w_int(&r.w, strtoll(v->str, NULL, 10));
            else if (!strcmp(order[f], "domain") && !v->len)
                json_w_null(&r.w);
            else
                json_w_str(&r.w, v->str, v->len);
            break;
        }
    json_w_obj_close(&r.w);
    json_resp_send(req, &r, 200);
}

static void on_app(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !record_tagged(reply)) {
        resp_unavailable(req);
        return;
    }
    const char *outcome = reply->element[0]->str;
    if (!strcmp(outcome, "ok") && reply->elements > 1)
        app_respond(req, reply->element[1]);
    else if (!strcmp(outcome, "key-taken")) /* 2^128 keys: never in practice */
        resp_error(req, 500, "internal", "Could not allocate an api_key");
    else
        resp_error(req, 404, "not-found",
                   req->method == HTTP_POST && !req->match.nparams ? "No such organization"
                                                                   : "No such app");
}

/* A domain as stored: lowercased; "" for none. */
static const char *domain_lower(http_request *req, const char *d) {
    char *out = arena_strndup(&req->arena, d ? d : "", d ? strlen(d) : 0);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

void apps_create(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *org, *name, *domain = NULL;
    size_t orglen;
    const struct json_field fields[] = {
        {.name = "organization",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 64,
         .out = &org,
         .len_out = &orglen},
        name_field(&name, true),
        domain_field(&domain, NULL),
    };
    if (handler_extract(req, &doc, fields, 3) < 0)
        return;
    if (!is_uuid(org, orglen)) {
        handler_invalid(req, 422, "invalid", "organization", "names no organization");
        return;
    }
    const struct account *me = req->account;
    char id[37], key[33], created[32];
    uuid_v4(id);
    new_api_key(key);
    now_iso(created);
    char orgkey[KEY_MAX], idx[KEY_MAX], apps[KEY_MAX], app[KEY_MAX], iname[64];
    key_entity(orgkey, "org", org, orglen, NULL);
    snprintf(iname, sizeof iname, "idx:appkey:%s", key);
    key_named(idx, iname);
    key_entity(apps, "org", org, orglen, ":apps");
    key_entity(app, "app", id, 36, NULL);
    const char *argv[] = {orgkey,
                          idx,
                          apps,
                          me->id,
                          account_is_admin(me) ? "1" : "0",
                          me->organization,
                          account_can_log_in(me) ? "1" : "0",
                          app,
                          "id",
                          id,
                          "name",
                          name,
                          "api_key",
                          key,
                          "domain",
                          domain_lower(req, domain),
                          "recording",
                          "1",
                          "interval",
                          INTERVAL_DEFAULT,
                          "organization",
                          org,
                          "createdAt",
                          created,
                          "deleted",
                          "0"};
    if (rds_eval(srv.redis, SCRIPT_app_create, on_app, req, 3, sizeof argv / sizeof argv[0], argv,
                 NULL) < 0)
        resp_unavailable(req);
}

/* Runs app_access.lua for the route's app: `extra` field/value pairs for
 * an update (at most APP_UPDATE_ARGS strings). */
#define APP_ACCESS_ARGS 8
#define APP_UPDATE_ARGS 8
static void app_access(http_request *req, const char *action, int nextra, const char **extra) {
    size_t idlen;
    const char *id = id_param(req, &idlen, "No such app");
    if (!id)
        return;
    const struct account *me = req->account;
    char app[KEY_MAX], key[33] = "";
    key_entity(app, "app", id, idlen, NULL);
    if (!strcmp(action, "reset"))
        new_api_key(key);
    const char *argv[APP_ACCESS_ARGS + APP_UPDATE_ARGS] = {app,
                                                           action,
                                                           me->id,
                                                           account_is_admin(me) ? "1" : "0",
                                                           me->organization,
                                                           account_can_log_in(me) ? "1" : "0",
                                                           keys_prefix(),
                                                           key};
    for (int i = 0; i < nextra; i++)
        argv[APP_ACCESS_ARGS + i] = extra[i];
    if (rds_eval(srv.redis, SCRIPT_app_access, on_app, req, 1, APP_ACCESS_ARGS + nextra, argv,
                 NULL) < 0)
        resp_unavailable(req);
}

void apps_get(http_request *req) {
    app_access(req, "get", 0, NULL);
}

void apps_delete(http_request *req) {
    app_access(req, "delete", 0, NULL);
}

void apps_reset_key(http_request *req) {
    app_access(req, "reset", 0, NULL);
}

void apps_update(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *name = NULL, *domain = NULL;
    double interval = 0;
    bool recording = true, has_domain = false, has_interval = false, has_recording = false;
    const struct json_field fields[] = {
        name_field(&name, false),
        domain_field(&domain, &has_domain),
        {.name = "interval", .type = JSON_NUMBER, .out = &interval, .present = &has_interval},
        {.name = "recording", .type = JSON_BOOL, .out = &recording, .present = &has_recording},
    };
    if (handler_extract(req, &doc, fields, 4) < 0)
        return;
    if (has_interval && (interval != (double)(long long)interval || interval < INTERVAL_MIN ||
                         interval > INTERVAL_MAX)) {
        handler_invalid(req, 422, "invalid", "interval",
                        "must be whole milliseconds, 1000..3600000");
        return;
    }
    const char *extra[APP_UPDATE_ARGS];
    int n = 0;
    if (name)
        extra[n++] = "name", extra[n++] = name;
    int d = json_get(&doc, 0, "domain");
    if (has_domain || (d >= 0 && json_type(&doc, d) == JSON_NULL))
        extra[n++] = "domain", extra[n++] = domain_lower(req, has_domain ? domain : NULL);
    if (has_interval) {
        char *s = arena_alloc(&req->arena, 24);
        snprintf(s, 24, "%lld", (long long)interval);
        extra[n++] = "interval", extra[n++] = s;
    }
    if (has_recording)
        extra[n++] = "recording", extra[n++] = recording ? "1" : "0";
    app_access(req, "update", n, extra);
}
