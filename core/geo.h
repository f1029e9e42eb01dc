/* Geometry for the operators' map: Redis GEO's distance, a grid of cells
 * for caching searches, and picking the nearest points of a set. */
#ifndef ONAIR_GEO_H
#define ONAIR_GEO_H

#include <stddef.h>
#include <stdint.h>

/* Metres between two points, by the formula and earth radius Redis GEO uses
 * (haversine, 6372797.560856 m), so figures agree with GEOSEARCH WITHDIST. */
double geo_distance(double lat1, double lon1, double lat2, double lon2);

/* A square cell of the latitude/longitude grid: `size_deg` degrees a side. */
struct geo_cell {
    int64_t row, col;
    double lat, lon; /* its centre */
    double reach;    /* metres from the centre to its farthest point, at least */
};

/* The cell of size `size_m` (metres of latitude) holding a point.  -1 when the
 * cell is not wholly within |latitude| <= 85 and |longitude| < 180, where a
 * search around its centre would not stand for its points. */
int geo_cell_of(double lat, double lon, double size_m, struct geo_cell *out);

/* A point of a set, with its distance from the set's centre; a set is ordered
 * by that distance. */
struct geo_point {
    double lat, lon;
    double coslat; /* cos(lat in radians) */
    double from_centre;
};

void geo_point_set(struct geo_point *p, double lat, double lon, double from_centre);

struct geo_hit {
    uint32_t index; /* into the set */
    double distance;
};

/* The `want` points of `set` nearest to (lat, lon) that are at most `within`
 * metres away, nearest first, into `out` (room for `want`).  `offset` bounds
 * how far (lat, lon) is from the set's centre, which lets the scan stop early.
 * Returns how many were found. */
size_t geo_nearest(const struct geo_point *set, size_t n, double lat, double lon, double offset,
                   double within, size_t want, struct geo_hit *out);

#endif
