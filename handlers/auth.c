/* Accounts, tokens, the route pipeline (auth, then rate limit, then the
 * handler) and password hashing on the thread pool. */
#include "handlers/auth.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "core/workq.h"
#include "handlers/handlers.h"
#include "protocol/jwt.h"
#include "storage/keys.h"
#include "storage/secret.h"

/* Clock skew tolerated between the instances that issue and check tokens
 * (they run NTP behind one load balancer): small, so an expired token is
 * refused within seconds. */
#define TOKEN_LEEWAY_S 5

/* ---- small helpers ---- */

void uuid_v4(char out[37]) {
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

uint64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

void ms_iso(uint64_t ms, char out[32]) {
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

void now_iso(char out[32]) {
    ms_iso(now_ms(), out);
}

/* ---- the account model ---- */

/* The account hash's fields and where each lands in struct account. */
enum field_kind { F_STR, F_FLAG, F_INT };
static const struct {
    const char *name;
    enum field_kind kind;
    size_t offset;
} account_fields[] = {
    {"id", F_STR, offsetof(struct account, id)},
    {"type", F_STR, offsetof(struct account, type)},
    {"firstName", F_STR, offsetof(struct account, first_name)},
    {"lastName", F_STR, offsetof(struct account, last_name)},
    {"username", F_STR, offsetof(struct account, username)},
    {"identities", F_STR, offsetof(struct account, identities)},
    {"organization", F_STR, offsetof(struct account, organization)},
    {"status", F_STR, offsetof(struct account, status)},
    {"createdAt", F_STR, offsetof(struct account, created_at)},
    {"pw", F_STR, offsetof(struct account, pw)},
    {"lat", F_STR, offsetof(struct account, lat)},
    {"lon", F_STR, offsetof(struct account, lon)},
    {"locAt", F_STR, offsetof(struct account, loc_at)},
    {"archive", F_FLAG, offsetof(struct account, archive)},
    {"online", F_FLAG, offsetof(struct account, online)},
    {"isCamera", F_FLAG, offsetof(struct account, is_camera)},
    {"gen", F_INT, offsetof(struct account, gen)},
};

int account_from_reply(arena *ar, const redisReply *flat, struct account *a) {
    static const char empty[] = "";
    memset(a, 0, sizeof *a);
    for (size_t f = 0; f < sizeof account_fields / sizeof account_fields[0]; f++)
        if (account_fields[f].kind == F_STR)
            *(const char **)((char *)a + account_fields[f].offset) = empty;
    a->jti = a->platform = empty;
    if (!flat || flat->type != REDIS_REPLY_ARRAY || flat->elements % 2)
        return -1;
    for (size_t i = 0; i + 1 < flat->elements; i += 2) {
        const redisReply *k = flat->element[i], *v = flat->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        for (size_t f = 0; f < sizeof account_fields / sizeof account_fields[0]; f++) {
            if (strcmp(k->str, account_fields[f].name) != 0)
                continue;
            void *dst = (char *)a + account_fields[f].offset;
            if (account_fields[f].kind == F_STR)
                *(const char **)dst = arena_strndup(ar, v->str, v->len);
            else if (account_fields[f].kind == F_FLAG)
                *(bool *)dst = v->len && v->str[0] == '1';
            else
                *(int64_t *)dst = strtoll(v->str, NULL, 10);
            break;
        }
    }
    return a->id[0] ? 0 : -1;
}

static void write_opt_str(json_writer *w, const char *key, const char *v) {
    json_w_key(w, key);
    if (v[0])
        json_w_cstr(w, v);
    else
        json_w_null(w);
}

void account_write_json(json_writer *w, const struct account *a) {
    json_w_obj_open(w);
    json_w_key(w, "id");
    json_w_cstr(w, a->id);
    json_w_key(w, "type");
    json_w_cstr(w, a->type);
    json_w_key(w, "firstName");
    json_w_cstr(w, a->first_name);
    json_w_key(w, "lastName");
    json_w_cstr(w, a->last_name);
    write_opt_str(w, "username", a->username);
    json_w_key(w, "identities");
    /* Stored as the JSON array the server itself wrote at creation. */
    if (a->identities[0])
        json_w_raw(w, a->identities, strlen(a->identities));
    else
        json_w_raw(w, "[]", 2);
    write_opt_str(w, "organization", a->organization);
    json_w_key(w, "status");
    json_w_cstr(w, a->status);
    json_w_key(w, "archive");
    json_w_bool(w, a->archive);
    json_w_key(w, "online");
    json_w_bool(w, a->online);
    json_w_key(w, "isCamera");
    json_w_bool(w, a->is_camera);
    json_w_key(w, "createdAt");
    json_w_cstr(w, a->created_at);
    json_w_key(w, "location");
    if (a->lat[0]) {
        json_w_obj_open(w);
        json_w_key(w, "latitude");
        json_w_double(w, strtod(a->lat, NULL));
        json_w_key(w, "longitude");
        json_w_double(w, strtod(a->lon, NULL));
        json_w_key(w, "updatedAt");
        json_w_cstr(w, a->loc_at);
        json_w_obj_close(w);
    } else {
        json_w_null(w);
    }
    json_w_obj_close(w);
}

void account_respond(http_request *req, int status, const struct account *a, const char *token) {
    struct json_resp r;
    json_resp_begin(req, &r);
    json_w_key(&r.w, "account");
    account_write_json(&r.w, a);
    if (token) {
        json_w_key(&r.w, "token");
        if (token[0])
            json_w_cstr(&r.w, token);
        else
            json_w_null(&r.w);
    }
    json_resp_send(req, &r, status);
}

bool account_is_admin(const struct account *a) {
    return strcmp(a->type, "admin") == 0;
}

bool account_can_log_in(const struct account *a) {
    return strcmp(a->status, "active") == 0 && !a->archive;
}

/* ---- tokens ---- */

/* Signs a token: `claims` (members of the payload object) plus iat, exp
 * (ttl_s from now) and a fresh jti.  -1 when the secret is not known yet. */
static int token_sign(buf *out, const char *claims, uint64_t ttl_s) {
    size_t keylen;
    const uint8_t *key = secret_key(&keylen);
    if (!key)
        return -1;
    char jti[37];
    uuid_v4(jti);
    int64_t now = (int64_t)time(NULL);
    char payload[512];
    int n = snprintf(payload, sizeof payload, "{%s,\"iat\":%lld,\"exp\":%lld,\"jti\":\"%s\"}",
                     claims, (long long)now, (long long)(now + (int64_t)ttl_s), jti);
    jwt_sign(out, key, keylen, payload, (size_t)n);
    return 0;
}

int token_issue(buf *out, const struct account *a, const char *platform) {
    char claims[256];
    snprintf(claims, sizeof claims, "\"sub\":\"%s\",\"typ\":\"account\",\"gen\":%lld%s%s%s", a->id,
             (long long)a->gen, platform ? ",\"plt\":\"" : "", platform ? platform : "",
             platform ? "\"" : "");
    return token_sign(out, claims, srv.cfg.token_ttl_s);
}

int token_issue_guest(buf *out, const char *guest_id, const char *stream_id) {
    char claims[160];
    snprintf(claims, sizeof claims, "\"sub\":\"%s\",\"typ\":\"guest\",\"str\":\"%s\"", guest_id,
             stream_id);
    return token_sign(out, claims, srv.cfg.guest_token_ttl_s);
}

static void unauthorized(http_request *req, const char *message) {
    buf b;
    buf_init(&b, &req->arena);
    http_error_body(&b, "unauthorized", message);
    resp_send(req, 401, "application/json; charset=utf-8", "WWW-Authenticate: Bearer\r\n", b.data,
              b.len);
}

bool auth_refused(http_request *req, const char *outcome) {
    if (!strcmp(outcome, "revoked")) {
        unauthorized(req, "The token has been revoked");
        return true;
    }
    if (!strcmp(outcome, "inactive")) {
        resp_error(req, 403, "forbidden", "The account is inactive or archived");
        return true;
    }
    return false;
}

/* ---- the pipeline ---- */

static void run_handler(http_request *req) {
    req->match.route->fn(req);
}

static void after_auth(http_request *req) {
    if (req->match.route->rate != RATE_AUTH_IP) {
        run_handler(req);
        return;
    }
    char ip[64], key[KEY_MAX];
    if (client_ip(req, ip, sizeof ip) < 0)
        strcpy(ip, "unknown");
    char name[96];
    snprintf(name, sizeof name, "gcra:ip:%s", ip);
    key_named(key, name);
    const char *keys[1] = {key};
    uint64_t rate[1] = {srv.cfg.auth_ip_rate_per_min};
    ratelimit_charge(req, 1, keys, rate, run_handler);
}

/* The two replies of the auth round trip: EXISTS on the token's revocation
 * key, then HGETALL of its account.  Reads only, so plain pipelined
 * commands (no script): cheaper for Redis than EVALSHA on the hottest path. */
struct auth_ctx {
    http_request *req;
    const char *jti, *platform;
    int64_t exp, gen;
    bool failed, revoked;
};

static void on_revocation(redisReply *reply, int err, void *ud) {
    struct auth_ctx *c = ud;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER)
        c->failed = true;
    else
        c->revoked = reply->integer != 0;
}

static void on_account(redisReply *reply, int err, void *ud) {
    struct auth_ctx *c = ud;
    http_request *req = c->req;
    if (c->failed || err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    struct account *a = arena_alloc(&req->arena, sizeof *a);
    if (c->revoked || account_from_reply(&req->arena, reply, a) < 0 || a->gen != c->gen) {
        /* Logged out, account gone, or a password change since issue. */
        auth_refused(req, "revoked");
        return;
    }
    a->jti = c->jti;
    a->platform = c->platform;
    a->exp = c->exp;
    if (!account_can_log_in(a)) {
        auth_refused(req, "inactive");
        return;
    }
    req->account = a;
    after_auth(req);
}

/* Verifies the token's signature and claims without Redis, then checks
 * revocation and loads the account in one round trip. */
static void authenticate(http_request *req, const char *tok, size_t toklen) {
    size_t keylen;
    const uint8_t *key = secret_key(&keylen);
    if (!key) {
        resp_unavailable(req);
        return;
    }
    json_doc doc;
    enum jwt_result r = jwt_verify(tok, toklen, key, keylen, (int64_t)time(NULL), TOKEN_LEEWAY_S,
                                   &req->arena, &doc);
    if (r != JWT_OK) {
        unauthorized(req, jwt_strerror(r));
        return;
    }
    const char *sub, *typ, *jti, *plt = "", *str = NULL;
    size_t sublen, jtilen;
    double gen = -1, exp;
    const char *field, *reason;
    const struct json_field claims[] = {
        {.name = "sub",
         .type = JSON_STRING,
         .required = true,
         .min_len = 36,
         .max_len = 36,
         .out = &sub,
         .len_out = &sublen},
        {.name = "typ", .type = JSON_STRING, .required = true, .out = &typ},
        {.name = "jti",
         .type = JSON_STRING,
         .required = true,
         .min_len = 36,
         .max_len = 36,
         .out = &jti,
         .len_out = &jtilen},
        {.name = "gen", .type = JSON_NUMBER, .out = &gen},
        {.name = "exp", .type = JSON_NUMBER, .required = true, .out = &exp},
        {.name = "plt", .type = JSON_STRING, .max_len = 16, .out = &plt},
        {.name = "str", .type = JSON_STRING, .min_len = 36, .max_len = 36, .out = &str},
    };
    if (json_extract(&doc, 0, &req->arena, claims, 7, &field, &reason) < 0) {
        unauthorized(req, "Not an account token");
        return;
    }
    if (!strcmp(typ, "guest") && str && req->match.route->auth == AUTH_GUEST) {
        /* A guest token is its own proof: scoped to one stream, short-lived,
         * nothing in the store to check. */
        struct guest *g = arena_alloc(&req->arena, sizeof *g);
        g->id = sub;
        g->stream = str;
        g->exp = (int64_t)exp;
        req->guest = g;
        after_auth(req);
        return;
    }
    if (strcmp(typ, "account") != 0 || gen < 0) {
        unauthorized(req, "Not an account token");
        return;
    }
    if (req->match.route->auth == AUTH_CLAIMS) {
        struct claims *cl = arena_alloc(&req->arena, sizeof *cl);
        *cl = (struct claims){.sub = sub,
                              .jti = jti,
                              .platform = plt,
                              .sublen = sublen,
                              .jtilen = jtilen,
                              .gen = (int64_t)gen};
        req->claims = cl;
        after_auth(req);
        return;
    }
    struct auth_ctx *c = arena_calloc(&req->arena, sizeof *c);
    c->req = req;
    c->jti = jti;
    c->platform = plt;
    c->exp = (int64_t)exp;
    c->gen = (int64_t)gen;
    if (token_state_read(sub, sublen, jti, jtilen, on_revocation, on_account, c) < 0)
        resp_unavailable(req);
}

bool token_expired(int64_t exp) {
    return (int64_t)time(NULL) >= exp + TOKEN_LEEWAY_S;
}

size_t token_revoked_key(char *out, const char *jti, size_t jtilen) {
    char name[64];
    snprintf(name, sizeof name, "revoked:%.*s", (int)jtilen, jti);
    return key_named(out, name);
}

int token_state_read(const char *sub, size_t sublen, const char *jti, size_t jtilen,
                     rds_cb revoked_cb, rds_cb account_cb, void *ud) {
    char acct[KEY_MAX], revoked[KEY_MAX];
    size_t alen = key_entity(acct, "acct", sub, sublen, NULL);
    size_t rlen = token_revoked_key(revoked, jti, jtilen);
    const char *exists[2] = {"EXISTS", revoked}, *hgetall[2] = {"HGETALL", acct};
    size_t exists_len[2] = {6, rlen}, hgetall_len[2] = {7, alen};
    /* Both or neither: the client's state cannot change between the calls. */
    if (!rds_ready(srv.redis) ||
        rds_command_argv(srv.redis, revoked_cb, ud, 2, exists, exists_len) < 0 ||
        rds_command_argv(srv.redis, account_cb, ud, 2, hgetall, hgetall_len) < 0)
        return -1;
    return 0;
}

/* Whether the request carries "Authorization: Bearer <ONAIR_SERVICE_TOKEN>"
 * (scheme case-insensitive).  The SHA-256 digests of the two tokens are
 * compared in constant time, so the time taken shows neither where they
 * first differ nor how long the configured one is.  With the setting unset
 * or empty nobody passes. */
static bool service_token_ok(const http_request *req) {
    const char *want = srv.cfg.service_token;
    size_t n;
    const char *h = http_header(req, "authorization", &n);
    if (!want || !want[0] || !h || n < 7 || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *tok = h + 7;
    size_t toklen = n - 7;
    while (toklen && *tok == ' ')
        tok++, toklen--;
    uint8_t got[crypto_hash_sha256_BYTES], expected[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(got, (const uint8_t *)tok, toklen);
    crypto_hash_sha256(expected, (const uint8_t *)want, strlen(want));
    return sodium_memcmp(got, expected, sizeof got) == 0;
}

void pipeline_run(http_request *req) {
    const struct route *r = req->match.route;
    req->account = NULL;
    req->guest = NULL;
    req->claims = NULL;
    if (r->auth == AUTH_NONE) {
        after_auth(req);
        return;
    }
    if (r->auth == AUTH_SERVICE) {
        if (service_token_ok(req))
            after_auth(req);
        else
            resp_error(req, 403, "forbidden", "The service token is missing or wrong");
        return;
    }
    size_t n;
    const char *h = http_header(req, "authorization", &n);
    if (h) {
        const char *sp = memchr(h, ' ', n);
        size_t scheme = sp ? (size_t)(sp - h) : n;
        if (!sp || !((scheme == 3 && !strncasecmp(h, "JWT", 3)) ||
                     (scheme == 6 && !strncasecmp(h, "Bearer", 6)))) {
            unauthorized(req, "Use Authorization: Bearer <token>");
            return;
        }
        const char *tok = sp + 1;
        size_t toklen = n - scheme - 1;
        while (toklen && *tok == ' ')
            tok++, toklen--;
        authenticate(req, tok, toklen);
        return;
    }
    if ((r->flags & ROUTE_TOKEN_QUERY) && http_query(req, "token", &h, &n) == 0) {
        authenticate(req, h, n);
        return;
    }
    if (r->auth == AUTH_OPTIONAL)
        after_auth(req);
    else
        unauthorized(req, "Authentication required");
}

/* ---- rate limits ---- */

struct rl_ctx {
    http_request *req;
    pipeline_next next;
};

static void on_charged(redisReply *reply, int err, void *ud) {
    struct rl_ctx *c = ud;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER) {
        resp_unavailable(c->req);
        return;
    }
    if (reply->integer == 0) {
        c->next(c->req);
        return;
    }
    char hdr[48];
    snprintf(hdr, sizeof hdr, "Retry-After: %lld\r\n", (reply->integer + 999) / 1000);
    buf b;
    buf_init(&b, &c->req->arena);
    http_error_body(&b, "rate-limited", "Too many attempts; retry later");
    resp_send(c->req, 429, "application/json; charset=utf-8", hdr, b.data, b.len);
}

void ratelimit_charge(http_request *req, int n, const char *const *keys, const uint64_t *per_min,
                      pipeline_next next) {
    const char *argv[9];
    char nums[5][24];
    if (n < 1 || n > 4) {
        next(req);
        return;
    }
    for (int i = 0; i < n; i++)
        argv[i] = keys[i];
    snprintf(nums[0], sizeof nums[0], "%llu", (unsigned long long)now_ms());
    argv[n] = nums[0];
    for (int i = 0; i < n; i++) {
        snprintf(nums[i + 1], sizeof nums[i + 1], "%llu",
                 (unsigned long long)gcra_interval_us(per_min[i]));
        argv[n + 1 + i] = nums[i + 1];
    }
    struct rl_ctx *c = arena_alloc(&req->arena, sizeof *c);
    c->req = req;
    c->next = next;
    if (rds_eval(srv.redis, SCRIPT_ratelimit, on_charged, c, n, 2 * n + 1, argv, NULL) < 0)
        resp_unavailable(req);
}

/* ---- client address ---- */

struct cidr {
    int family;
    uint8_t addr[16];
    int bits;
};
static struct cidr proxies[32];
static int nproxies;

int trusted_proxies_init(const char *list) {
    nproxies = 0;
    if (!list)
        return 0;
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", list);
    for (char *save, *tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (nproxies == 32)
            return -1;
        struct cidr *c = &proxies[nproxies];
        char *slash = strchr(tok, '/');
        if (slash)
            *slash = '\0';
        c->family = strchr(tok, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(c->family, tok, c->addr) != 1)
            return -1;
        int max = c->family == AF_INET ? 32 : 128;
        c->bits = slash ? atoi(slash + 1) : max;
        if (c->bits < 0 || c->bits > max)
            return -1;
        nproxies++;
    }
    return 0;
}

static bool is_trusted(const char *ip) {
    uint8_t a[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, ip, a) != 1)
        return false;
    for (int i = 0; i < nproxies; i++) {
        const struct cidr *c = &proxies[i];
        if (c->family != family)
            continue;
        int full = c->bits / 8, rest = c->bits % 8;
        if (memcmp(a, c->addr, (size_t)full) != 0)
            continue;
        if (rest && ((a[full] ^ c->addr[full]) & (0xff << (8 - rest))))
            continue;
        return true;
    }
    return false;
}

/* Copies a header's IP (trimmed) into out when it parses as one. */
static int take_ip(const char *v, size_t n, char *out, size_t outlen) {
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= outlen)
        return -1;
    char tmp[64];
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    uint8_t a[16];
    if (inet_pton(strchr(tmp, ':') ? AF_INET6 : AF_INET, tmp, a) != 1)
        return -1;
    memcpy(out, tmp, n + 1);
    return 0;
}

int client_ip(http_request *req, char *out, size_t outlen) {
    if (conn_peer_ip(req, out, outlen) < 0)
        return -1;
    if (!nproxies || !is_trusted(out))
        return 0;
    size_t n;
    /* The last hop is the one our trusted proxy saw: the last element of the
     * last line, since a proxy may add its line after the client's own. */
    const char *v = http_header_last(req, "x-forwarded-for", &n);
    if (v) {
        const char *comma = NULL;
        for (size_t i = 0; i < n; i++)
            if (v[i] == ',')
                comma = v + i;
        const char *last = comma ? comma + 1 : v;
        if (take_ip(last, n - (size_t)(last - v), out, outlen) == 0)
            return 0;
    }
    v = http_header_last(req, "x-real-ip", &n);
    if (v)
        take_ip(v, n, out, outlen);
    return 0;
}

/* ---- passwords ---- */

static void pw_work(void *p) {
    struct pw_job *job = p;
    size_t len = strlen(job->password);
    if (job->verify) {
        job->ok = crypto_pwhash_str_verify(job->hash, job->password, len) == 0;
        job->needs_rehash =
            job->ok && crypto_pwhash_str_needs_rehash(job->hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
        if (job->needs_rehash &&
            crypto_pwhash_str(job->rehash, job->password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            job->rehash[0] = '\0';
    } else {
        job->ok =
            crypto_pwhash_str(job->hash, job->password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
    }
    sodium_memzero(job->password, sizeof job->password);
}

static void pw_after(void *p) {
    struct pw_job *job = p;
    job->done(job);
}

int pw_submit(struct pw_job *job) {
    if (workq_submit(job, pw_work, pw_after) < 0) {
        sodium_memzero(job->password, sizeof job->password);
        if (job->req)
            resp_unavailable(job->req);
        else
            log_warn("auth", "password hashing queue full");
        return -1;
    }
    return 0;
}
