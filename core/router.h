/* Static route table: method + path pattern with :params.
 *
 * Patterns are split into segments once at start-up; matching walks the
 * request path's segments without allocating.  A single trailing slash is
 * ignored.  A path that matches a pattern under another method gives 405 with
 * the allowed methods; no pattern at all gives 404.  Auth, body limit and rate
 * limit are attributes of the route, checked before its handler runs. */
#ifndef ONAIR_ROUTER_H
#define ONAIR_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_PARAMS 4
#define ROUTE_MAX_SEGMENTS 8

struct http_request;
typedef void (*route_fn)(struct http_request *req);

enum route_flags {
    ROUTE_TEST_HOOK = 1 << 0,   /* served only with --test-hooks */
    ROUTE_V1_ALIAS = 1 << 1,    /* also served under /v1 (the telemetry SDK's root) */
    ROUTE_TOKEN_QUERY = 1 << 2, /* the token may come as ?token= (browsers' EventSource
                                   cannot set headers) */
    ROUTE_CORS_ANY = 1 << 3,    /* browsers on any site may call it (core/cors.h) */
};

/* Who may call a route; checked before its handler runs. */
enum route_auth {
    AUTH_NONE,     /* anyone */
    AUTH_ACCOUNT,  /* a valid account token (401 otherwise) */
    AUTH_OPTIONAL, /* anyone, but a token given must be valid */
    AUTH_GUEST,    /* a valid account token, or a stream's guest token (401 otherwise) */
    AUTH_CLAIMS,   /* a valid account token's claims, read from the store by the handler's
                      own script: the hottest routes make one round trip */
    AUTH_SERVICE,  /* Authorization: Bearer <ONAIR_SERVICE_TOKEN> (403 otherwise, and
                      always while the setting is unset): the Prosody component */
};

/* Which rate limit applies before the handler runs. */
enum route_rate {
    RATE_NONE,
    RATE_AUTH_IP, /* ONAIR_AUTH_IP_RATE_PER_MIN per client IP */
};

struct route {
    uint8_t method; /* llhttp_method_t */
    const char *pattern;
    route_fn fn;
    uint32_t flags;
    uint32_t body_limit; /* bytes; 0: the configured default */
    uint8_t auth;        /* enum route_auth */
    uint8_t rate;        /* enum route_rate */
};

struct route_match {
    const struct route *route; /* NULL: no route */
    int index;                 /* route's index, for metrics; -1 when none */
    uint32_t allow;            /* when route is NULL: bit per llhttp method that would match */
    uint32_t path_flags;       /* the flags of the routes that match the path (any method) */
    int nparams;
    const char *param[ROUTE_MAX_PARAMS]; /* point into the path; not decoded */
    size_t param_len[ROUTE_MAX_PARAMS];
};

/* Installs the table (kept by reference).  Returns 0, or -1 with a log line when
 * a pattern is malformed. */
int router_init(const struct route *routes, size_t n, bool test_hooks);

/* Matches method + path (path without the query string). */
void router_match(uint8_t method, const char *path, size_t len, struct route_match *m);

/* Writes "GET, POST" for an allow mask; returns the length. */
size_t router_allow_header(uint32_t allow, char *out, size_t outlen);

/* The route's attributes (auth, rate limit) are enforced by a runner that
 * the handlers install; it calls the route's fn when they pass.  Without one,
 * router_run calls fn directly. */
void router_set_runner(route_fn runner);
void router_run(struct http_request *req);

const struct route *router_at(size_t i);

#endif
