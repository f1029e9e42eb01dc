/* Cross-origin requests (CORS), so that browsers may call onair from other
 * sites: the telemetry SDK from every site that embeds it, a dashboard from
 * its own origin.
 *
 * Routes flagged ROUTE_CORS_ANY answer every origin (their callers carry
 * their credentials in the body and are checked by them); the others answer
 * the origins listed in ONAIR_CORS_ORIGINS ("*": every one), none when it
 * is unset.  An allowed origin is echoed back with Vary: Origin; cookies are
 * never involved, so credentials are not allowed.  OPTIONS on a path that
 * has routes answers 204 with Allow, plus the preflight's answer when the
 * origin is allowed. */
#ifndef ONAIR_CORS_H
#define ONAIR_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "protocol/http1.h"

/* Checks an ONAIR_CORS_ORIGINS value: "*", or a comma-separated list of
 * origins (scheme://host[:port], no path).  Returns 0 or -1. */
int cors_check(const char *origins);

/* Keeps the allowed origins (a value cors_check accepted; NULL: none). */
int cors_init(const char *origins);
void cors_free(void);

/* Appends the CORS response headers `req` needs (nothing when it has no
 * Origin or the origin is not allowed on its path). */
void cors_headers(const http_request *req, buf *out);

/* For OPTIONS on a path that has routes (`allow`: its methods): appends the
 * preflight's answer when `req` is one from an allowed origin. */
void cors_preflight_headers(const http_request *req, const char *allow, buf *out);

#endif
