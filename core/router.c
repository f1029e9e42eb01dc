#include "core/router.h"

#include <llhttp.h>
#include <string.h>

#include "core/log.h"
#include "protocol/http1.h"

struct seg {
    const char *s;
    uint16_t len;
    bool param;
};

struct compiled {
    const struct route *route;
    uint8_t nseg;
    struct seg seg[ROUTE_MAX_SEGMENTS];
    bool v1; /* the /v1 alias of route */
};

#define MAX_ROUTES 256
static struct compiled table[MAX_ROUTES];
static size_t ntable;
static const struct route *routes_src;
static size_t nroutes_src;

/* Splits "/a/:b/c" into segments; an empty path ("/") has none. */
static int split(const char *p, size_t len, struct seg *out, int max) {
    int n = 0;
    size_t i = 0;
    if (len && p[len - 1] == '/' && len > 1)
        len--; /* one trailing slash is ignored */
    if (len == 0 || p[0] != '/')
        return -1;
    i = 1;
    while (i < len) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        if (n == max || j - i > UINT16_MAX)
            return -1;
        out[n].s = p + i;
        out[n].len = (uint16_t)(j - i);
        out[n].param = false;
        n++;
        i = j + 1;
        if (j < len && j + 1 == len) /* "a//" style: an empty last segment */
            return -1;
    }
    return n;
}

static int compile(const struct route *r, bool v1) {
    if (ntable == MAX_ROUTES) {
        log_error("router", "more than %d routes", MAX_ROUTES);
        return -1;
    }
    struct compiled *c = &table[ntable];
    int n = split(r->pattern, strlen(r->pattern), c->seg + (v1 ? 1 : 0),
                  ROUTE_MAX_SEGMENTS - (v1 ? 1 : 0));
    if (n < 0) {
        log_error("router", "bad route pattern %s", r->pattern);
        return -1;
    }
    int params = 0;
    for (int i = 0; i < n; i++) {
        struct seg *s = &c->seg[i + (v1 ? 1 : 0)];
        if (s->len && s->s[0] == ':') {
            s->param = true;
            params++;
        }
    }
    if (params > ROUTE_MAX_PARAMS) {
        log_error("router", "too many params in %s", r->pattern);
        return -1;
    }
    if (v1) {
        c->seg[0] = (struct seg){"v1", 2, false};
        n++;
    }
    c->route = r;
    c->nseg = (uint8_t)n;
    c->v1 = v1;
    ntable++;
    return 0;
}

int router_init(const struct route *routes, size_t n, bool test_hooks) {
    ntable = 0;
    routes_src = routes;
    nroutes_src = n;
    for (size_t i = 0; i < n; i++) {
        if ((routes[i].flags & ROUTE_TEST_HOOK) && !test_hooks)
            continue;
        if (compile(&routes[i], false) < 0)
            return -1;
        if ((routes[i].flags & ROUTE_V1_ALIAS) && compile(&routes[i], true) < 0)
            return -1;
    }
    return 0;
}

static bool seg_match(const struct compiled *c, const struct seg *req, int nreq,
                      struct route_match *m) {
    if (c->nseg != nreq)
        return false;
    for (int i = 0; i < nreq; i++) {
        const struct seg *s = &c->seg[i];
        if (s->param) {
            if (req[i].len == 0)
                return false;
        } else if (s->len != req[i].len || memcmp(s->s, req[i].s, s->len) != 0) {
            return false;
        }
    }
    if (m) {
        m->nparams = 0;
        for (int i = 0; i < nreq; i++)
            if (c->seg[i].param) {
                m->param[m->nparams] = req[i].s;
                m->param_len[m->nparams] = req[i].len;
                m->nparams++;
            }
    }
    return true;
}

void router_match(uint8_t method, const char *path, size_t len, struct route_match *m) {
    struct seg req[ROUTE_MAX_SEGMENTS];
    m->route = NULL;
    m->index = -1;
    m->allow = 0;
    m->path_flags = 0;
    m->nparams = 0;
    int n = split(path, len, req, ROUTE_MAX_SEGMENTS);
    if (n < 0)
        return;
    for (size_t i = 0; i < ntable; i++) {
        const struct compiled *c = &table[i];
        if (c->route->method == method) {
            if (seg_match(c, req, n, m)) {
                m->route = c->route;
                m->index = (int)(c->route - routes_src);
                m->allow = 0;
                m->path_flags = c->route->flags;
                return;
            }
        } else if (!(m->allow & (1u << c->route->method)) && seg_match(c, req, n, NULL)) {
            m->allow |= 1u << c->route->method;
            m->path_flags |= c->route->flags;
        }
    }
}

size_t router_allow_header(uint32_t allow, char *out, size_t outlen) {
    size_t n = 0;
    if (allow & (1u << HTTP_GET))
        allow |= 1u << HTTP_HEAD; /* served wherever GET is */
    if (allow)
        allow |= 1u << HTTP_OPTIONS; /* answered wherever a route is (core/cors.h) */
    out[0] = '\0';
    for (unsigned bit = 0; bit < 32; bit++) {
        if (!(allow & (1u << bit)))
            continue;
        const char *name = llhttp_method_name((llhttp_method_t)bit);
        size_t len = strlen(name);
        if (n + len + 3 > outlen)
            break;
        if (n) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        memcpy(out + n, name, len);
        n += len;
        out[n] = '\0';
    }
    return n;
}

static route_fn runner;

void router_set_runner(route_fn fn) {
    runner = fn;
}

const struct route *router_at(size_t i) {
    return &routes_src[i];
}

void router_run(struct http_request *req) {
    if (runner)
        runner(req);
    else
        req->match.route->fn(req);
}
