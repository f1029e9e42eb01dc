/* Unit tests for core/geo.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "core/geo.h"

/* Redis's own example: GEODIST Sicily Palermo Catania = 166274.1516 m (from
 * the geohash-rounded positions, hence the tolerance). */
static void test_distance_matches_redis(void **state) {
    (void)state;
    double d = geo_distance(38.115556, 13.361389, 37.502669, 15.087269);
    assert_true(fabs(d - 166274.1516) < 1.0);
    assert_true(geo_distance(10, 20, 10, 20) == 0);
    /* Same longitude: the latitude difference alone, along a meridian. */
    double meridian = geo_distance(0, 0, 1, 0);
    assert_true(fabs(meridian - 6372797.560856 * M_PI / 180) < 1e-6);
    /* Across the antimeridian it is short, not half the world. */
    assert_true(geo_distance(0, 179.999, 0, -179.999) < 300);
}

static double rnd(double lo, double hi) {
    return lo + (hi - lo) * ((double)rand() / RAND_MAX);
}

/* Every point of a cell is within its reach of the centre; the cell's key
 * is the same for every point of it. */
static void test_cells(void **state) {
    (void)state;
    srand(7);
    double sizes[] = {10, 200, 1000, 5000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int i = 0; i < 2000; i++) {
            double lat = rnd(-84, 84), lon = rnd(-179, 179);
            struct geo_cell c, again;
            assert_int_equal(geo_cell_of(lat, lon, sizes[s], &c), 0);
            assert_true(geo_distance(c.lat, c.lon, lat, lon) <= c.reach);
            assert_true(c.reach <= sizes[s] * 0.75 + 1.0); /* half the diagonal, at most */
            assert_int_equal(geo_cell_of(c.lat, c.lon, sizes[s], &again), 0);
            assert_true(again.row == c.row && again.col == c.col);
        }
    }
    struct geo_cell c;
    assert_int_equal(geo_cell_of(85.5, 0, 200, &c), -1);
    assert_int_equal(geo_cell_of(-89, 0, 200, &c), -1);
    assert_int_equal(geo_cell_of(0, 180, 200, &c), -1);
    assert_int_equal(geo_cell_of(0, NAN, 200, &c), -1);
    assert_int_equal(geo_cell_of(0, 0, 0, &c), -1);
}

struct ref {
    size_t index;
    double d;
};

static int by_d(const void *a, const void *b) {
    const struct ref *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d;
}

static int by_centre(const void *a, const void *b) {
    const struct geo_point *x = a, *y = b;
    return x->from_centre < y->from_centre ? -1 : x->from_centre > y->from_centre;
}

/* geo_nearest against sorting every point, for points around a centre
 * (ordered by distance from it) and callers up to `offset` away. */
static void test_nearest_matches_brute_force(void **state) {
    (void)state;
    srand(11);
    enum { N = 400, WANT = 50 };
    static struct geo_point set[N];
    static struct ref ref[N];
    struct geo_hit hits[WANT];
    for (int round = 0; round < 200; round++) {
        double clat = rnd(-60, 60), clon = rnd(-170, 170);
        size_t n = (size_t)(rand() % N);
        for (size_t i = 0; i < n; i++) {
            double lat = clat + rnd(-0.02, 0.02), lon = clon + rnd(-0.02, 0.02);
            geo_point_set(&set[i], lat, lon, geo_distance(clat, clon, lat, lon));
        }
        qsort(set, n, sizeof set[0], by_centre);
        double offset = rnd(0, 500);
        double brg = rnd(0, 2 * M_PI);
        double plat = clat + offset * 0.99 / 111320 * cos(brg) * 0.7;
        double plon = clon + offset * 0.99 / 111320 * sin(brg) * 0.7;
        double within = rnd(100, 3000);
        size_t want = (size_t)(rand() % WANT) + 1;
        size_t found = geo_nearest(set, n, plat, plon, offset, within, want, hits);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            double d = geo_distance(plat, plon, set[i].lat, set[i].lon);
            if (d <= within)
                ref[m++] = (struct ref){i, d};
        }
        qsort(ref, m, sizeof ref[0], by_d);
        assert_int_equal(found, m < want ? m : want);
        for (size_t i = 0; i < found; i++) {
            assert_true(fabs(hits[i].distance - ref[i].d) < 1e-6);
            if (i)
                assert_true(hits[i - 1].distance <= hits[i].distance);
            assert_true(
                fabs(geo_distance(plat, plon, set[hits[i].index].lat, set[hits[i].index].lon) -
                     hits[i].distance) < 1e-6);
        }
    }
    assert_int_equal(geo_nearest(set, 0, 0, 0, 0, 100, 5, hits), 0);
    assert_int_equal(geo_nearest(set, 10, 0, 0, 0, 100, 0, hits), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance_matches_redis),
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_nearest_matches_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
