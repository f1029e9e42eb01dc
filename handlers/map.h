/* The operators' map (API.md §4.1, docs/gigs.md): the available operators
 * nearest a point, straight from the store for a gig's offers, and through a
 * short-lived cache of searches per grid cell for GET /map. */
#ifndef ONAIR_MAP_H
#define ONAIR_MAP_H

#include <stddef.h>

#include "core/buf.h"
#include "protocol/http1.h"

#define MAP_MAX 50 /* operators in an answer, at most */

/* `ids`: the operators nearest first (arena memory of req), or NULL with
 * n == 0 when the store failed. */
typedef void (*map_found_cb)(http_request *req, const char **ids, size_t n, void *ud);

/* Searches the store around (lat, lon) now.  -1 when the store is not
 * reachable (the callback will not run). */
int map_nearest(http_request *req, double lat, double lon, map_found_cb cb, void *ud);

void map_init(void);
void map_close(void); /* stops the cache's sweeps */
void map_free(void);  /* after the loop: drops the cache */
void map_metrics(buf *out);

#endif
