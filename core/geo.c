/* Geometry for the operators' map (core/geo.h). */
#include "core/geo.h"

#include <math.h>
#include <string.h>

#define EARTH_RADIUS_M 6372797.560856 /* Redis's geohash_helper.c */
#define METRES_PER_DEGREE 111320.0
#define CELL_MAX_LAT 85.0

static double rad(double deg) {
    return deg * M_PI / 180.0;
}

/* The haversine of Redis's geohashGetDistance, in terms of a precomputed
 * cos(lat) for each point. */
static double distance_cos(double lat1, double lon1, double cos1, double lat2, double lon2,
                           double cos2) {
    double v = sin(rad(lon2 - lon1) / 2);
    if (v == 0.0)
        return EARTH_RADIUS_M * fabs(rad(lat2) - rad(lat1));
    double u = sin(rad(lat2 - lat1) / 2);
    double a = u * u + cos1 * cos2 * v * v;
    return 2.0 * EARTH_RADIUS_M * asin(sqrt(a));
}

double geo_distance(double lat1, double lon1, double lat2, double lon2) {
    return distance_cos(lat1, lon1, cos(rad(lat1)), lat2, lon2, cos(rad(lat2)));
}

int geo_cell_of(double lat, double lon, double size_m, struct geo_cell *out) {
    double deg = size_m / METRES_PER_DEGREE;
    if (!(deg > 0) || !isfinite(lat) || !isfinite(lon))
        return -1;
    double row = floor((lat + 90.0) / deg), col = floor((lon + 180.0) / deg);
    double south = row * deg - 90.0, west = col * deg - 180.0;
    if (south < -CELL_MAX_LAT || south + deg > CELL_MAX_LAT || west < -180.0 || west + deg >= 180.0)
        return -1;
    out->row = (int64_t)row;
    out->col = (int64_t)col;
    out->lat = south + deg / 2;
    out->lon = west + deg / 2;
    /* The farthest point is a corner (the cell is small); a metre more
     * covers rounding. */
    double south_corner = geo_distance(out->lat, out->lon, south, west);
    double north_corner = geo_distance(out->lat, out->lon, south + deg, west);
    out->reach = fmax(south_corner, north_corner) + 1.0;
    return 0;
}

void geo_point_set(struct geo_point *p, double lat, double lon, double from_centre) {
    p->lat = lat;
    p->lon = lon;
    p->coslat = cos(rad(lat));
    p->from_centre = from_centre;
}

size_t geo_nearest(const struct geo_point *set, size_t n, double lat, double lon, double offset,
                   double within, size_t want, struct geo_hit *out) {
    double coslat = cos(rad(lat));
    size_t found = 0;
    if (!want)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct geo_point *p = &set[i];
        /* The set is ordered by distance from its centre, and the point is
         * at most `offset` from it: the rest are all farther than this. */
        if (p->from_centre - offset > within ||
            (found == want && p->from_centre - offset > out[found - 1].distance))
            break;
        double d = distance_cos(lat, lon, coslat, p->lat, p->lon, p->coslat);
        if (d > within || (found == want && d >= out[found - 1].distance))
            continue;
        /* Insert in order: the set is nearly in order already, so this
         * mostly appends. */
        size_t at = found < want ? found : want - 1;
        while (at > 0 && out[at - 1].distance > d)
            at--;
        size_t move = (found < want ? found : want - 1) - at;
        memmove(&out[at + 1], &out[at], move * sizeof *out);
        out[at].index = (uint32_t)i;
        out[at].distance = d;
        if (found < want)
            found++;
    }
    return found;
}
