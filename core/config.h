/* Settings: every one is a command-line flag and an environment variable
 * (API.md §2); the flag wins.  config_load() validates everything up front and
 * reports the first bad value naming the setting, so a misconfigured process
 * exits at start rather than misbehaving later. */
#ifndef ONAIR_CONFIG_H
#define ONAIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 8

struct config {
    /* Network */
    char *listen;     /* "host:port[,host:port]"; IPv6 as [::1]:8080 */
    char *redis;      /* redis://[user:pass@]host:port[/db] or unix:///path */
    char *key_prefix; /* prefix of every Redis key */
    char *trusted_proxies;
    char *cors_origins;

    /* Secrets and identity */
    char *secret; /* hex, >= 32 bytes decoded; NULL: generated and kept in Redis */
    uint8_t secret_bin[128];
    size_t secret_len;
    char *admin_email;
    char *admin_password;
    char *service_token;
    char *pusher_app_id, *pusher_key, *pusher_secret;
    char *media_provider;
    char *jitsi_app_id, *jitsi_secret, *jitsi_domain;
    char *opentok_api_key, *opentok_api_secret, *opentok_api_url;

    /* Domain timings (milliseconds unless said otherwise) */
    uint64_t token_ttl_s;
    uint64_t guest_token_ttl_s;
    uint64_t geo_radius_m;
    uint64_t gig_location_max_age_s;
    uint64_t map_cache_ms;
    uint64_t map_cell_m;
    uint64_t map_cache_bytes;
    uint64_t gig_claim_timeout_ms;
    uint64_t gig_confirm_timeout_ms;
    uint64_t stream_accept_timeout_ms;
    uint64_t ping_timeout_ms;
    uint64_t chat_idle_ms;
    uint64_t telemetry_retention_s;
    char *plans;                     /* ONAIR_PLANS: "name:metric=limit;..." (plans.h) */
    uint64_t telemetry_rate_per_min; /* SDK requests per client IP */

    /* HTTP limits */
    uint64_t max_header_bytes;
    uint64_t max_headers;
    uint64_t max_url_bytes;
    uint64_t max_body_bytes;
    uint64_t header_timeout_ms;
    uint64_t keepalive_timeout_ms;
    uint64_t max_requests_per_conn;
    uint64_t max_connections;

    /* Abuse limits */
    uint64_t login_rate_per_min;   /* per account identifier */
    uint64_t auth_ip_rate_per_min; /* per client IP on the account-creating and login routes */
    uint64_t hash_queue;           /* Argon2id jobs waiting or running; beyond, 503 */

    /* Real-time events */
    uint64_t events_max_per_account;
    uint64_t events_heartbeat_ms;
    uint64_t events_replay_max;
    uint64_t events_replay_ttl_s;
    uint64_t events_max_backlog;

    /* Runtime */
    uint64_t redis_timeout_ms;
    uint64_t reaper_interval_ms;
    uint64_t shutdown_timeout_ms;
    char *log_level;
    bool test_hooks;
};

/* Fills cfg from defaults, then the environment, then argv.  Returns 0; on a
 * bad value writes "onair: <setting>: <reason>" into err and returns -1; on
 * --help writes the usage into err and returns 1. */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* The usage text: every flag with its variable and default. */
void config_usage(char *out, size_t outlen);

void config_free(struct config *cfg);

#endif
