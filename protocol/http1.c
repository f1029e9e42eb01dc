#include "protocol/http1.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "protocol/json.h"

/* Stops the parser with `status` to answer.  Any non-zero callback result is
 * an llhttp error; the status recorded here is what the connection answers. */
static int stop(struct http_parser *p, uint16_t status, const char *message) {
    p->error_status = status;
    p->error_message = message;
    return -1;
}

static struct http_parser *parser_of(llhttp_t *l) {
    return (struct http_parser *)l; /* llhttp is the first member */
}

static int on_message_begin(llhttp_t *l) {
    struct http_parser *p = parser_of(l);
    p->header_bytes = 0;
    p->headers_done = false;
    p->te_seen = p->te_chunked_last = false;
    p->error_status = 0;
    p->error_message = NULL;
    buf_init(&p->field, &p->req->arena);
    buf_init(&p->value, &p->req->arena);
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t len) {
    struct http_parser *p = parser_of(l);
    if (p->field.len + len > p->limits->max_url_bytes)
        return stop(p, 414, "Request target too long");
    buf_append(&p->field, at, len);
    return 0;
}

static int on_url_complete(llhttp_t *l) {
    struct http_parser *p = parser_of(l);
    http_request *req = p->req;
    req->target = arena_strndup(&req->arena, p->field.data ? p->field.data : "", p->field.len);
    req->target_len = p->field.len;
    p->header_bytes += p->field.len;
    buf_clear(&p->field);
    const char *q = memchr(req->target, '?', req->target_len);
    if (q) {
        req->path = arena_strndup(&req->arena, req->target, (size_t)(q - req->target));
        req->path_len = (size_t)(q - req->target);
        req->query = q + 1;
        req->query_len = req->target_len - req->path_len - 1;
    } else {
        req->path = req->target;
        req->path_len = req->target_len;
    }
    if (req->path_len == 0 || req->path[0] != '/')
        return stop(p, 400, "Request target must be an absolute path");
    return 0;
}

static int count_header_bytes(struct http_parser *p, size_t len) {
    p->header_bytes += len;
    if (p->header_bytes > p->limits->max_header_bytes)
        return stop(p, 431, "Request headers too large");
    return 0;
}

static int on_header_field(llhttp_t *l, const char *at, size_t len) {
    struct http_parser *p = parser_of(l);
    if (count_header_bytes(p, len) < 0)
        return -1;
    buf_append(&p->field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *l, const char *at, size_t len) {
    struct http_parser *p = parser_of(l);
    if (count_header_bytes(p, len) < 0)
        return -1;
    buf_append(&p->value, at, len);
    return 0;
}

/* Transfer-Encoding: onair decodes only "chunked", and only as the single
 * coding: anything else (gzip, "gzip, chunked", an unknown token) is 501. */
static int check_transfer_encoding(struct http_parser *p, const char *v, size_t n) {
    while (n && (v[0] == ' ' || v[0] == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (p->te_seen || n != 7 || strncasecmp(v, "chunked", 7) != 0)
        return stop(p, 501, "Only the chunked transfer coding is supported");
    p->te_seen = true;
    return 0;
}

/* A field name is a non-empty RFC 9110 token. */
static bool is_token(const char *s, size_t n) {
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr(tchar, c))))
            return false;
    }
    return true;
}

static int on_header_value_complete(llhttp_t *l) {
    struct http_parser *p = parser_of(l);
    http_request *req = p->req;
    if (!is_token(p->field.data, p->field.len))
        return stop(p, 400, "Malformed header name");
    if (req->nheaders >= p->limits->max_headers)
        return stop(p, 431, "Too many request headers");
    if ((req->nheaders & (req->nheaders - 1)) == 0 && req->nheaders >= 8) {
        /* Grow at powers of two. */
        struct http_header *h = arena_alloc(&req->arena, 2 * req->nheaders * sizeof *h);
        memcpy(h, req->headers, req->nheaders * sizeof *h);
        req->headers = h;
    } else if (req->nheaders == 0) {
        req->headers = arena_alloc(&req->arena, 8 * sizeof *req->headers);
    }
    /* Optional whitespace after a field value is not part of it (RFC 9112 §5);
     * llhttp already skipped the leading one. */
    while (p->value.len &&
           (p->value.data[p->value.len - 1] == ' ' || p->value.data[p->value.len - 1] == '\t'))
        p->value.len--;
    struct http_header *h = &req->headers[req->nheaders++];
    h->name = arena_strndup(&req->arena, p->field.data ? p->field.data : "", p->field.len);
    h->name_len = (uint32_t)p->field.len;
    h->value = arena_strndup(&req->arena, p->value.data ? p->value.data : "", p->value.len);
    h->value_len = (uint32_t)p->value.len;
    buf_clear(&p->field);
    buf_clear(&p->value);
    if (h->name_len == 17 && strncasecmp(h->name, "transfer-encoding", 17) == 0)
        return check_transfer_encoding(p, h->value, h->value_len);
    return 0;
}

static int on_headers_complete(llhttp_t *l) {
    struct http_parser *p = parser_of(l);
    http_request *req = p->req;
    if (l->http_major != 1 || l->http_minor > 1)
        return stop(p, 505, "HTTP version not supported");
    req->method = l->method;
    req->http_minor = l->http_minor;
    /* HEAD is GET without the body (RFC 9110 §9.3.2): same route, same head. */
    req->head = l->method == HTTP_HEAD;
    router_match(req->head ? HTTP_GET : req->method, req->path, req->path_len, &req->match);
    const struct route *r = req->match.route;
    p->body_limit = r && r->body_limit ? r->body_limit : p->limits->max_body_bytes;
    if ((l->flags & F_CONTENT_LENGTH) && l->content_length > p->body_limit)
        return stop(p, 413, "Request body too large");
    buf_init(&req->body, &req->arena);
    size_t n;
    const char *expect = http_header(req, "expect", &n);
    req->expect_continue =
        expect && l->http_minor == 1 && n == 12 && strncasecmp(expect, "100-continue", 12) == 0;
    p->headers_done = true;
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t len) {
    struct http_parser *p = parser_of(l);
    http_request *req = p->req;
    if (req->body.len + len > p->body_limit)
        return stop(p, 413, "Request body too large");
    if (req->body.cap == 0 && (l->flags & F_CONTENT_LENGTH))
        buf_reserve(&req->body, (size_t)l->content_length + 1);
    buf_append(&req->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *l) {
    struct http_parser *p = parser_of(l);
    p->req->keep_alive = llhttp_should_keep_alive(l);
    /* Keep a NUL after the body so handlers may treat it as a C string. */
    *buf_reserve(&p->req->body, 1) = '\0';
    return HPE_PAUSED;
}

static llhttp_settings_t settings;

void http_parser_init(struct http_parser *p, const struct http_limits *limits, void *owner) {
    if (!settings.on_message_begin) {
        llhttp_settings_init(&settings);
        settings.on_message_begin = on_message_begin;
        settings.on_url = on_url;
        settings.on_url_complete = on_url_complete;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_header_value_complete = on_header_value_complete;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
    }
    memset(p, 0, sizeof *p);
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
    p->llhttp.data = owner;
    p->limits = limits;
}

int http_parse_error(const struct http_parser *p, llhttp_errno_t err, const char **message) {
    if (p->error_status) {
        *message = p->error_message;
        return p->error_status;
    }
    switch (err) {
    case HPE_INVALID_VERSION: {
        /* llhttp says "Invalid HTTP version" for a well-formed HTTP/d.d it
         * does not speak (1.2, 2.0: 505); anything else is a broken request
         * line (400). */
        const char *reason = llhttp_get_error_reason(&p->llhttp);
        if (reason && strcmp(reason, "Invalid HTTP version") == 0) {
            *message = "HTTP version not supported";
            return 505;
        }
        *message = "Malformed HTTP version";
        return 400;
    }
    case HPE_INVALID_TRANSFER_ENCODING:
        *message = "Only the chunked transfer coding is supported";
        return 501;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        *message = "Content-Length together with Transfer-Encoding";
        return 400;
    default:
        *message = llhttp_errno_name(err);
        return 400;
    }
}

static bool name_eq(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b);
    return alen == blen && strncasecmp(a, b, blen) == 0;
}

/* The first or the last line of header `name`, or NULL. */
static const char *find_header(const http_request *req, const char *name, size_t *len, bool last) {
    const struct http_header *found = NULL;
    for (uint32_t i = 0; i < req->nheaders; i++)
        if (name_eq(req->headers[i].name, req->headers[i].name_len, name)) {
            found = &req->headers[i];
            if (!last)
                break;
        }
    if (found && len)
        *len = found->value_len;
    return found ? found->value : NULL;
}

const char *http_header(const http_request *req, const char *name, size_t *len) {
    return find_header(req, name, len, false);
}

const char *http_header_last(const http_request *req, const char *name, size_t *len) {
    return find_header(req, name, len, true);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into the arena; '+' is a space when `plus`.
 * Returns NULL on a malformed escape or a decoded NUL. */
static char *pct_decode(arena *a, const char *s, size_t n, bool plus, size_t *outlen) {
    char *out = arena_alloc(a, n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return NULL;
            char c = (char)(hi << 4 | lo);
            if (c == '\0')
                return NULL;
            *o++ = c;
            i += 2;
        } else {
            *o++ = (plus && s[i] == '+') ? ' ' : s[i];
        }
    }
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}

int http_query(http_request *req, const char *name, const char **val, size_t *len) {
    size_t nlen = strlen(name), dummy;
    const char *q = req->query, *end = req->query ? req->query + req->query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop_at = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop_at - q));
        const char *kend = eq ? eq : stop_at;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : stop_at;
            char *d = pct_decode(&req->arena, v, (size_t)(stop_at - v), true, len ? len : &dummy);
            if (!d)
                return -1;
            *val = d;
            return 0;
        }
        q = amp ? amp + 1 : NULL;
    }
    return -1;
}

const char *http_param(http_request *req, int i, size_t *len) {
    size_t dummy;
    if (i < 0 || i >= req->match.nparams)
        return NULL;
    return pct_decode(&req->arena, req->match.param[i], req->match.param_len[i], false,
                      len ? len : &dummy);
}

const char *http_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

const char *http_status_code(int status) {
    switch (status) {
    case 400:
        return "bad-request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not-found";
    case 405:
        return "method-not-allowed";
    case 408:
        return "request-timeout";
    case 409:
        return "conflict";
    case 413:
        return "too-large";
    case 414:
        return "uri-too-long";
    case 422:
        return "invalid";
    case 423:
        return "rating-required";
    case 429:
        return "rate-limited";
    case 431:
        return "headers-too-large";
    case 501:
        return "not-implemented";
    case 503:
        return "unavailable";
    case 505:
        return "version-not-supported";
    default:
        return "internal";
    }
}

/* "Date: Mon, 23 Nov 2026 09:52:14 GMT\r\n", formatted once a second. */
static const char *date_line(void) {
    static char line[48];
    static time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        last = now;
    }
    return line;
}

void http_write_head(buf *out, int status, bool keep_alive, int http_minor,
                     const char *content_type, size_t content_length, const char *extra) {
    buf_appends(out, http_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    buf_append_u64(out, (unsigned)status);
    buf_appendc(out, ' ');
    buf_appends(out, http_reason(status));
    buf_append(out, "\r\n", 2);
    buf_appends(out, date_line());
    buf_appends(out, "Content-Type: ");
    buf_appends(out, content_type);
    buf_append(out, "\r\n", 2);
    if (content_length != HTTP_NO_LENGTH && status != 204) {
        buf_appends(out, "Content-Length: ");
        buf_append_u64(out, content_length);
        buf_append(out, "\r\n", 2);
    }
    if (!keep_alive)
        buf_appends(out, "Connection: close\r\n");
    else if (http_minor == 0)
        buf_appends(out, "Connection: keep-alive\r\n");
    if (extra)
        buf_appends(out, extra);
    buf_append(out, "\r\n", 2);
}

void http_error_body(buf *b, const char *code, const char *message) {
    json_writer w;
    json_w_init(&w, b);
    json_w_obj_open(&w);
    json_w_key(&w, "status");
    json_w_cstr(&w, code);
    json_w_key(&w, "message");
    json_w_cstr(&w, message);
    json_w_obj_close(&w);
}
