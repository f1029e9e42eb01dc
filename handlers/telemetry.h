/* What the telemetry SDK routes share (API.md §6.1, docs/telemetry.md): their
 * two tokens, their error bodies and the call of their scripts, which fold
 * the client-IP rate limit into the route's own round trip. */
#ifndef ONAIR_TELEMETRY_H
#define ONAIR_TELEMETRY_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "protocol/http1.h"
#include "protocol/json.h"
#include "storage/redis.h"

/* The two tokens: signed with separate keys (HMAC-SHA256 of the server
 * secret with TM_INIT_LABEL or TM_SESSION_LABEL), 24 h, carried in the body. */
enum tm_token_kind { TM_INIT, TM_SESSION };
#define TM_INIT_LABEL "onair telemetry init token v1"
#define TM_SESSION_LABEL "onair telemetry session token v1"
#define TM_TOKEN_TTL_S 86400

/* Whom a token speaks for: server ids (UUIDs, NUL-terminated). */
struct tm_claims {
    char app[37], conference[37], participant[37];
    char session[37]; /* session tokens only; "" in an init token */
};

/* Signs a token of `kind` for `c` into out.  -1 when the secret is not
 * known yet. */
int tm_token_issue(buf *out, enum tm_token_kind kind, const struct tm_claims *c);

/* Parses the body (whatever its Content-Type) as a JSON object; answers 400
 * bad-json / invalid_parameters itself and returns -1 when it is not. */
int tm_parse(http_request *req, json_doc *doc);

/* tm_parse, then verifies the body "token" of `kind` without the store: signature, expiry, claims.
 * Answers 400 bad-json / invalid_parameters, 401 missing_token /
 * invalid_token / expired_token or 503 itself and returns -1; else 0. */
int tm_begin(http_request *req, json_doc *doc, enum tm_token_kind kind, struct tm_claims *c);

/* Answers {"status":code,"message":message,"error_code":code}. */
void tm_error(http_request *req, int status, const char *code, const char *message);

/* Answers 400 missing_parameters / invalid_parameters naming `what`. */
void tm_missing(http_request *req, const char *what);
void tm_invalid(http_request *req, const char *what);

/* Member `name` of object `obj` as a string (unescaped into the arena):
 * 1 (set), 0 (absent or null: ""), -1 (another type). */
int tm_member_str(http_request *req, const json_doc *doc, int obj, const char *name, const char **s,
                  size_t *n);

/* Member `name` as a delta in ms: 0 with *ms set (0 when absent or null), or
 * -1 when it is negative or not a number. */
int tm_member_delta(const json_doc *doc, int obj, const char *name, double *ms);

/* When something the SDK reports `delta_ms` late happened: now - delta, in ms
 * since the epoch (0 for a delta reaching before the epoch). */
uint64_t tm_backdate(double delta_ms);

/* Answers 200 with the body "" (success with nothing to return). */
void tm_ok_empty(http_request *req);

/* Runs a telemetry script (storage/scripts/lib/telemetry.lua's calling
 * convention): the client IP's limiter and the common arguments are put
 * first, then argv[0..argc).  -1 after answering 503. */
int tm_eval(http_request *req, enum script_id script, rds_cb cb, void *ud, int argc,
            const char **argv, const size_t *lens);

/* Answers a script's refusal ({'rate', ms}, {'err', code}) or a store
 * failure, and returns -1; returns 0 for {'ok', ...}. */
int tm_reply_check(http_request *req, const redisReply *reply, int err);

#endif
