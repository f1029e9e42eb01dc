#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/cors.h"
#include "core/log.h"

enum kind { K_STR, K_U64, K_BOOL };

/* How to check a value beyond its type. */
enum check { C_NONE, C_LISTEN, C_REDIS, C_SECRET, C_LEVEL, C_CIDRS, C_PROVIDER, C_ORIGINS };

struct setting {
    const char *flag; /* without the leading "--" */
    const char *env;
    enum kind kind;
    size_t offset;
    const char *def; /* NULL: unset */
    uint64_t min, max;
    enum check check;
    const char *help;
};

#define S(flag, env, field, def, check, help)                                                      \
    { flag, env, K_STR, offsetof(struct config, field), def, 0, 0, check, help }
#define U(flag, env, field, def, min, max, help)                                                   \
    { flag, env, K_U64, offsetof(struct config, field), def, min, max, C_NONE, help }

static const struct setting settings[] = {
    S("listen", "ONAIR_LISTEN", listen, "127.0.0.1:8080", C_LISTEN,
      "host:port[,host:port] to serve HTTP on"),
    S("redis", "ONAIR_REDIS", redis, "redis://127.0.0.1:6379", C_REDIS,
      "redis://[user:pass@]host:port[/db] or unix:///path"),
    S("key-prefix", "ONAIR_KEY_PREFIX", key_prefix, "onair:", C_NONE, "prefix of every Redis key"),
    S("trusted-proxies", "ONAIR_TRUSTED_PROXIES", trusted_proxies, NULL, C_CIDRS,
      "CIDRs whose X-Forwarded-For is believed"),
    S("cors-origins", "ONAIR_CORS_ORIGINS", cors_origins, NULL, C_ORIGINS,
      "origins browsers may call from (scheme://host[:port],...; *: any)"),
    S("secret", "ONAIR_SECRET", secret, NULL, C_SECRET, "hex, >= 32 bytes; signs every token"),
    S("admin-email", "ONAIR_ADMIN_EMAIL", admin_email, NULL, C_NONE,
      "admin account ensured at start"),
    S("admin-password", "ONAIR_ADMIN_PASSWORD", admin_password, NULL, C_NONE, "its password"),
    S("service-token", "ONAIR_SERVICE_TOKEN", service_token, NULL, C_NONE,
      "bearer token of the Prosody component"),
    S("pusher-app-id", "ONAIR_PUSHER_APP_ID", pusher_app_id, NULL, C_NONE, "Pusher app id"),
    S("pusher-key", "ONAIR_PUSHER_KEY", pusher_key, NULL, C_NONE, "Pusher key"),
    S("pusher-secret", "ONAIR_PUSHER_SECRET", pusher_secret, NULL, C_NONE, "Pusher secret"),
    S("media-provider", "ONAIR_MEDIA_PROVIDER", media_provider, "jitsi", C_PROVIDER,
      "jitsi or opentok"),
    S("jitsi-app-id", "ONAIR_JITSI_APP_ID", jitsi_app_id, "onair", C_NONE, "Jitsi token app id"),
    S("jitsi-secret", "ONAIR_JITSI_SECRET", jitsi_secret, NULL, C_NONE,
      "Jitsi token secret (default: the secret)"),
    S("jitsi-domain", "ONAIR_JITSI_DOMAIN", jitsi_domain, "meet.jit.si", C_NONE, "Jitsi domain"),
    S("opentok-api-key", "ONAIR_OPENTOK_API_KEY", opentok_api_key, NULL, C_NONE, "OpenTok API key"),
    S("opentok-api-secret", "ONAIR_OPENTOK_API_SECRET", opentok_api_secret, NULL, C_NONE,
      "OpenTok API secret"),
    S("opentok-api-url", "ONAIR_OPENTOK_API_URL", opentok_api_url, "https://api.opentok.com",
      C_NONE, "OpenTok REST root"),
    U("token-ttl-s", "ONAIR_TOKEN_TTL_S", token_ttl_s, "604800", 60, 31536000,
      "account token lifetime"),
    U("guest-token-ttl-s", "ONAIR_GUEST_TOKEN_TTL_S", guest_token_ttl_s, "86400", 60, 31536000,
      "stream guest token lifetime"),
    U("geo-radius-m", "ONAIR_GEO_RADIUS_M", geo_radius_m, "10000", 1, 20000000,
      "operator search radius"),
    U("gig-location-max-age-s", "ONAIR_GIG_LOCATION_MAX_AGE_S", gig_location_max_age_s, "600", 1,
      86400, "operators whose location is older are not on the map"),
    U("map-cache-ms", "ONAIR_MAP_CACHE_MS", map_cache_ms, "1000", 0, 60000,
      "how long a map search serves its cell (0: no cache)"),
    U("map-cell-m", "ONAIR_MAP_CELL_M", map_cell_m, "200", 10, 5000,
      "side of the map cache's cells, in metres"),
    U("map-cache-bytes", "ONAIR_MAP_CACHE_BYTES", map_cache_bytes, "67108864", 0, 17179869184,
      "bytes of map searches kept, at most"),
    U("gig-claim-timeout-ms", "ONAIR_GIG_CLAIM_TIMEOUT_MS", gig_claim_timeout_ms, "60000", 1,
      86400000, "requested gig expiry"),
    U("gig-confirm-timeout-ms", "ONAIR_GIG_CONFIRM_TIMEOUT_MS", gig_confirm_timeout_ms, "60000", 1,
      86400000, "claimed gig expiry"),
    U("stream-accept-timeout-ms", "ONAIR_STREAM_ACCEPT_TIMEOUT_MS", stream_accept_timeout_ms,
      "30000", 1, 86400000, "stream accept window"),
    U("ping-timeout-ms", "ONAIR_PING_TIMEOUT_MS", ping_timeout_ms, "60000", 1, 86400000,
      "dealer heartbeat expiry"),
    U("chat-idle-ms", "ONAIR_CHAT_IDLE_MS", chat_idle_ms, "120000", 1, 86400000,
      "a chat room without messages this long becomes inactive"),
    U("telemetry-retention-s", "ONAIR_TELEMETRY_RETENTION_S", telemetry_retention_s, "2592000", 60,
      315360000, "telemetry lifetime"),
    S("plans", "ONAIR_PLANS", plans, "free:conferences=1000;pro:conferences=0", C_NONE,
      "telemetry plans and their monthly quotas (0: unlimited); the first is the default"),
    U("telemetry-rate-per-min", "ONAIR_TELEMETRY_RATE_PER_MIN", telemetry_rate_per_min, "2000", 1,
      60000000, "telemetry SDK requests per client IP (429)"),
    U("max-header-bytes", "ONAIR_MAX_HEADER_BYTES", max_header_bytes, "16384", 256, 1048576,
      "request header bytes (431)"),
    U("max-headers", "ONAIR_MAX_HEADERS", max_headers, "100", 1, 10000,
      "request header count (431)"),
    U("max-url-bytes", "ONAIR_MAX_URL_BYTES", max_url_bytes, "8192", 64, 1048576,
      "request target length (414)"),
    U("max-body-bytes", "ONAIR_MAX_BODY_BYTES", max_body_bytes, "65536", 0, 1073741824,
      "default body limit per route (413)"),
    U("header-timeout-ms", "ONAIR_HEADER_TIMEOUT_MS", header_timeout_ms, "10000", 10, 3600000,
      "headers must arrive within (408)"),
    U("keepalive-timeout-ms", "ONAIR_KEEPALIVE_TIMEOUT_MS", keepalive_timeout_ms, "75000", 10,
      86400000, "idle keep-alive"),
    U("max-requests-per-conn", "ONAIR_MAX_REQUESTS_PER_CONN", max_requests_per_conn, "10000", 1,
      1000000000, "requests per connection"),
    U("max-connections", "ONAIR_MAX_CONNECTIONS", max_connections, "100000", 1, 10000000,
      "open connections; beyond, accept and close"),
    U("login-rate-per-min", "ONAIR_LOGIN_RATE_PER_MIN", login_rate_per_min, "10", 1, 1000000,
      "login attempts per account identifier (429)"),
    U("auth-ip-rate-per-min", "ONAIR_AUTH_IP_RATE_PER_MIN", auth_ip_rate_per_min, "60", 1, 1000000,
      "login/register attempts per client IP (429)"),
    U("hash-queue", "ONAIR_HASH_QUEUE", hash_queue, "64", 1, 100000,
      "password hashes queued or running; beyond, 503"),
    U("events-max-per-account", "ONAIR_EVENTS_MAX_PER_ACCOUNT", events_max_per_account, "5", 1,
      100000, "open event streams per account, across instances (429)"),
    U("events-heartbeat-ms", "ONAIR_EVENTS_HEARTBEAT_MS", events_heartbeat_ms, "15000", 50, 600000,
      "comment line on every event stream this often"),
    U("events-replay-max", "ONAIR_EVENTS_REPLAY_MAX", events_replay_max, "1000", 100, 1000000,
      "events kept per recipient for Last-Event-ID replay"),
    U("events-replay-ttl-s", "ONAIR_EVENTS_REPLAY_TTL_S", events_replay_ttl_s, "3600", 60, 2592000,
      "a recipient's event log is dropped this long after its newest event"),
    U("events-max-backlog", "ONAIR_EVENTS_MAX_BACKLOG", events_max_backlog, "262144", 4096,
      67108864, "unsent bytes on an event stream before the slow reader is cut off"),
    U("redis-timeout-ms", "ONAIR_REDIS_TIMEOUT_MS", redis_timeout_ms, "500", 10, 60000,
      "deadline of every Redis command"),
    U("reaper-interval-ms", "ONAIR_REAPER_INTERVAL_MS", reaper_interval_ms, "100", 10, 60000,
      "deadline reaper period"),
    U("shutdown-timeout-ms", "ONAIR_SHUTDOWN_TIMEOUT_MS", shutdown_timeout_ms, "10000", 0, 600000,
      "graceful shutdown bound"),
    S("log-level", "ONAIR_LOG_LEVEL", log_level, "info", C_LEVEL, "debug, info, warn or error"),
    {"test-hooks", "ONAIR_TEST_HOOKS", K_BOOL, offsetof(struct config, test_hooks), "0", 0, 1,
     C_NONE, "serve the /_test/ routes (tests only)"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_hostport(const char *v) {
    const char *colon;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return -1;
        char host[64];
        size_t n = (size_t)(close - v - 1);
        if (n >= sizeof host)
            return -1;
        memcpy(host, v + 1, n);
        host[n] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return -1;
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || colon == v)
            return -1;
        char host[64];
        size_t n = (size_t)(colon - v);
        if (n >= sizeof host)
            return -1;
        memcpy(host, v, n);
        host[n] = '\0';
        struct in_addr a4;
        if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, &a4) != 1)
            return -1;
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] == '\0' || port > 65535)
        return -1;
    return 0;
}

static int check_value(const struct setting *s, const char *v, char *err, size_t errlen) {
    switch (s->check) {
    case C_LISTEN: {
        char tmp[512];
        if (strlen(v) >= sizeof tmp)
            return fail(err, errlen, "onair: %s: too long", s->flag);
        strcpy(tmp, v);
        int n = 0;
        for (char *save, *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (check_hostport(tok) < 0 || ++n > CONFIG_MAX_LISTEN)
                return fail(err, errlen, "onair: %s: '%s' is not host:port (IPv6 as [addr]:port)",
                            s->flag, tok);
        }
        if (n == 0)
            return fail(err, errlen, "onair: %s: empty", s->flag);
        return 0;
    }
    case C_REDIS:
        if (strncmp(v, "unix://", 7) == 0 && v[7] == '/')
            return 0;
        if (strncmp(v, "redis://", 8) == 0 && v[8])
            return 0;
        return fail(err, errlen, "onair: %s: '%s' is not redis://host:port[/db] or unix:///path",
                    s->flag, v);
    case C_SECRET: {
        size_t n = strlen(v);
        if (n < 64 || n % 2 || n / 2 > sizeof(((struct config *)0)->secret_bin))
            return fail(err, errlen, "onair: %s: must be 64 to 256 hex digits (32+ bytes)",
                        s->flag);
        for (size_t i = 0; i < n; i++)
            if (!isxdigit((unsigned char)v[i]))
                return fail(err, errlen, "onair: %s: must be hex", s->flag);
        return 0;
    }
    case C_LEVEL:
        if (log_level_parse(v) < 0)
            return fail(err, errlen, "onair: %s: '%s' is not debug, info, warn or error", s->flag,
                        v);
        return 0;
    case C_PROVIDER:
        if (strcmp(v, "jitsi") && strcmp(v, "opentok"))
            return fail(err, errlen, "onair: %s: '%s' is not jitsi or opentok", s->flag, v);
        return 0;
    case C_ORIGINS:
        if (cors_check(v) < 0)
            return fail(err, errlen, "onair: %s: not origins (scheme://host[:port],... or *): %s",
                        s->flag, v);
        return 0;
    case C_CIDRS: {
        char tmp[1024];
        if (strlen(v) >= sizeof tmp)
            return fail(err, errlen, "onair: %s: too long", s->flag);
        strcpy(tmp, v);
        for (char *save, *tok = strtok_r(tmp, ", ", &save); tok;
             tok = strtok_r(NULL, ", ", &save)) {
            char *slash = strchr(tok, '/');
            if (slash)
                *slash = '\0';
            struct in6_addr a;
            int fam = strchr(tok, ':') ? AF_INET6 : AF_INET;
            long bits = slash ? strtol(slash + 1, NULL, 10) : 0;
            if (inet_pton(fam, tok, &a) != 1 || bits < 0 || bits > (fam == AF_INET ? 32 : 128))
                return fail(err, errlen, "onair: %s: '%s' is not a CIDR", s->flag, tok);
        }
        return 0;
    }
    case C_NONE:
        return 0;
    }
    return 0;
}

static int apply(struct config *cfg, const struct setting *s, const char *v, char *err,
                 size_t errlen) {
    void *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case K_STR:
        if (check_value(s, v, err, errlen) < 0)
            return -1;
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return 0;
    case K_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            *(bool *)field = true;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            *(bool *)field = false;
        else
            return fail(err, errlen, "onair: %s: '%s' is not a boolean", s->flag, v);
        return 0;
    case K_U64: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || end == v || *end || !isdigit((unsigned char)v[0]))
            return fail(err, errlen, "onair: %s: '%s' is not a whole number", s->flag, v);
        if (n < s->min || n > s->max)
            return fail(err, errlen, "onair: %s: %llu is outside %llu..%llu", s->flag, n,
                        (unsigned long long)s->min, (unsigned long long)s->max);
        *(uint64_t *)field = n;
        return 0;
    }
    }
    return 0;
}

static const struct setting *find_flag(const char *name, size_t n) {
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strlen(settings[i].flag) == n && strncmp(settings[i].flag, name, n) == 0)
            return &settings[i];
    return NULL;
}

void config_usage(char *out, size_t outlen) {
    size_t n = (size_t)snprintf(out, outlen, "usage: onair [--flag value]...\n");
    for (size_t i = 0; i < NSETTINGS && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "  --%-26s %-32s %s (default: %s)\n",
                              settings[i].flag, settings[i].env, settings[i].help,
                              settings[i].def ? settings[i].def : "unset");
}

/* Resolves each setting to one value (flag, else environment, else default)
 * and only then checks it: a value the flag overrides does not matter. */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen) {
    const char *flag_value[NSETTINGS] = {0};
    memset(cfg, 0, sizeof *cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            config_usage(err, errlen);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0)
            return fail(err, errlen, "onair: unexpected argument '%s' (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        const struct setting *s = find_flag(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!s)
            return fail(err, errlen, "onair: unknown flag '%s' (see --help)", a);
        const char *v = eq ? eq + 1 : NULL;
        if (!v && s->kind == K_BOOL)
            v = "1";
        if (!v) {
            if (i + 1 >= argc)
                return fail(err, errlen, "onair: %s: needs a value", s->flag);
            v = argv[++i];
        }
        flag_value[s - settings] = v;
    }
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const char *env = getenv(s->env);
        const char *v = flag_value[i] ? flag_value[i] : env ? env : s->def;
        if (!v || apply(cfg, s, v, err, errlen) == 0)
            continue;
        if (!flag_value[i] && env) {
            /* Name the variable the operator actually set. */
            char inner[256];
            snprintf(inner, sizeof inner, "%s", err);
            const char *reason = strchr(inner + 7, ':');
            return fail(err, errlen, "onair: %s%s", s->env, reason ? reason : "");
        }
        return -1;
    }
    if (cfg->secret) {
        cfg->secret_len = strlen(cfg->secret) / 2;
        for (size_t i = 0; i < cfg->secret_len; i++) {
            unsigned int byte;
            sscanf(cfg->secret + 2 * i, "%2x", &byte);
            cfg->secret_bin[i] = (uint8_t)byte;
        }
    }
    if (cfg->pusher_key && (!cfg->pusher_secret || !cfg->pusher_app_id))
        return fail(
            err, errlen,
            "onair: ONAIR_PUSHER_KEY: needs ONAIR_PUSHER_APP_ID and ONAIR_PUSHER_SECRET too");
    if (!strcmp(cfg->media_provider, "opentok") &&
        (!cfg->opentok_api_key || !cfg->opentok_api_secret))
        return fail(err, errlen,
                    "onair: ONAIR_MEDIA_PROVIDER: opentok needs ONAIR_OPENTOK_API_KEY and "
                    "ONAIR_OPENTOK_API_SECRET");
    return 0;
}

void config_free(struct config *cfg) {
    for (size_t i = 0; i < NSETTINGS; i++)
        if (settings[i].kind == K_STR) {
            char **field = (char **)((char *)cfg + settings[i].offset);
            free(*field);
            *field = NULL;
        }
}
