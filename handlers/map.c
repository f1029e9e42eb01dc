/* The operators' map (handlers/map.h).
 *
 * gig_map.lua answers with every available operator nearer a point than
 * some reach, with the fields a map entry shows; this file ranks them by
 * distance to the caller's point and writes the answer.
 *
 * The cache: a map is read far more often than operators move, and many
 * callers stand close together, so GET /map searches once per grid cell of
 * ONAIR_MAP_CELL_M metres (around its centre, wide enough for every point
 * of the cell) and keeps the search ONAIR_MAP_CACHE_MS.  Each request still
 * gets its own exact ranking and distances; what may be that old is who is
 * available.  The search reaches `reach` (the cell's half-diagonal) farther
 * than a point needs, so for a point of the cell the operators nearer than
 * (search reach - cell reach) are exactly the store's; when fewer than 50 are,
 * and the radius was not covered, that point is searched on its own.
 * Concurrent misses of a cell wait for one search.  Entries are swept when
 * stale and bounded in bytes; over the bound, answers are not kept. */
#include "handlers/map.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/geo.h"
#include "core/log.h"
#include "core/server.h"
#include "core/strmap.h"
#include "handlers/auth.h"
#include "handlers/handlers.h"
#include "protocol/json.h"
#include "storage/keys.h"
#include "storage/redis.h"

#define MAP_ROW 10  /* fields per operator in gig_map.lua's answer */
#define SLACK_M 0.5 /* metres of rounding between Redis's figures and ours */

/* ---- a search's answer ---- */

struct map_row {
    const char *id;
    const char *json; /* the entry up to its distance: {"account":…,"distance": */
    uint32_t idlen, jlen;
};

/* One allocation: this header, the points, the rows, then their bytes. */
struct map_set {
    double reach; /* every available operator nearer than this is here */
    size_t n, bytes;
    struct geo_point *pts;
    struct map_row *rows;
};

static const char *field(const redisReply *r, size_t *len) {
    if (r->type != REDIS_REPLY_STRING)
        return NULL;
    *len = r->len;
    return r->str;
}

static double number_of(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING ? strtod(r->str, NULL) : 0;
}

static void write_entry(buf *b, redisReply **f) {
    json_writer w;
    json_w_init(&w, b);
    json_w_obj_open(&w);
    json_w_key(&w, "account");
    json_w_obj_open(&w);
    json_w_key(&w, "id");
    json_w_str(&w, f[0]->str, f[0]->len);
    json_w_key(&w, "firstName");
    json_w_str(&w, f[6]->type == REDIS_REPLY_STRING ? f[6]->str : "",
               f[6]->type == REDIS_REPLY_STRING ? f[6]->len : 0);
    json_w_key(&w, "lastName");
    json_w_str(&w, f[7]->type == REDIS_REPLY_STRING ? f[7]->str : "",
               f[7]->type == REDIS_REPLY_STRING ? f[7]->len : 0);
    double sum = number_of(f[8]), count = number_of(f[9]);
    json_w_key(&w, "rating");
    if (count > 0)
        json_w_double(&w, round(sum * 10 / count) / 10);
    else
        json_w_null(&w);
    json_w_obj_close(&w);
    json_w_key(&w, "location");
    json_w_obj_open(&w);
    json_w_key(&w, "latitude");
    json_w_double(&w, number_of(f[4]));
    json_w_key(&w, "longitude");
    json_w_double(&w, number_of(f[5]));
    json_w_obj_close(&w);
    json_w_key(&w, "distance"); /* the value is the caller's */
}

/* The reply of gig_map.lua as a set (malloc), or NULL when malformed. */
static struct map_set *set_from_reply(const redisReply *reply) {
    size_t len;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        (reply->elements - 1) % MAP_ROW || !field(reply->element[0], &len))
        return NULL;
    size_t n = (reply->elements - 1) / MAP_ROW;
    for (size_t i = 1; i < reply->elements; i += MAP_ROW)
        for (size_t j = 0; j < 4; j++)
            if (!field(reply->element[i + j], &len))
                return NULL;
    buf text;
    buf_init(&text, NULL);
    size_t *offs = malloc((2 * n + 1) * sizeof *offs);
    for (size_t i = 0; i < n; i++) {
        redisReply **f = reply->element + 1 + i * MAP_ROW;
        offs[2 * i] = text.len;
        buf_append(&text, f[0]->str, f[0]->len);
        offs[2 * i + 1] = text.len;
        write_entry(&text, f);
    }
    offs[2 * n] = text.len;
    size_t head = sizeof(struct map_set) + n * (sizeof(struct geo_point) + sizeof(struct map_row));
    struct map_set *s = malloc(head + text.len + 1);
    s->reach = strtod(reply->element[0]->str, NULL);
    s->n = n;
    s->bytes = head + text.len + 1;
    s->pts = (struct geo_point *)(s + 1);
    s->rows = (struct map_row *)(s->pts + n);
    char *bytes = (char *)(s->rows + n);
    memcpy(bytes, text.data ? text.data : "", text.len);
    for (size_t i = 0; i < n; i++) {
        redisReply **f = reply->element + 1 + i * MAP_ROW;
        geo_point_set(&s->pts[i], strtod(f[3]->str, NULL), strtod(f[2]->str, NULL),
                      strtod(f[1]->str, NULL));
        s->rows[i].id = bytes + offs[2 * i];
        s->rows[i].idlen = (uint32_t)(offs[2 * i + 1] - offs[2 * i]);
        s->rows[i].json = bytes + offs[2 * i + 1];
        s->rows[i].jlen = (uint32_t)(offs[2 * i + 2] - offs[2 * i + 1]);
    }
    free(offs);
    buf_free(&text);
    return s;
}

/* Ranks the set for (lat, lon), which is at most `offset` metres from the
 * set's centre.  Returns how many hits, or -1 when the set cannot tell the
 * nearest 50 for this point. */
static int rank(const struct map_set *s, double lat, double lon, double offset,
                struct geo_hit *hits) {
    double radius = (double)srv.cfg.geo_radius_m;
    bool whole = s->reach + SLACK_M >= radius + offset;
    double within = whole ? radius : fmin(radius, s->reach - offset - SLACK_M);
    size_t n = geo_nearest(s->pts, s->n, lat, lon, offset, within, MAP_MAX, hits);
    return n == MAP_MAX || whole ? (int)n : -1;
}

static void respond(http_request *req, const struct map_set *s, const struct geo_hit *hits,
                    size_t n) {
    size_t size = 2;
    for (size_t i = 0; i < n; i++)
        size += s->rows[hits[i].index].jlen + 24;
    buf b;
    buf_init(&b, &req->arena);
    buf_reserve(&b, size); /* one allocation for the whole answer */
    buf_append(&b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        const struct map_row *r = &s->rows[hits[i].index];
        if (i)
            buf_append(&b, ",", 1);
        buf_append(&b, r->json, r->jlen);
        /* Centimetres are plenty; fixed-point is cheaper than round-trip
         * formatting. */
        char num[32];
        long long cm = llround(hits[i].distance * 100);
        int len = snprintf(num, sizeof num, "%lld.%02lld}", cm / 100, cm % 100);
        buf_append(&b, num, (size_t)len);
    }
    buf_append(&b, "]", 1);
    resp_json(req, 200, &b);
}

/* ---- searching the store ---- */

/* Runs gig_map.lua around (lat, lon): an answer reaching `limit` metres
 * that holds 50 operators nearer than limit - margin, if there are. */
static int search(double lat, double lon, double limit, double margin, rds_cb cb, void *ud) {
    char geo[KEY_MAX], slat[32], slon[32], slimit[32], now[24], age[24], max[8], smargin[32];
    key_named(geo, "geo:operator");
    /* The point exactly: the search's order is from here, and an answer
     * ranked from a point a few mm off (once "%.7f") could stop before an
     * operator nearer than its 50th by less than that. */
    snprintf(slat, sizeof slat, "%.17g", lat);
    snprintf(slon, sizeof slon, "%.17g", lon);
    snprintf(slimit, sizeof slimit, "%.2f", limit);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms());
    snprintf(age, sizeof age, "%llu", (unsigned long long)srv.cfg.gig_location_max_age_s * 1000);
    snprintf(max, sizeof max, "%d", MAP_MAX);
    snprintf(smargin, sizeof smargin, "%.2f", margin);
    const char *argv[10] = {geo, keys_prefix(), slon, slat,     slimit,
                            now, age,           max,  MAP_SCAN, smargin};
    return rds_eval(srv.redis, SCRIPT_gig_map, cb, ud, 1, 10, argv, NULL);
}

/* A search for one point: GET /map beside the cache. */
struct point_search {
    http_request *req;
    double lat, lon;
};

static void on_point(redisReply *reply, int err, void *ud) {
    struct point_search *p = ud;
    struct map_set *s = err ? NULL : set_from_reply(reply);
    if (!s) {
        resp_unavailable(p->req);
        return;
    }
    /* Around its own centre, a set is exact as far as it reaches. */
    struct geo_hit hits[MAP_MAX];
    double within = fmin((double)srv.cfg.geo_radius_m, s->reach + SLACK_M);
    size_t n = geo_nearest(s->pts, s->n, p->lat, p->lon, 0, within, MAP_MAX, hits);
    respond(p->req, s, hits, n);
    free(s);
}

static void answer_point(http_request *req, double lat, double lon) {
    struct point_search *p = arena_alloc(&req->arena, sizeof *p);
    *p = (struct point_search){.req = req, .lat = lat, .lon = lon};
    if (search(lat, lon, (double)srv.cfg.geo_radius_m, 0, on_point, p) < 0)
        resp_unavailable(req);
}

/* ---- the cache of cells ---- */

struct waiter {
    http_request *req;
    double lat, lon;
    struct waiter *next;
};

struct cell {
    struct cell *prev, *next; /* every cell */
    struct geo_cell g;
    struct map_set *set;  /* the newest answer, or NULL */
    uint64_t fresh_until; /* loop time, ms */
    uint64_t asked;       /* loop time of the latest request */
    bool loading;
    struct waiter *waiters, **tail;
    size_t keylen;
    char key[48];
};

static struct {
    strmap cells;
    struct cell *all;
    size_t bytes, ncells;
    uv_timer_t sweep;
    bool sweeping;
    uint64_t hits, misses, searches, fallbacks, unkept;
} mc;

static void drop(struct cell *c) {
    strmap_del(&mc.cells, c->key, c->keylen);
    if (c->prev)
        c->prev->next = c->next;
    else
        mc.all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->set)
        mc.bytes -= c->set->bytes;
    mc.ncells--;
    free(c->set);
    free(c);
}

/* Answers from a cell's set, or searches the point on its own. */
static void answer_from(http_request *req, const struct cell *c, double lat, double lon) {
    struct geo_hit hits[MAP_MAX];
    int n = rank(c->set, lat, lon, c->g.reach, hits);
    if (n < 0) {
        mc.fallbacks++;
        answer_point(req, lat, lon);
        return;
    }
    respond(req, c->set, hits, (size_t)n);
}

static void on_cell(redisReply *reply, int err, void *ud) {
    struct cell *c = ud;
    c->loading = false;
    struct waiter *w = c->waiters;
    c->waiters = NULL;
    c->tail = &c->waiters;
    struct map_set *s = err ? NULL : set_from_reply(reply);
    if (!s) {
        for (; w; w = w->next)
            resp_unavailable(w->req);
        drop(c);
        return;
    }
    if (c->set)
        mc.bytes -= c->set->bytes;
    free(c->set);
    c->set = s;
    mc.bytes += s->bytes;
    c->fresh_until = uv_now(srv.loop) + srv.cfg.map_cache_ms;
    for (; w; w = w->next)
        answer_from(w->req, c, w->lat, w->lon);
    if (mc.bytes > srv.cfg.map_cache_bytes) {
        mc.unkept++;
        drop(c);
    }
}

static void load(struct cell *c) {
    double radius = (double)srv.cfg.geo_radius_m;
    c->loading = true;
    mc.searches++;
    if (search(c->g.lat, c->g.lon, radius + c->g.reach, 2 * c->g.reach, on_cell, c) < 0) {
        c->loading = false;
        for (struct waiter *w = c->waiters; w; w = w->next)
            resp_unavailable(w->req);
        drop(c);
    }
}

static struct cell *cell_new(const char *key, size_t klen, const struct geo_cell *g) {
    struct cell *c = calloc(1, sizeof *c);
    c->g = *g;
    c->tail = &c->waiters;
    memcpy(c->key, key, klen);
    c->keylen = klen;
    strmap_put(&mc.cells, c->key, klen, c);
    c->next = mc.all;
    if (mc.all)
        mc.all->prev = c;
    mc.all = c;
    mc.ncells++;
    return c;
}

static void answer_cached(http_request *req, double lat, double lon, const struct geo_cell *g) {
    char key[48];
    size_t klen =
        (size_t)snprintf(key, sizeof key, "%lld,%lld", (long long)g->row, (long long)g->col);
    struct cell *c = strmap_get(&mc.cells, key, klen);
    uint64_t now = uv_now(srv.loop);
    if (c && c->set && now < c->fresh_until) {
        mc.hits++;
        c->asked = now;
        answer_from(req, c, lat, lon);
        return;
    }
    mc.misses++;
    /* A cell's search costs the store several times a point's: it is made
     * for cells asked for again within the cache time, not for every point
     * of a city whose callers are spread thin. */
    bool warm = c && (c->loading || now - c->asked < srv.cfg.map_cache_ms);
    if (!warm) {
        if (!c)
            c = cell_new(key, klen, g);
        c->asked = now;
        answer_point(req, lat, lon);
        return;
    }
    c->asked = now;
    struct waiter *w = arena_alloc(&req->arena, sizeof *w);
    *w = (struct waiter){.req = req, .lat = lat, .lon = lon};
    *c->tail = w;
    c->tail = &w->next;
    if (!c->loading)
        load(c);
}

/* Drops the cells that are stale and not asked for lately. */
static void on_sweep(uv_timer_t *t) {
    (void)t;
    uint64_t now = uv_now(srv.loop);
    for (struct cell *c = mc.all, *next; c; c = next) {
        next = c->next;
        if (!c->loading && now >= c->fresh_until && now - c->asked >= srv.cfg.map_cache_ms)
            drop(c);
    }
}

/* ---- the route ---- */

/* Parses a whole route parameter as a number. */
static int param_number(http_request *req, int i, double *out) {
    size_t n;
    const char *s = http_param(req, i, &n);
    char *end;
    if (!s || !n)
        return -1;
    *out = strtod(s, &end);
    return end == s + n && isfinite(*out) ? 0 : -1;
}

void map_get(http_request *req) {
    double lat, lon;
    if (param_number(req, 0, &lat) < 0) {
        handler_invalid(req, 422, "invalid", "lat", "must be a number");
        return;
    }
    if (param_number(req, 1, &lon) < 0) {
        handler_invalid(req, 422, "invalid", "long", "must be a number");
        return;
    }
    if (check_location(req, lat, lon, "lat", "long") < 0)
        return;
    struct geo_cell g;
    if (srv.cfg.map_cache_ms && geo_cell_of(lat, lon, (double)srv.cfg.map_cell_m, &g) == 0)
        answer_cached(req, lat, lon, &g);
    else
        answer_point(req, lat, lon);
}

/* ---- module ---- */

void map_init(void) {
    strmap_init(&mc.cells);
    if (!srv.cfg.map_cache_ms)
        return;
    uv_timer_init(srv.loop, &mc.sweep);
    uint64_t every = srv.cfg.map_cache_ms < 1000 ? 1000 : srv.cfg.map_cache_ms;
    uv_timer_start(&mc.sweep, on_sweep, every, every);
    uv_unref((uv_handle_t *)&mc.sweep);
    mc.sweeping = true;
}

void map_close(void) {
    if (mc.sweeping) {
        uv_timer_stop(&mc.sweep);
        uv_close((uv_handle_t *)&mc.sweep, NULL);
        mc.sweeping = false;
    }
}

void map_free(void) {
    while (mc.all)
        drop(mc.all);
    strmap_free(&mc.cells);
}

void map_metrics(buf *out) {
    buf_printf(out,
               "# HELP onair_map_cache_hits_total GET /map answered from a cached cell.\n"
               "# TYPE onair_map_cache_hits_total counter\n"
               "onair_map_cache_hits_total %llu\n"
               "# HELP onair_map_cache_misses_total GET /map not answered from a cached cell "
               "(searched alone, or waiting for the cell's search).\n"
               "# TYPE onair_map_cache_misses_total counter\n"
               "onair_map_cache_misses_total %llu\n"
               "# HELP onair_map_cache_searches_total Searches of cells (concurrent misses of a "
               "cell share one).\n"
               "# TYPE onair_map_cache_searches_total counter\n"
               "onair_map_cache_searches_total %llu\n"
               "# HELP onair_map_cache_fallbacks_total GET /map its cell could not answer "
               "(searched on its own).\n"
               "# TYPE onair_map_cache_fallbacks_total counter\n"
               "onair_map_cache_fallbacks_total %llu\n"
               "# HELP onair_map_cache_unkept_total Cell searches not kept: the cache was "
               "over ONAIR_MAP_CACHE_BYTES.\n"
               "# TYPE onair_map_cache_unkept_total counter\n"
               "onair_map_cache_unkept_total %llu\n"
               "# HELP onair_map_cache_cells Cells cached.\n"
               "# TYPE onair_map_cache_cells gauge\n"
               "onair_map_cache_cells %llu\n"
               "# HELP onair_map_cache_bytes Bytes of cached searches.\n"
               "# TYPE onair_map_cache_bytes gauge\n"
               "onair_map_cache_bytes %llu\n",
               (unsigned long long)mc.hits, (unsigned long long)mc.misses,
               (unsigned long long)mc.searches, (unsigned long long)mc.fallbacks,
               (unsigned long long)mc.unkept, (unsigned long long)mc.ncells,
               (unsigned long long)mc.bytes);
}
