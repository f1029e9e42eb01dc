/* The telemetry SDK's tokens and the plumbing its routes share
 * (handlers/telemetry.h). */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/server.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "handlers/records.h"
#include "handlers/telemetry.h"
#include "protocol/jwt.h"
#include "storage/keys.h"
#include "storage/secret.h"

/* Clock skew tolerated between instances, as for account tokens. */
#define TM_LEEWAY_S 5

static uint8_t keys[2][crypto_auth_hmacsha256_BYTES];
static bool keys_ready;

/* The key of `kind`, derived once the secret is known; NULL before. */
static const uint8_t *token_key(enum tm_token_kind kind) {
    if (!keys_ready) {
        size_t len;
        const uint8_t *secret = secret_key(&len);
        if (!secret)
            return NULL;
        static const char *const labels[2] = {TM_INIT_LABEL, TM_SESSION_LABEL};
        for (int i = 0; i < 2; i++) {
            crypto_auth_hmacsha256_state st;
            crypto_auth_hmacsha256_init(&st, secret, len);
            crypto_auth_hmacsha256_update(&st, (const uint8_t *)labels[i], strlen(labels[i]));
            crypto_auth_hmacsha256_final(&st, keys[i]);
        }
        keys_ready = true;
    }
    return keys[kind];
}

static const char *token_typ(enum tm_token_kind kind) {
    return kind == TM_INIT ? "tm-init" : "tm-session";
}

int tm_token_issue(buf *out, enum tm_token_kind kind, const struct tm_claims *c) {
    const uint8_t *key = token_key(kind);
    if (!key)
        return -1;
    int64_t now = (int64_t)time(NULL);
    char payload[384];
    int n =
        snprintf(payload, sizeof payload,
                 "{\"typ\":\"%s\",\"app\":\"%s\",\"cnf\":\"%s\",\"par\":\"%s\"%s%s%s,"
                 "\"iat\":%lld,\"exp\":%lld}",
                 token_typ(kind), c->app, c->conference, c->participant,
                 kind == TM_SESSION ? ",\"ses\":\"" : "", kind == TM_SESSION ? c->session : "",
                 kind == TM_SESSION ? "\"" : "", (long long)now, (long long)(now + TM_TOKEN_TTL_S));
    jwt_sign(out, key, sizeof keys[0], payload, (size_t)n);
    return 0;
}

/* {"status":code,"message":message,"error_code":code} */
static void tm_error_body(json_writer *w, const char *code, const char *message) {
    json_w_obj_open(w);
    json_w_key(w, "status");
    json_w_cstr(w, code);
    json_w_key(w, "message");
    json_w_cstr(w, message);
    json_w_key(w, "error_code");
    json_w_cstr(w, code);
    json_w_obj_close(w);
}

void tm_error(http_request *req, int status, const char *code, const char *message) {
    buf b;
    buf_init(&b, &req->arena);
    json_writer w;
    json_w_init(&w, &b);
    tm_error_body(&w, code, message);
    resp_json(req, status, &b);
}

void tm_ok_empty(http_request *req) {
    resp_json_str(req, 200, "\"\"");
}

void tm_missing(http_request *req, const char *what) {
    char msg[96];
    snprintf(msg, sizeof msg, "Missing %s", what);
    tm_error(req, 400, "missing_parameters", msg);
}

void tm_invalid(http_request *req, const char *what) {
    char msg[96];
    snprintf(msg, sizeof msg, "Invalid %s", what);
    tm_error(req, 400, "invalid_parameters", msg);
}

int tm_member_str(http_request *req, const json_doc *doc, int obj, const char *name, const char **s,
                  size_t *n) {
    int t = json_get(doc, obj, name);
    *s = "";
    *n = 0;
    if (t < 0 || json_type(doc, t) == JSON_NULL)
        return 0;
    return json_string(doc, t, &req->arena, s, n) < 0 ? -1 : 1;
}

int tm_member_delta(const json_doc *doc, int obj, const char *name, double *ms) {
    int t = json_get(doc, obj, name);
    *ms = 0;
    if (t < 0 || json_type(doc, t) == JSON_NULL)
        return 0;
    if (json_number(doc, t, ms) < 0 || !isfinite(*ms) || *ms < 0)
        return -1;
    return 0;
}

uint64_t tm_backdate(double delta_ms) {
    uint64_t now = now_ms();
    return delta_ms >= (double)now ? 0 : now - (uint64_t)delta_ms;
}

/* Copies a claim that must be a server id into out. */
static int claim_id(const json_doc *doc, const char *name, arena *a, char out[37]) {
    const char *s;
    size_t n;
    int t = json_get(doc, 0, name);
    if (t < 0 || json_string(doc, t, a, &s, &n) < 0 || !is_uuid(s, n))
        return -1;
    memcpy(out, s, 37);
    return 0;
}

/* Verifies a token of `kind` and fills c from its claims. */
static int token_verify(http_request *req, const char *tok, size_t len, enum tm_token_kind kind,
                        struct tm_claims *c) {
    const uint8_t *key = token_key(kind);
    if (!key) {
        resp_unavailable(req);
        return -1;
    }
    json_doc claims;
    enum jwt_result r = jwt_verify(tok, len, key, sizeof keys[0], (int64_t)time(NULL), TM_LEEWAY_S,
                                   &req->arena, &claims);
    if (r == JWT_EEXPIRED) {
        tm_error(req, 401, "expired_token", "The token has expired");
        return -1;
    }
    int typ = r == JWT_OK ? json_get(&claims, 0, "typ") : -1;
    memset(c, 0, sizeof *c);
    if (typ < 0 || !json_string_eq(&claims, typ, token_typ(kind)) ||
        claim_id(&claims, "app", &req->arena, c->app) < 0 ||
        claim_id(&claims, "cnf", &req->arena, c->conference) < 0 ||
        claim_id(&claims, "par", &req->arena, c->participant) < 0 ||
        (kind == TM_SESSION && claim_id(&claims, "ses", &req->arena, c->session) < 0)) {
        tm_error(req, 401, "invalid_token", "The token is not valid here");
        return -1;
    }
    return 0;
}

int tm_parse(http_request *req, json_doc *doc) {
    if (json_parse(doc, &req->arena, req->body.data ? req->body.data : "", req->body.len) < 0) {
        tm_error(req, 400, "bad-json", "The body is not valid JSON");
        return -1;
    }
    if (json_type(doc, 0) != JSON_OBJECT) {
        tm_error(req, 400, "invalid_parameters", "The body must be a JSON object");
        return -1;
    }
    return 0;
}

int tm_begin(http_request *req, json_doc *doc, enum tm_token_kind kind, struct tm_claims *c) {
    if (tm_parse(req, doc) < 0)
        return -1;
    int t = json_get(doc, 0, "token");
    if (t < 0 || json_type(doc, t) == JSON_NULL) {
        tm_error(req, 401, "missing_token", "The body carries no token");
        return -1;
    }
    if (json_type(doc, t) != JSON_STRING) {
        tm_error(req, 401, "invalid_token", "The token must be a string");
        return -1;
    }
    const char *tok;
    size_t len;
    json_raw(doc, t, &tok, &len); /* a JWT holds no escapes: its raw bytes are the token */
    return token_verify(req, tok + 1, len - 2, kind, c);
}

int tm_eval(http_request *req, enum script_id script, rds_cb cb, void *ud, int argc,
            const char **argv, const size_t *lens) {
    enum { COMMON = 6 };
    if (argc + COMMON > RDS_EVAL_MAX_ARGC) {
        resp_unavailable(req);
        return -1;
    }
    char ip[64], name[96], limiter[KEY_MAX], now[24], interval[24], ttl[24], iso[32];
    if (client_ip(req, ip, sizeof ip) < 0)
        strcpy(ip, "unknown");
    snprintf(name, sizeof name, "gcra:tm:%s", ip);
    size_t klen = key_named(limiter, name);
    uint64_t ms = now_ms();
    uint64_t per_min = srv.cfg.telemetry_rate_per_min;
    const char *prefix = keys_prefix();
    const char *av[RDS_EVAL_MAX_ARGC];
    size_t al[RDS_EVAL_MAX_ARGC];
    av[0] = limiter, al[0] = klen;
    av[1] = now, al[1] = (size_t)snprintf(now, sizeof now, "%llu", (unsigned long long)ms);
    av[2] = interval, al[2] = (size_t)snprintf(interval, sizeof interval, "%llu",
                                               (unsigned long long)gcra_interval_us(per_min));
    av[3] = prefix, al[3] = strlen(prefix);
    av[4] = ttl, al[4] = (size_t)snprintf(ttl, sizeof ttl, "%llu",
                                          (unsigned long long)srv.cfg.telemetry_retention_s);
    ms_iso(ms, iso);
    av[5] = iso, al[5] = strlen(iso);
    for (int i = 0; i < argc; i++) {
        av[COMMON + i] = argv[i];
        al[COMMON + i] = lens ? lens[i] : strlen(argv[i]);
    }
    if (rds_eval(srv.redis, script, cb, ud, 1, argc + COMMON, av, al) < 0) {
        resp_unavailable(req);
        return -1;
    }
    return 0;
}

/* The HTTP status of a script's error code. */
static int code_status(const char *code) {
    return !strcmp(code, "domain_not_allowed") || !strcmp(code, "quota_exceeded") ? 403 : 400;
}

/* The message that goes with a script's error code. */
static const char *code_message(const char *code) {
    static const struct {
        const char *code, *message;
    } messages[] = {
        {"invalid_api_key", "The apiKey names no active app"},
        {"app_not_recording", "The app is not recording"},
        {"domain_not_allowed", "The Origin is not the app's domain"},
        {"quota_exceeded", "The organization has used its plan's quota for this month"},
        {"connection_not_found", "No such connection"},
        {"connection_ended", "The connection has ended"},
        {"conference_not_found", "The conference is no longer kept"},
        {"session_not_found", "The session is no longer kept"},
        {"track_not_found", "No such track"},
    };
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (!strcmp(messages[i].code, code))
            return messages[i].message;
    return "Refused";
}

int tm_reply_check(http_request *req, const redisReply *reply, int err) {
    if (err || !record_tagged(reply)) {
        resp_unavailable(req);
        return -1;
    }
    const char *outcome = reply->element[0]->str;
    if (!strcmp(outcome, "ok"))
        return 0;
    if (!strcmp(outcome, "rate") && reply->elements > 1 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        char hdr[48];
        snprintf(hdr, sizeof hdr, "Retry-After: %lld\r\n",
                 (reply->element[1]->integer + 999) / 1000);
        buf b;
        buf_init(&b, &req->arena);
        json_writer w;
        json_w_init(&w, &b);
        tm_error_body(&w, "rate-limited", "Too many requests; retry later");
        resp_send(req, 429, "application/json; charset=utf-8", hdr, b.data, b.len);
        return -1;
    }
    if (!strcmp(outcome, "err") && reply->elements > 1 &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        const char *code = reply->element[1]->str;
        tm_error(req, code_status(code), code, code_message(code));
        return -1;
    }
    resp_unavailable(req);
    return -1;
}
