/* The operators' map (API.md §4.1, docs/gigs.md): the available operators
 * nearest a point, through a short-lived cache of searches per grid cell.  A
 * gig's offers search the store itself (gig_create.lua, with the map's own
 * storage/scripts/lib/nearest.lua). */
#ifndef ONAIR_MAP_H
#define ONAIR_MAP_H

#include <stddef.h>

#include "core/buf.h"
#include "protocol/http1.h"

#define MAP_MAX 50     /* operators in an answer (and offered a gig), at most */
#define MAP_SCAN "500" /* nearest operators a search looks at, at most */

void map_init(void);
void map_close(void); /* stops the cache's sweeps */
void map_free(void);  /* after the loop: drops the cache */
void map_metrics(buf *out);

#endif
