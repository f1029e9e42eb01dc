/* Accounts and authentication (API.md §3): creation and registration,
 * login, password change, logout, presence and location, and changes by an
 * admin or an organization's owner.  Passwords are hashed with Argon2id on
 * the thread pool; every state change is one Lua script. */
#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/server.h"
#include "handlers/events.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "storage/keys.h"
#include "storage/secret.h"

#define MAX_IDENTITIES 4

/* ---- validation ---- */

bool valid_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at || at == s || n > 254 || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return false;
    const char *dom = at + 1;
    size_t dlen = n - (size_t)(dom - s);
    if (dlen < 3 || dom[0] == '.' || dom[dlen - 1] == '.' || !memchr(dom, '.', dlen))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

bool valid_phone(const char *s, size_t n) {
    size_t i = s[0] == '+' ? 1 : 0, digits = n - i;
    if (digits < 6 || digits > 16)
        return false;
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool valid_username(const char *s, size_t n) {
    if (n < 3 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

static bool valid_type(const char *t) {
    return !strcmp(t, "user") || !strcmp(t, "operator") || !strcmp(t, "dealer") ||
           !strcmp(t, "admin");
}

static bool valid_status(const char *s) {
    return !strcmp(s, "active") || !strcmp(s, "inactive");
}

static char *lower(arena *a, const char *s, size_t n) {
    char *o = arena_strndup(a, s, n);
    for (size_t i = 0; i < n; i++)
        o[i] = (char)tolower((unsigned char)o[i]);
    return o;
}

/* ---- creation, shared by POST /accounts, /auth/register and the admin bootstrap ---- */

struct identity {
    const char *type, *value, *index; /* index: the lowercased value, for uniqueness */
    size_t len;
};

struct new_account {
    http_request *req; /* NULL for the admin bootstrap */
    arena *arena;
    char id[37];
    const char *type, *first, *last, *username, *status;
    bool archive;
    struct identity ids[MAX_IDENTITIES];
    int nids;
    const char *org_rule; /* none | any | owner:<id> | code */
    const char *org;      /* organization id (any, owner:*) or code (code) */
    const char *org_field;
    const char *platform;
    struct pw_job job;
};

/* Set once the admin bootstrap has started; cleared when it could not reach
 * the store, so the next (re)connect tries again. */
static bool admin_ensuring;

static void created_bootstrap(struct new_account *na, const char *outcome) {
    if (!strcmp(outcome, "store unavailable"))
        admin_ensuring = false;
    if (!strcmp(outcome, "ok"))
        log_info("accounts", "admin account %s created", srv.cfg.admin_email);
    else if (!strcmp(outcome, "conflict"))
        log_info("accounts", "admin account %s exists", srv.cfg.admin_email);
    else
        log_warn("accounts", "admin account not ensured: %s", outcome);
}

static void on_created(redisReply *reply, int err, void *ud) {
    struct new_account *na = ud;
    http_request *req = na->req;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        if (req)
            resp_unavailable(req);
        else
            created_bootstrap(na, "store unavailable");
        return;
    }
    const char *outcome = reply->element[0]->str;
    if (!req) {
        created_bootstrap(na, outcome);
        return;
    }
    if (!strcmp(outcome, "conflict")) {
        const char *field = reply->elements > 1 ? reply->element[1]->str : "identity";
        handler_invalid(req, 409, "conflict", field, "is already taken");
    } else if (!strcmp(outcome, "no-org")) {
        handler_invalid(req, 422, "invalid", na->org_field, "does not name an organization");
    } else if (!strcmp(outcome, "not-owner")) {
        resp_error(req, 403, "forbidden", "Only an admin or its owner may add to an organization");
    } else if (!strcmp(outcome, "ok") && reply->elements > 1) {
        struct account a;
        account_from_reply(&req->arena, reply->element[1], &a);
        buf tok;
        buf_init(&tok, &req->arena);
        const char *token = "";
        if (account_can_log_in(&a)) {
            if (token_issue(&tok, &a, na->platform) < 0) {
                resp_unavailable(req);
                return;
            }
            buf_appendc(&tok, '\0');
            token = tok.data;
        }
        account_respond(req, 201, &a, token);
    } else {
        resp_unavailable(req);
    }
}

/* The hash is ready: claim the identities and write the account. */
static void create_hashed(struct pw_job *job) {
    struct new_account *na = job->ud;
    if (!job->ok) {
        if (na->req)
            resp_error(na->req, 500, "internal", "Password hashing failed");
        return;
    }
    arena *a = na->arena;
    char created[32];
    now_iso(created);
    buf ids;
    buf_init(&ids, a);
    json_writer w;
    json_w_init(&w, &ids);
    json_w_arr_open(&w);
    for (int i = 0; i < na->nids; i++) {
        json_w_obj_open(&w);
        json_w_key(&w, "type");
        json_w_cstr(&w, na->ids[i].type);
        json_w_key(&w, "value");
        json_w_str(&w, na->ids[i].value, na->ids[i].len);
        json_w_obj_close(&w);
    }
    json_w_arr_close(&w);
    buf_appendc(&ids, '\0');

    const char *argv[64];
    int argc = 0, nkeys = 0;
    char *acct = arena_alloc(a, KEY_MAX), *org = arena_alloc(a, KEY_MAX);
    key_entity(acct, "acct", na->id, 36, NULL);
    if (!strcmp(na->org_rule, "code")) {
        char name[96];
        snprintf(name, sizeof name, "idx:orgcode:%s", na->org);
        key_named(org, name);
    } else if (strcmp(na->org_rule, "none")) {
        key_entity(org, "org", na->org, strlen(na->org), NULL);
    } else {
        strcpy(org, acct);
    }
    argv[argc++] = acct;
    argv[argc++] = org;
    const char *labels[MAX_IDENTITIES + 1];
    int nidx = 0;
    for (int i = 0; i < na->nids; i++) {
        char *k = arena_alloc(a, KEY_MAX), name[300];
        snprintf(name, sizeof name, "idx:%s:%s", na->ids[i].type, na->ids[i].index);
        key_named(k, name);
        argv[argc++] = k;
        labels[nidx++] = na->ids[i].type;
    }
    if (na->username[0]) {
        char *k = arena_alloc(a, KEY_MAX), name[300];
        snprintf(name, sizeof name, "idx:username:%s",
                 lower(a, na->username, strlen(na->username)));
        key_named(k, name);
        argv[argc++] = k;
        labels[nidx++] = "username";
    }
    nkeys = argc;
    char nbuf[16];
    snprintf(nbuf, sizeof nbuf, "%d", nidx);
    argv[argc++] = na->id;
    argv[argc++] = na->org_rule;
    argv[argc++] = nbuf;
    for (int i = 0; i < nidx; i++)
        argv[argc++] = labels[i];
    const char *fields[][2] = {
        {"id", na->id},
        {"type", na->type},
        {"firstName", na->first},
        {"lastName", na->last},
        {"username", na->username},
        {"identities", ids.data},
        {"organization",
         strcmp(na->org_rule, "code") && strcmp(na->org_rule, "none") ? na->org : ""},
        {"status", na->status},
        {"archive", na->archive ? "1" : "0"},
        {"online", "0"},
        {"isCamera", "0"},
        {"createdAt", arena_strndup(a, created, strlen(created))},
        {"pw", job->hash},
        {"gen", "0"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        argv[argc++] = fields[i][0];
        argv[argc++] = fields[i][1];
    }
    if (rds_eval(srv.redis, SCRIPT_account_create, on_created, na, nkeys, argc, argv, NULL) < 0) {
        if (na->req)
            resp_unavailable(na->req);
        else
            created_bootstrap(na, "store unavailable");
    }
}

static void create_start(struct new_account *na, const char *password, size_t pwlen) {
    uuid_v4(na->id);
    memcpy(na->job.password, password, pwlen);
    na->job.password[pwlen] = '\0';
    na->job.req = na->req;
    na->job.verify = false;
    na->job.done = create_hashed;
    na->job.ud = na;
    pw_submit(&na->job);
}

/* Reads one identity value and checks it; answers 422 itself. */
static int add_identity(http_request *req, struct new_account *na, const char *type,
                        const char *value, size_t len) {
    bool email = !strcmp(type, "email");
    if (email ? !valid_email(value, len) : !valid_phone(value, len)) {
        handler_invalid(req, 422, "invalid", type,
                        email ? "is not an email address"
                              : "must be 6 to 16 digits, optionally after +");
        return -1;
    }
    struct identity *id = &na->ids[na->nids];
    id->type = email ? "email" : "phone";
    id->value = value;
    id->len = len;
    id->index = email ? lower(&req->arena, value, len) : value;
    for (int i = 0; i < na->nids; i++)
        if (!strcmp(na->ids[i].type, id->type) && !strcmp(na->ids[i].index, id->index)) {
            handler_invalid(req, 422, "invalid", "identities", "repeats a value");
            return -1;
        }
    na->nids++;
    return 0;
}

static int check_names(http_request *req, struct new_account *na, const char *username,
                       size_t ulen) {
    if (username && !valid_username(username, ulen)) {
        handler_invalid(req, 422, "invalid", "username", "must be 3 to 32 of A-Z a-z 0-9 _ . -");
        return -1;
    }
    na->username = username ? username : "";
    return 0;
}

#define NAME_FIELDS(first, last)                                                                   \
    {.name = "firstName",                                                                          \
     .type = JSON_STRING,                                                                          \
     .required = true,                                                                             \
     .min_len = 1,                                                                                 \
     .max_len = 100,                                                                               \
     .out = first},                                                                                \
    {                                                                                              \
        .name = "lastName", .type = JSON_STRING, .required = true, .min_len = 1, .max_len = 100,   \
        .out = last                                                                                \
    }
#define PASSWORD_FIELD(name_, out_, len_)                                                          \
    {                                                                                              \
        .name = name_, .type = JSON_STRING, .required = true, .min_len = 6, .max_len = 128,        \
        .out = out_, .len_out = len_                                                               \
    }

/* POST /accounts: seed 000's body plus a password.  Anyone may create a user
 * or an operator; everything else takes an admin. */
void accounts_create(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    struct new_account *na = arena_calloc(&req->arena, sizeof *na);
    na->req = req;
    na->arena = &req->arena;
    const char *password, *username = NULL, *org = NULL;
    size_t pwlen, ulen = 0;
    int identities = -1;
    bool has_type = false, has_status = false, has_archive = false, has_org = false;
    na->type = "user";
    na->status = "active";
    const struct json_field fields[] = {
        NAME_FIELDS(&na->first, &na->last),
        PASSWORD_FIELD("password", &password, &pwlen),
        {.name = "identities", .type = JSON_ARRAY, .required = true, .out = &identities},
        {.name = "username",
         .type = JSON_STRING,
         .null_ok = true,
         .out = &username,
         .len_out = &ulen},
        {.name = "type", .type = JSON_STRING, .out = &na->type, .present = &has_type},
        {.name = "status", .type = JSON_STRING, .out = &na->status, .present = &has_status},
        {.name = "archive", .type = JSON_BOOL, .out = &na->archive, .present = &has_archive},
        {.name = "organization",
         .type = JSON_STRING,
         .null_ok = true,
         .out = &org,
         .present = &has_org},
    };
    if (handler_extract(req, &doc, fields, sizeof fields / sizeof fields[0]) < 0)
        return;
    if (!valid_type(na->type)) {
        handler_invalid(req, 422, "invalid", "type", "must be user, operator, dealer or admin");
        return;
    }
    if (!valid_status(na->status)) {
        handler_invalid(req, 422, "invalid", "status", "must be active or inactive");
        return;
    }
    int n = (int)doc.tok[identities].size;
    if (n < 1 || n > MAX_IDENTITIES) {
        handler_invalid(req, 422, "invalid", "identities", "must hold 1 to 4 identities");
        return;
    }
    for (int i = 0; i < n; i++) {
        int t = json_array_at(&doc, identities, i);
        const char *type, *value;
        size_t vlen;
        const char *f, *reason;
        const struct json_field typef[] = {
            {.name = "type", .type = JSON_STRING, .required = true, .out = &type},
        };
        if (json_type(&doc, t) != JSON_OBJECT ||
            json_extract(&doc, t, &req->arena, typef, 1, &f, &reason) < 0 ||
            (strcmp(type, "email") && strcmp(type, "phone"))) {
            handler_invalid(req, 422, "invalid", "identities",
                            "must be objects {type: email|phone, value}");
            return;
        }
        int v = json_get(&doc, t, "value");
        if (v < 0 || json_string(&doc, v, &req->arena, &value, &vlen) < 0) {
            handler_invalid(req, 422, "invalid", "identities",
                            "must be objects {type: email|phone, value}");
            return;
        }
        if (add_identity(req, na, type, value, vlen) < 0)
            return;
    }
    if (check_names(req, na, username, ulen) < 0)
        return;
    bool admin = req->account && account_is_admin(req->account);
    if (!admin && (strcmp(na->type, "user") && strcmp(na->type, "operator"))) {
        resp_error(req, 403, "forbidden", "Only an admin may create this type of account");
        return;
    }
    if (!admin && ((has_status && strcmp(na->status, "active")) || na->archive)) {
        resp_error(req, 403, "forbidden", "Only an admin may set status or archive");
        return;
    }
    na->org_rule = "none";
    na->org_field = "organization";
    if (has_org && org) {
        if (!req->account) {
            resp_error(req, 403, "forbidden",
                       "Only an admin or its owner may add to an organization");
            return;
        }
        na->org = org;
        if (admin) {
            na->org_rule = "any";
        } else {
            char *rule = arena_alloc(&req->arena, 48);
            snprintf(rule, 48, "owner:%s", req->account->id);
            na->org_rule = rule;
        }
    }
    create_start(na, password, pwlen);
}

/* POST /auth/register: a user, or with an organization's code an inactive
 * dealer of it that the owner activates. */
void auth_register(http_request *req) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    struct new_account *na = arena_calloc(&req->arena, sizeof *na);
    na->req = req;
    na->arena = &req->arena;
    const char *email, *password, *username, *code = NULL;
    size_t elen, pwlen, ulen;
    const struct json_field fields[] = {
        {.name = "email",
         .type = JSON_STRING,
         .required = true,
         .max_len = 254,
         .out = &email,
         .len_out = &elen},
        PASSWORD_FIELD("password", &password, &pwlen),
        NAME_FIELDS(&na->first, &na->last),
        {.name = "username",
         .type = JSON_STRING,
         .required = true,
         .out = &username,
         .len_out = &ulen},
        {.name = "organizationCode",
         .type = JSON_STRING,
         .null_ok = true,
         .max_len = 32,
         .out = &code},
    };
    if (handler_extract(req, &doc, fields, sizeof fields / sizeof fields[0]) < 0)
        return;
    if (add_identity(req, na, "email", email, elen) < 0 || check_names(req, na, username, ulen) < 0)
        return;
    na->org_rule = "none";
    na->org_field = "organizationCode";
    na->type = "user";
    na->status = "active";
    if (code && code[0]) {
        for (const char *p = code; *p; p++)
            if (!isalnum((unsigned char)*p)) {
                handler_invalid(req, 422, "invalid", "organizationCode",
                                "does not name an organization");
                return;
            }
        na->org_rule = "code";
        na->org = lower(&req->arena, code, strlen(code));
        na->type = "dealer";
        na->status = "inactive";
    }
    create_start(na, password, pwlen);
}

/* ---- login and password change ---- */

/* An Argon2id hash of a random password: unknown accounts are "verified"
 * against it so they cost the same time as known ones. */
static char dummy_hash[crypto_pwhash_STRBYTES];

struct login {
    http_request *req;
    const char *identifier; /* lowercased email or username */
    const char *index;      /* "email" or "username" */
    const char *password;
    size_t pwlen;
    const char *newpassword; /* changepassword only */
    size_t newlen;
    const char *platform;
    struct account acct;
    bool found;
    struct pw_job job;
};

static void login_lookup(http_request *req);

/* Shared first steps: body, per-identifier rate limit, lookup. */
static struct login *login_begin(http_request *req, bool change) {
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return NULL;
    struct login *l = arena_calloc(&req->arena, sizeof *l);
    l->req = req;
    const char *email = NULL, *username = NULL;
    size_t elen = 0, ulen = 0;
    bool has_email = false, has_user = false;
    const struct json_field fields[] = {
        {.name = "email",
         .type = JSON_STRING,
         .max_len = 254,
         .out = &email,
         .len_out = &elen,
         .present = &has_email},
        {.name = "username",
         .type = JSON_STRING,
         .max_len = 64,
         .out = &username,
         .len_out = &ulen,
         .present = &has_user},
        {.name = "password",
         .type = JSON_STRING,
         .required = true,
         .min_len = 1,
         .max_len = 128,
         .out = &l->password,
         .len_out = &l->pwlen},
        {.name = "newpassword",
         .type = JSON_STRING,
         .required = change,
         .min_len = 6,
         .max_len = 128,
         .out = &l->newpassword,
         .len_out = &l->newlen},
    };
    if (handler_extract(req, &doc, fields, change ? 4 : 3) < 0)
        return NULL;
    if (has_email && elen) {
        l->identifier = lower(&req->arena, email, elen);
        l->index = "email";
    } else if (has_user && ulen) {
        l->identifier = lower(&req->arena, username, ulen);
        l->index = "username";
    } else {
        handler_invalid(req, 422, "invalid", "email", "or username is required");
        return NULL;
    }
    return l;
}

static void login_charge(struct login *l) {
    http_request *req = l->req;
    req->ctx = l;
    char *key = arena_alloc(&req->arena, KEY_MAX), name[320];
    snprintf(name, sizeof name, "gcra:login:%s", l->identifier);
    key_named(key, name);
    const char *keys[1] = {key};
    uint64_t rate[1] = {srv.cfg.login_rate_per_min};
    ratelimit_charge(req, 1, keys, rate, login_lookup);
}

static void login_verified(struct pw_job *job);

static void on_lookup(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    struct login *l = req->ctx;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY) {
        resp_unavailable(req);
        return;
    }
    l->found = account_from_reply(&req->arena, reply, &l->acct) == 0 && l->acct.pw[0];
    const char *hash = l->found ? l->acct.pw : dummy_hash;
    size_t hlen = strlen(hash);
    if (hlen >= sizeof l->job.hash || l->pwlen >= sizeof l->job.password) {
        resp_error(req, 500, "internal", "Stored password hash is unusable");
        return;
    }
    memcpy(l->job.hash, hash, hlen + 1);
    memcpy(l->job.password, l->password, l->pwlen);
    l->job.password[l->pwlen] = '\0';
    l->job.req = req;
    l->job.verify = true;
    l->job.done = login_verified;
    l->job.ud = l;
    pw_submit(&l->job);
}

static void login_lookup(http_request *req) {
    struct login *l = req->ctx;
    char key[KEY_MAX], name[320];
    snprintf(name, sizeof name, "idx:%s:%s", l->index, l->identifier);
    key_named(key, name);
    const char *argv[2] = {key, keys_prefix()};
    if (rds_eval(srv.redis, SCRIPT_account_lookup, on_lookup, req, 1, 2, argv, NULL) < 0)
        resp_unavailable(req);
}

static void on_rehashed(redisReply *reply, int err, void *ud) {
    if (err || !reply || reply->type == REDIS_REPLY_ERROR)
        log_warn("accounts", "could not store a rehashed password; it is retried at next login");
}

static void issue_login(struct login *l) {
    http_request *req = l->req;
    buf tok;
    buf_init(&tok, &req->arena);
    if (token_issue(&tok, &l->acct, l->platform) < 0) {
        resp_unavailable(req);
        return;
    }
    buf_appendc(&tok, '\0');
    account_respond(req, 200, &l->acct, tok.data);
}

/* The `account` event's data (docs/events.md). */
static void account_event(buf *b, const struct account *a, const char *reason) {
    json_writer w;
    json_w_init(&w, b);
    json_w_obj_open(&w);
    json_w_key(&w, "account");
    account_write_json(&w, a);
    if (reason) {
        json_w_key(&w, "reason");
        json_w_cstr(&w, reason);
    }
    json_w_obj_close(&w);
}

/* Tells the account's event streams that it changed. */
static void notify_account(http_request *req, const struct account *a) {
    buf b;
    buf_init(&b, &req->arena);
    account_event(&b, a, NULL);
    events_notify("acct", a->id, strlen(a->id), "account", b.data, b.len);
}

/* Swaps a new hash in, if the stored one is still `expected`.  A change that
 * revokes the account's tokens publishes the `account` event (reason
 * password-changed) in the same script, so that its streams, which close at
 * the revocation, receive it first. */
static void password_set(struct login *l, const char *hash, bool revoke, rds_cb cb, void *ud) {
    struct events_target t;
    buf event;
    buf_init(&event, &l->req->arena);
    account_event(&event, &l->acct, "password-changed");
    char key[KEY_MAX];
    key_entity(key, "acct", l->acct.id, strlen(l->acct.id), NULL);
    events_target(&t, "acct", l->acct.id, strlen(l->acct.id));
    const char *argv[9] = {key,       t.key,      l->acct.pw, hash, revoke ? "1" : "0",
                           "account", event.data, t.keep,     t.ttl};
    size_t lens[9];
    for (size_t i = 0; i < 9; i++)
        lens[i] = i == 6 ? event.len : strlen(argv[i]);
    if (rds_eval(srv.redis, SCRIPT_password_set, cb, ud, 2, 9, argv, lens) < 0 && revoke)
        resp_unavailable(l->req);
}

static void on_password_changed(redisReply *reply, int err, void *ud) {
    struct login *l = ud;
    http_request *req = l->req;
    if (err || !reply || reply->type != REDIS_REPLY_INTEGER) {
        resp_unavailable(req);
    } else if (reply->integer == 1) {
        resp_json_str(req, 200, "{\"status\":\"success\"}");
    } else
        resp_error(req, 409, "conflict", "The password was changed meanwhile; try again");
}

static void new_password_hashed(struct pw_job *job) {
    struct login *l = job->ud;
    if (!job->ok) {
        resp_error(l->req, 500, "internal", "Password hashing failed");
        return;
    }
    password_set(l, job->hash, true, on_password_changed, l);
}

static void login_verified(struct pw_job *job) {
    struct login *l = job->ud;
    http_request *req = l->req;
    if (!job->ok || !l->found) {
        /* One answer whether the account exists or not. */
        buf b;
        buf_init(&b, &req->arena);
        http_error_body(&b, "unauthorized", "Invalid credentials");
        resp_send(req, 401, "application/json; charset=utf-8", "WWW-Authenticate: Bearer\r\n",
                  b.data, b.len);
        return;
    }
    if (!account_can_log_in(&l->acct)) {
        resp_error(req, 403, "forbidden", "The account is inactive or archived");
        return;
    }
    if (l->newpassword) {
        struct pw_job *next = arena_calloc(&req->arena, sizeof *next);
        memcpy(next->password, l->newpassword, l->newlen);
        next->req = req;
        next->done = new_password_hashed;
        next->ud = l;
        pw_submit(next);
        return;
    }
    if (job->needs_rehash && job->rehash[0])
        password_set(l, job->rehash, false, on_rehashed, NULL);
    issue_login(l);
}

void auth_login(http_request *req) {
    size_t n;
    const char *platform = http_header(req, "platform", &n);
    if (platform && !((n == 3 && !strncmp(platform, "ios", 3)) ||
                      (n == 7 && !strncmp(platform, "android", 7)))) {
        handler_invalid(req, 422, "invalid", "platform", "must be ios or android");
        return;
    }
    struct login *l = login_begin(req, false);
    if (!l)
        return;
    l->platform = platform ? (n == 3 ? "ios" : "android") : NULL;
    login_charge(l);
}

/* POST /auth/changepassword: proves the old password, then revokes every
 * earlier token by bumping the account's token generation. */
void auth_change_password(http_request *req) {
    struct login *l = login_begin(req, true);
    if (l)
        login_charge(l);
}

/* POST /auth/logout: revokes this token until it would have expired. */
static void on_revoked(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type == REDIS_REPLY_ERROR)
        resp_unavailable(req);
    else
        resp_json_str(req, 200, "{\"status\":\"success\"}");
}

void auth_logout(http_request *req) {
    char key[KEY_MAX], ttl[24];
    token_revoked_key(key, req->account->jti, strlen(req->account->jti));
    int64_t left = req->account->exp - (int64_t)time(NULL);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(left > 0 ? left + 60 : 60));
    const char *argv[6] = {"SET", key, "1", "EX", ttl, NULL};
    if (rds_command_argv(srv.redis, on_revoked, req, 5, argv, NULL) < 0)
        resp_unavailable(req);
}

/* GET /accounts/me: the account the token's auth step loaded. */
void accounts_me(http_request *req) {
    account_respond(req, 200, req->account, NULL);
}

/* ---- presence and location ---- */

static void on_presence(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    struct account a;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        resp_unavailable(req);
        return;
    }
    if (reply->elements < 2 || account_from_reply(&req->arena, reply->element[1], &a) < 0) {
        resp_error(req, 404, "not-found", "The account no longer exists");
        return;
    }
    account_respond(req, 200, &a, NULL);
}

/* online: "1", "0" or "" (unchanged); a location when has_loc. */
static void presence(http_request *req, const char *online, bool has_loc, double lat, double lon) {
    const struct account *a = req->account;
    char acct[KEY_MAX], geo[KEY_MAX], slat[32], slon[32], iso[32], ms[24];
    key_entity(acct, "acct", a->id, strlen(a->id), NULL);
    bool located = !strcmp(a->type, "operator") || !strcmp(a->type, "dealer");
    if (located) {
        char name[32];
        snprintf(name, sizeof name, "geo:%s", a->type);
        key_named(geo, name);
    } else {
        strcpy(geo, acct);
    }
    slat[0] = slon[0] = '\0';
    if (has_loc) {
        snprintf(slat, sizeof slat, "%.7f", lat);
        snprintf(slon, sizeof slon, "%.7f", lon);
    }
    now_iso(iso);
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)now_ms());
    const char *argv[8] = {acct, geo, online, slat, slon, iso, ms, a->id};
    if (rds_eval(srv.redis, SCRIPT_account_presence, on_presence, req, 2, 8, argv, NULL) < 0)
        resp_unavailable(req);
}

/* Reads {latitude, longitude}: required, optional (both or neither), and
 * range-checked.  Returns 1 when given, 0 when absent, -1 when it answered. */
static int read_location(http_request *req, bool required, double *lat, double *lon) {
    if (req->body.len == 0 && !required)
        return 0;
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return -1;
    bool has_lat = false, has_lon = false;
    const struct json_field fields[] = {
        {.name = "latitude",
         .type = JSON_NUMBER,
         .required = required,
         .out = lat,
         .present = &has_lat},
        {.name = "longitude",
         .type = JSON_NUMBER,
         .required = required,
         .out = lon,
         .present = &has_lon},
    };
    if (handler_extract(req, &doc, fields, 2) < 0)
        return -1;
    if (has_lat != has_lon) {
        handler_invalid(req, 422, "invalid", has_lat ? "longitude" : "latitude", "is required");
        return -1;
    }
    if (!has_lat)
        return 0;
    return check_location(req, *lat, *lon, "latitude", "longitude") < 0 ? -1 : 1;
}

void accounts_online(http_request *req) {
    double lat = 0, lon = 0;
    int has = read_location(req, false, &lat, &lon);
    if (has >= 0)
        presence(req, "1", has == 1, lat, lon);
}

void accounts_offline(http_request *req) {
    presence(req, "0", false, 0, 0);
}

void accounts_location(http_request *req) {
    if (strcmp(req->account->type, "operator") && strcmp(req->account->type, "dealer")) {
        resp_error(req, 403, "forbidden", "Only operators and dealers report a location");
        return;
    }
    double lat, lon;
    if (read_location(req, true, &lat, &lon) == 1)
        presence(req, "", true, lat, lon);
}

/* ---- changes by an admin or the organization's owner ---- */

static void on_updated(redisReply *reply, int err, void *ud) {
    http_request *req = ud;
    if (err || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        resp_unavailable(req);
        return;
    }
    struct account a;
    if (!strcmp(reply->element[0]->str, "forbidden")) {
        resp_error(req, 403, "forbidden", "Only an admin may change type or organization");
        return;
    }
    if (!strcmp(reply->element[0]->str, "no-org")) {
        handler_invalid(req, 422, "invalid", "organization", "does not name an organization");
        return;
    }
    if (strcmp(reply->element[0]->str, "ok") || reply->elements < 2 ||
        account_from_reply(&req->arena, reply->element[1], &a) < 0) {
        resp_error(req, 404, "not-found", "No such account");
        return;
    }
    notify_account(req, &a);
    account_respond(req, 200, &a, NULL);
}

/* PUT /accounts/:id: status, archive and names for an admin or the owner of
 * the account's organization (activating a dealer); type and organization
 * for an admin only.  Anyone else is told the account does not exist. */
void accounts_update(http_request *req) {
    size_t idlen;
    const char *id = id_param(req, &idlen, "No such account");
    if (!id)
        return;
    json_doc doc;
    if (handler_parse_json(req, &doc) < 0)
        return;
    const char *status = NULL, *first = NULL, *last = NULL, *type = NULL, *org = NULL;
    bool archive = false, has_archive = false, has_org = false;
    const struct json_field fields[] = {
        {.name = "status", .type = JSON_STRING, .out = &status},
        {.name = "archive", .type = JSON_BOOL, .out = &archive, .present = &has_archive},
        {.name = "firstName", .type = JSON_STRING, .min_len = 1, .max_len = 100, .out = &first},
        {.name = "lastName", .type = JSON_STRING, .min_len = 1, .max_len = 100, .out = &last},
        {.name = "type", .type = JSON_STRING, .out = &type},
        {.name = "organization",
         .type = JSON_STRING,
         .null_ok = true,
         .out = &org,
         .present = &has_org},
    };
    if (handler_extract(req, &doc, fields, sizeof fields / sizeof fields[0]) < 0)
        return;
    /* null takes the account out of its organization: a change too. */
    has_org = json_get(&doc, 0, "organization") >= 0;
    if (status && !valid_status(status)) {
        handler_invalid(req, 422, "invalid", "status", "must be active or inactive");
        return;
    }
    if (type && !valid_type(type)) {
        handler_invalid(req, 422, "invalid", "type", "must be user, operator, dealer or admin");
        return;
    }
    bool admin = account_is_admin(req->account);
    char key[KEY_MAX];
    key_entity(key, "acct", id, idlen, NULL);
    const char *argv[20] = {key, req->account->id, admin ? "1" : "0", keys_prefix(),
                            type || has_org ? "1" : "0"};
    int argc = 5;
    const char *pairs[][2] = {{"status", status},
                              {"firstName", first},
                              {"lastName", last},
                              {"type", type},
                              {"archive", has_archive ? (archive ? "1" : "0") : NULL},
                              {"organization", has_org ? (org ? org : "") : NULL}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][1]) {
            argv[argc++] = pairs[i][0];
            argv[argc++] = pairs[i][1];
        }
    if (rds_eval(srv.redis, SCRIPT_account_update, on_updated, req, 1, argc, argv, NULL) < 0)
        resp_unavailable(req);
}

/* ---- start-up ---- */

/* Makes sure the configured admin exists: hashes its password off the loop,
 * then creates it unless its email is taken (several instances starting at
 * once create one). */
void accounts_on_ready(void) {
    static arena boot_arena;
    static struct new_account boot;
    if (admin_ensuring || !srv.cfg.admin_email || !srv.cfg.admin_password)
        return;
    size_t elen = strlen(srv.cfg.admin_email), pwlen = strlen(srv.cfg.admin_password);
    if (!valid_email(srv.cfg.admin_email, elen) || pwlen < 6 || pwlen > 128) {
        log_error("accounts", "ONAIR_ADMIN_EMAIL/ONAIR_ADMIN_PASSWORD are not a valid email and a "
                              "6..128 character password; no admin ensured");
        admin_ensuring = true;
        return;
    }
    admin_ensuring = true;
    arena_reset(&boot_arena);
    memset(&boot, 0, sizeof boot);
    boot.arena = &boot_arena;
    boot.type = "admin";
    boot.first = "Admin";
    boot.last = "Admin";
    boot.username = "";
    boot.status = "active";
    boot.org_rule = "none";
    boot.org_field = "organization";
    boot.ids[0] = (struct identity){"email", srv.cfg.admin_email,
                                    lower(&boot_arena, srv.cfg.admin_email, elen), elen};
    boot.nids = 1;
    create_start(&boot, srv.cfg.admin_password, pwlen);
}

void accounts_init(void) {
    /* Once, at start-up, before the loop runs: the cost of one hash. */
    uint8_t junk[32];
    char pw[65];
    randombytes_buf(junk, sizeof junk);
    sodium_bin2hex(pw, sizeof pw, junk, sizeof junk);
    if (crypto_pwhash_str(dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        log_error("accounts", "cannot compute the login timing hash");
}
