/* Fuzzes the request path's parsing: arbitrary bytes, fed in two pieces split
 * where the input's first byte says, through the parser with its limits, then
 * every accessor a handler may call.  Invariants: no crash, no leak, a stopped
 * parser always maps to a 4xx/5xx status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/router.h"
#include "protocol/http1.h"

static void h(struct http_request *req) {
    (void)req;
}

static const struct route table[] = {
    {HTTP_GET, "/health", h, 0, 0, 0, 0},
    {HTTP_POST, "/echo", h, 0, 0, 0, 0},
    {HTTP_GET, "/items/:id/:sub", h, ROUTE_V1_ALIAS, 0, 0, 0},
};

static const struct http_limits limits = {
    .max_header_bytes = 2048, .max_headers = 20, .max_url_bytes = 512, .max_body_bytes = 4096};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        router_init(table, sizeof table / sizeof table[0], false);
        ready = 1;
    }
    if (size < 1)
        return 0;
    size_t split = data[0] % (size);
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    struct http_parser p;
    http_request req;
    http_parser_init(&p, &limits, NULL);
    size_t off = 0;
    while (off <= n) {
        memset(&req, 0, sizeof req);
        arena_init(&req.arena);
        req.match.index = -1;
        p.req = &req;
        llhttp_errno_t err = HPE_OK;
        size_t first = split > off ? split - off : n - off;
        if (first > n - off)
            first = n - off;
        err = llhttp_execute(&p.llhttp, in + off, first);
        size_t used = first;
        if (err == HPE_OK && off + first < n) {
            err = llhttp_execute(&p.llhttp, in + off + first, n - off - first);
            used = n - off;
        }
        if (err == HPE_PAUSED) {
            used = (size_t)(llhttp_get_error_pos(&p.llhttp) - (in + off));
            if (used == 0 || off + used > n)
                abort();
            const char *v;
            size_t len;
            http_query(&req, "id", &v, &len);
            http_header(&req, "content-type", &len);
            for (int i = 0; i < req.match.nparams; i++)
                http_param(&req, i, &len);
            if (req.body.len > limits.max_body_bytes)
                abort();
            llhttp_resume(&p.llhttp);
        } else if (err != HPE_OK) {
            const char *msg;
            int status = http_parse_error(&p, err, &msg);
            if (status < 400 || status > 599 || !msg)
                abort();
            arena_reset(&req.arena);
            break;
        }
        arena_reset(&req.arena);
        if (err != HPE_PAUSED)
            break;
        off += used;
        if (off >= n)
            break;
    }
    return 0;
}
