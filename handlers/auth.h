/* Accounts as the rest of the server sees them, account tokens, the route
 * pipeline (authentication and rate limits before a handler runs), and
 * password hashing off the loop. */
#ifndef ONAIR_AUTH_H
#define ONAIR_AUTH_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "protocol/http1.h"
#include "protocol/json.h"
#include "storage/redis.h"

/* An account, copied out of its Redis hash into a request's arena.  Strings
 * are never NULL ("" when absent). */
struct account {
    const char *id, *type, *first_name, *last_name, *username, *identities, *organization;
    const char *status, *created_at, *pw, *lat, *lon, *loc_at;
    bool archive, online, is_camera;
    int64_t gen;
    /* From the token that authenticated this request, when one did. */
    const char *jti;
    const char *platform; /* the login's Platform header: "ios", "android" or "" */
    int64_t exp;
};

/* A stream's shopper (docs/streams.md), from its guest token. */
struct guest {
    const char *id;     /* its id in chat and events */
    const char *stream; /* the one stream it may act on */
    int64_t exp;
};

/* An account token's claims, signature and expiry checked, for a route whose
 * handler checks revocation and the account itself (AUTH_CLAIMS): its
 * script answers {'revoked'} or {'inactive'} as auth_check.lua's callers
 * document, and auth_refused() answers those. */
struct claims {
    const char *sub, *jti;
    const char *platform; /* as struct account's */
    size_t sublen, jtilen;
    int64_t gen;
};

/* Answers a script's refusal of the caller: 'revoked' -> 401, 'inactive' ->
 * 403 (as the pipeline does).  Returns true when it answered. */
bool auth_refused(http_request *req, const char *outcome);

/* Fills `a` from an HGETALL-style reply (field, value, ...).  Returns 0, or -1
 * when the reply is not an account. */
int account_from_reply(arena *ar, const redisReply *flat, struct account *a);

/* The account object of API.md §3 (never the password hash). */
void account_write_json(json_writer *w, const struct account *a);

/* Answers {"account": ...} with `status`, plus "token" when token is not NULL
 * (token == "" writes null). */
void account_respond(http_request *req, int status, const struct account *a, const char *token);

bool account_is_admin(const struct account *a);
bool account_can_log_in(const struct account *a);

/* Signs a new account token for `a` into out; -1 when the secret is not
 * known yet. */
int token_issue(buf *out, const struct account *a, const char *platform);

/* Signs a guest token for one stream into out, valid
 * ONAIR_GUEST_TOKEN_TTL_S; -1 when the secret is not known yet. */
int token_issue_guest(buf *out, const char *guest_id, const char *stream_id);

/* Whether a token with this exp claim is past it (with the leeway every
 * check allows for clocks that differ between instances). */
bool token_expired(int64_t exp);

/* The key that marks token `jti` revoked (logout). */
size_t token_revoked_key(char *out, const char *jti, size_t jtilen);

/* Reads, in one round trip, whether token `jti` is revoked (EXISTS: an
 * integer reply to revoked_cb) and account `sub` (HGETALL: to account_cb,
 * which runs second).  Both commands or neither: -1 when the store is not
 * ready. */
int token_state_read(const char *sub, size_t sublen, const char *jti, size_t jtilen,
                     rds_cb revoked_cb, rds_cb account_cb, void *ud);

/* The route pipeline, installed as the router's runner: the route's auth,
 * then its rate limit, then its handler. */
void pipeline_run(http_request *req);

/* Charges per-minute limiters (up to 4 keys, each with its rate) and calls
 * `next` when all admit the request; answers 429 with Retry-After, or 503,
 * itself otherwise. */
typedef void (*pipeline_next)(http_request *req);
void ratelimit_charge(http_request *req, int n, const char *const *keys, const uint64_t *per_min,
                      pipeline_next next);

/* A limiter's emission interval for `per_min` requests a minute, in
 * microseconds (storage/scripts/lib/gcra.lua): exact for every rate up to
 * 60 000 000 a minute, the most a limiter may be configured with. */
static inline uint64_t gcra_interval_us(uint64_t per_min) {
    uint64_t us = 60000000 / (per_min ? per_min : 1);
    return us ? us : 1;
}

/* The client's IP: the TCP peer, or the forwarding header's when the peer is
 * a trusted proxy.  Returns 0, or -1 when unknown. */
int client_ip(http_request *req, char *out, size_t outlen);

/* Parses ONAIR_TRUSTED_PROXIES; -1 on a bad list. */
int trusted_proxies_init(const char *cidrs);

/* Password work on the thread pool.  `done` runs on the loop with job->ok
 * set; on a full queue the request has been answered 503 and done is not
 * called. */
struct pw_job;
typedef void (*pw_done)(struct pw_job *job);
struct pw_job {
    http_request *req;
    pw_done done;
    char password[129];
    char hash[128];   /* in: the stored hash to verify; out: the new hash */
    char rehash[128]; /* verify: a hash with today's limits, when needs_rehash */
    bool verify;      /* verify against hash, else hash password */
    bool ok;
    bool needs_rehash;
    void *ud;
};
int pw_submit(struct pw_job *job);

/* Generic helpers for handlers. */
void uuid_v4(char out[37]);
void now_iso(char out[32]);
void ms_iso(uint64_t ms, char out[32]); /* ms since the epoch, as ISO 8601 UTC */
uint64_t now_ms(void);

#endif
