/* Prometheus metrics: requests by route and status, a latency histogram, open
 * connections and the store's state.  Recording is a few array increments on
 * the request path; formatting happens only when /metrics is read. */
#ifndef ONAIR_METRICS_H
#define ONAIR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

void metrics_init(size_t nroutes);

/* route_index is the route's index in the table, or -1 for unmatched requests. */
void metrics_request(int route_index, int status, uint64_t duration_ns);

/* Prometheus text exposition format, version 0.0.4. */
void metrics_render(buf *out);

#endif
