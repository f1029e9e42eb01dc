#include "core/cors.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/router.h"

#define CORS_MAX_ORIGINS 32
#define CORS_MAX_AGE_S "600"
/* The request headers a cross-origin caller may send. */
#define CORS_ALLOW_HEADERS "Authorization, Content-Type, Platform, Last-Event-ID"

static struct {
    bool any;
    size_t n;
    char *origin[CORS_MAX_ORIGINS];
    size_t len[CORS_MAX_ORIGINS];
} cors;

/* Whether [s, s+n) looks like scheme://host[:port]. */
static bool origin_shaped(const char *s, size_t n) {
    size_t skip;
    if (n > 7 && !strncasecmp(s, "http://", 7))
        skip = 7;
    else if (n > 8 && !strncasecmp(s, "https://", 8))
        skip = 8;
    else
        return false;
    for (size_t i = skip; i < n; i++)
        if (s[i] == '/' || s[i] == ' ' || s[i] == '*' || (unsigned char)s[i] < 0x21)
            return false;
    return true;
}

/* Calls fn for each item of the list; stops at the first -1. */
static int each_origin(const char *list, int (*fn)(const char *s, size_t n)) {
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ')
            end++;
        if (end > p && fn(p, (size_t)(end - p)) < 0)
            return -1;
        p = end;
    }
    return 0;
}

static int check_one(const char *s, size_t n) {
    return (n == 1 && s[0] == '*') || origin_shaped(s, n) ? 0 : -1;
}

int cors_check(const char *origins) {
    size_t count = 0;
    for (const char *p = origins; *p; p++)
        count += *p == ',';
    return count < CORS_MAX_ORIGINS ? each_origin(origins, check_one) : -1;
}

static int keep_one(const char *s, size_t n) {
    if (n == 1 && s[0] == '*') {
        cors.any = true;
    } else if (cors.n < CORS_MAX_ORIGINS) {
        cors.origin[cors.n] = strndup(s, n);
        cors.len[cors.n++] = n;
    }
    return 0;
}

int cors_init(const char *origins) {
    cors_free();
    if (!origins)
        return 0;
    if (cors_check(origins) < 0)
        return -1;
    return each_origin(origins, keep_one);
}

void cors_free(void) {
    for (size_t i = 0; i < cors.n; i++)
        free(cors.origin[i]);
    memset(&cors, 0, sizeof cors);
}

/* The request's Origin when it is allowed on the path, else NULL. */
static const char *allowed_origin(const http_request *req, size_t *len) {
    const char *o = http_header(req, "origin", len);
    if (!o || *len == 0)
        return NULL;
    if (cors.any || (req->match.path_flags & ROUTE_CORS_ANY))
        return o;
    for (size_t i = 0; i < cors.n; i++)
        if (cors.len[i] == *len && !strncasecmp(cors.origin[i], o, *len))
            return o;
    return NULL;
}

void cors_headers(const http_request *req, buf *out) {
    size_t len;
    const char *o = allowed_origin(req, &len);
    if (!o)
        return;
    buf_appends(out, "Access-Control-Allow-Origin: ");
    buf_append(out, o, len);
    buf_appends(out, "\r\nVary: Origin\r\nAccess-Control-Expose-Headers: Retry-After\r\n");
}

void cors_preflight_headers(const http_request *req, const char *allow, buf *out) {
    size_t len;
    if (!http_header(req, "access-control-request-method", &len) || !allowed_origin(req, &len))
        return;
    buf_appends(out, "Access-Control-Allow-Methods: ");
    buf_appends(out, allow);
    buf_appends(out, "\r\nAccess-Control-Allow-Headers: " CORS_ALLOW_HEADERS
                     "\r\nAccess-Control-Max-Age: " CORS_MAX_AGE_S "\r\n");
}
