/* HTTP/1.1 requests and responses.
 *
 * The parser side turns llhttp callbacks into an http_request allocated in the
 * request's arena: method, path, raw query, headers, body.  Limits (URL length,
 * header bytes and count, body size per route, transfer codings, version) are
 * enforced while parsing; a violation stops the parser with the HTTP status to
 * answer in http_parser.error_status.  on_message_complete pauses the parser,
 * so exactly one request is handed over at a time and pipelined requests are
 * answered in order.
 *
 * The response side formats a status line and headers into a buffer. */
#ifndef ONAIR_HTTP1_H
#define ONAIR_HTTP1_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/router.h"

struct conn;
struct account;
struct guest;
struct claims;

struct http_header {
    const char *name; /* as received; compare case-insensitively */
    const char *value;
    uint32_t name_len, value_len;
};

typedef struct http_request {
    struct conn *conn;
    arena arena;
    uint64_t id;       /* unique within the process; in every log line */
    uint64_t start_ns; /* uv_hrtime() at the first byte */
    uint8_t method;    /* llhttp_method_t */
    uint8_t http_minor;
    bool keep_alive;
    bool head;            /* HEAD: handled as GET, answered without the body */
    bool expect_continue; /* "Expect: 100-continue" and the body not yet read */

    const char *target; /* request target as received, NUL-terminated */
    size_t target_len;
    const char *path; /* target up to '?', NUL-terminated */
    size_t path_len;
    const char *query; /* after '?', or NULL */
    size_t query_len;

    struct http_header *headers;
    uint32_t nheaders;

    buf body; /* arena-backed */

    struct route_match match;

    bool responded;          /* its one response is queued */
    void *ctx;               /* the handler's own state across async steps */
    struct account *account; /* the caller, once a route's auth has passed */
    struct guest *guest;     /* or the stream guest calling (AUTH_GUEST routes) */
    struct claims *claims;   /* or the token's claims alone (AUTH_CLAIMS routes) */
} http_request;

/* Limits the parser enforces; filled from the configuration. */
struct http_limits {
    uint64_t max_header_bytes;
    uint32_t max_headers;
    uint64_t max_url_bytes;
    uint64_t max_body_bytes; /* default per route */
};

/* Parser state for one connection. */
struct http_parser {
    llhttp_t llhttp;
    http_request *req; /* being parsed; owned by the connection */
    const struct http_limits *limits;
    uint64_t header_bytes; /* URL + header names and values so far */
    uint64_t body_limit;
    buf field, value; /* URL, then each header, assembled across reads (arena) */
    bool headers_done;
    bool te_seen, te_chunked_last;
    uint16_t error_status; /* when the parser stopped for a limit: the status to answer */
    const char *error_message;
};

/* The owner must set p->req to a fresh request (with an initialized arena)
 * before feeding the first byte of each message to llhttp_execute. */
void http_parser_init(struct http_parser *p, const struct http_limits *limits, void *owner);

/* Header lookup, case-insensitive.  Returns the value (not NUL-terminated in
 * general) or NULL. */
const char *http_header(const http_request *req, const char *name, size_t *len);

/* The same for the last line of a header sent on several lines: a list-valued
 * header (RFC 9110 §5.3) whose newest element matters, as X-Forwarded-For's
 * last hop, which a proxy appending its own line puts there. */
const char *http_header_last(const http_request *req, const char *name, size_t *len);

/* Query parameter lookup; the value is percent-decoded ('+' as space) into the
 * arena and NUL-terminated.  Returns 0, or -1 when absent. */
int http_query(http_request *req, const char *name, const char **val, size_t *len);

/* Route parameter i, percent-decoded into the arena and NUL-terminated;
 * NULL when i is out of range or the decoding is invalid. */
const char *http_param(http_request *req, int i, size_t *len);

/* Formats the status line and the standard headers:
 *   HTTP/1.1 <status> <reason>, Date, Content-Type, Content-Length (omitted
 *   when content_length is HTTP_NO_LENGTH: a close-delimited body),
 *   Connection: close (when !keep_alive) or keep-alive (HTTP/1.0),
 *   then `extra` (zero or more complete "Name: value\r\n" lines) and CRLF. */
#define HTTP_NO_LENGTH ((size_t)-1)
void http_write_head(buf *out, int status, bool keep_alive, int http_minor,
                     const char *content_type, size_t content_length, const char *extra);

const char *http_reason(int status);

/* The contract's error body {"status":code,"message":msg} into b. */
void http_error_body(buf *b, const char *code, const char *message);

/* Default error code string for a status ("not-found" for 404...). */
const char *http_status_code(int status);

/* After llhttp_execute failed: the status and message to answer with. */
int http_parse_error(const struct http_parser *p, llhttp_errno_t err, const char **message);

#endif
