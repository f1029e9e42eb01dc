#include "core/metrics.h"

#include <string.h>

#include "core/arena.h"
#include "core/router.h"
#include "core/server.h"

/* Status codes get a slot each; anything unlisted shares the last one. */
static const int status_slots[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413,
                                   414, 422, 423, 429, 431, 500, 501, 503, 505, 0};
#define NSLOTS (sizeof status_slots / sizeof status_slots[0])

/* Upper bounds of the latency histogram, in seconds. */
static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
#define NBUCKETS (sizeof bucket_le / sizeof bucket_le[0])

static uint64_t (*counts)[NSLOTS]; /* [nroutes + 1][slot]; the last row: unmatched */
static size_t nrows;
static uint64_t buckets[NBUCKETS + 1];
static double duration_sum;
static uint64_t duration_count;

void metrics_init(size_t nroutes) {
    nrows = nroutes + 1;
    counts = xcalloc(nrows, sizeof *counts);
}

static size_t slot_of(int status) {
    size_t i = 0;
    while (status_slots[i] && status_slots[i] != status)
        i++;
    return i;
}

void metrics_request(int route_index, int status, uint64_t duration_ns) {
    size_t row = route_index < 0 ? nrows - 1 : (size_t)route_index;
    if (!counts || row >= nrows)
        return;
    counts[row][slot_of(status)]++;
    double s = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < NBUCKETS && s > bucket_le[b])
        b++;
    buckets[b]++;
    duration_sum += s;
    duration_count++;
}

void metrics_render(buf *out) {
    buf_appends(out, "# HELP onair_http_requests_total HTTP requests by route and status.\n"
                     "# TYPE onair_http_requests_total counter\n");
    for (size_t r = 0; r < nrows; r++) {
        const char *route = r + 1 == nrows ? "unmatched" : router_at(r)->pattern;
        const char *method = r + 1 == nrows ? "" : llhttp_method_name(router_at(r)->method);
        for (size_t s = 0; s < NSLOTS; s++) {
            if (!counts[r][s])
                continue;
            buf_printf(out, "onair_http_requests_total{method=\"%s\",route=\"%s\",status=\"",
                       method, route);
            if (status_slots[s])
                buf_append_u64(out, (unsigned)status_slots[s]);
            else
                buf_appends(out, "other");
            buf_appends(out, "\"} ");
            buf_append_u64(out, counts[r][s]);
            buf_appendc(out, '\n');
        }
    }
    buf_appends(out,
                "# HELP onair_http_request_duration_seconds Time from first byte to response.\n"
                "# TYPE onair_http_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        cum += buckets[b];
        buf_printf(out, "onair_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                   bucket_le[b], (unsigned long long)cum);
    }
    cum += buckets[NBUCKETS];
    buf_printf(out,
               "onair_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
               "onair_http_request_duration_seconds_sum %.6f\n"
               "onair_http_request_duration_seconds_count %llu\n",
               (unsigned long long)cum, duration_sum, (unsigned long long)duration_count);
    buf_printf(out,
               "# HELP onair_connections_open Open client connections.\n"
               "# TYPE onair_connections_open gauge\n"
               "onair_connections_open %llu\n"
               "# HELP onair_redis_up Whether the store is connected and ready.\n"
               "# TYPE onair_redis_up gauge\n"
               "onair_redis_up %d\n"
               "# HELP onair_redis_reconnects_total Reconnections to the store.\n"
               "# TYPE onair_redis_reconnects_total counter\n"
               "onair_redis_reconnects_total %llu\n"
               "# HELP onair_redis_held_total Commands that waited for the store connection's "
               "output buffer to drain.\n"
               "# TYPE onair_redis_held_total counter\n"
               "onair_redis_held_total %llu\n",
               (unsigned long long)srv.conns_open, srv.redis && rds_ready(srv.redis) ? 1 : 0,
               (unsigned long long)(srv.redis ? rds_reconnects(srv.redis) : 0),
               (unsigned long long)(srv.redis ? rds_held(srv.redis) : 0));
}
