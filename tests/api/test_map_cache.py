"""GET /map's cell cache (handlers/map.c, docs/gigs.md "The map's cache").

An instance with the cache must answer exactly what an instance without it
answers (ids, order, locations, distances) for any point, also points that
share a cell; concurrent misses of one cell share one search; and what a
cached answer shows is at most ONAIR_MAP_CACHE_MS old."""

import math
import random
import time

import pytest

from accounts_util import Api, expect, ready, run_threads, server_env
from gigs_util import (EARTH_R, JITSI, assert_map_entry, customer, go_online, haversine, map_at,
                       north, operator, rand_point, set_location)
from harness import wait_until

RADIUS = 5000


def moved(point, north_m, east_m):
    lat, lon = point
    return (lat + math.degrees(north_m / EARTH_R),
            lon + math.degrees(east_m / (EARTH_R * math.cos(math.radians(lat)))))


def sample(api, name):
    return sum(v for n, _, v in api.srv.metrics() if n == name)


def start(factory, redis_server, cache_ms):
    env = server_env(**JITSI, ONAIR_GEO_RADIUS_M=RADIUS, ONAIR_MAP_CACHE_MS=cache_ms)
    return Api(ready(factory(redis_server, env=env)))


@pytest.fixture(scope="module")
def servers(make_onair_module, shared_redis):
    """cached (a minute), store (no cache), short (300 ms), on one Redis."""
    return (start(make_onair_module, shared_redis, 60000),
            start(make_onair_module, shared_redis, 0),
            start(make_onair_module, shared_redis, 300))


@pytest.fixture(scope="module")
def crowd(servers):
    """70 operators scattered within 600 m of a random point, and a customer."""
    store = servers[1]
    centre = rand_point()
    spots = [moved(centre, random.uniform(-600, 600), random.uniform(-600, 600))
             for _ in range(70)]
    ops = []
    for i in range(0, len(spots), 10):  # within the password hashing queue
        ops += run_threads([lambda p=p: operator(store, p) for p in spots[i:i + 10]], timeout=60)
    for o in ops:
        assert not isinstance(o, Exception), o
    return centre, dict(zip((o.id for o in ops), spots)), customer(store)


def same_answer(got, want, spots, point):
    assert [e["account"]["id"] for e in got] == [e["account"]["id"] for e in want], point
    for g, w in zip(got, want):
        assert g["account"] == w["account"] and g["location"] == w["location"], (g, w)
        assert abs(g["distance"] - w["distance"]) <= 0.02, (g, w)
        assert_map_entry(g, point=spots[g["account"]["id"]], centre=point)


def test_cached_answers_equal_the_stores(servers, crowd):
    cached, store, _ = servers
    centre, spots, cust = crowd
    before = sample(cached, "onair_map_cache_hits_total")
    sizes = set()
    for _ in range(25):
        p = moved(centre, random.uniform(-1000, 1000), random.uniform(-1000, 1000))
        # the point and two neighbours, most likely in the same cell
        for q in (p, moved(p, 35, 0), moved(p, 0, -35)):
            want = map_at(store, cust.token, q)
            same_answer(map_at(cached, cust.token, q), want, spots, q)
            sizes.add(len(want))
    assert 50 in sizes  # near the crowd: the nearest 50 of 70
    assert sample(cached, "onair_map_cache_hits_total") > before


def test_far_points_see_the_whole_radius(servers, crowd):
    """Points whose cell holds fewer than 50 operators within the radius."""
    cached, store, _ = servers
    centre, spots, cust = crowd
    for metres in (RADIUS - 300, RADIUS + 300, RADIUS + 1000):
        q = north(centre, metres)
        want = map_at(store, cust.token, q)
        same_answer(map_at(cached, cust.token, q), want, spots, q)
    assert map_at(cached, cust.token, north(centre, RADIUS + 1000)) == []


def test_concurrent_misses_share_one_search(servers):
    cached, store, _ = servers
    p = rand_point()
    op = operator(store, north(p, 100))
    cust = customer(store)
    before = sample(cached, "onair_map_cache_searches_total")
    answers = run_threads([lambda: map_at(cached, cust.token, p) for _ in range(20)])
    for a in answers:
        assert not isinstance(a, Exception), a
        assert [e["account"]["id"] for e in a] == [op.id], a
    assert sample(cached, "onair_map_cache_searches_total") - before == 1


def test_an_answer_is_at_most_the_cache_time_old(servers):
    _, store, short = servers
    p = rand_point()
    op = operator(store, north(p, 50))
    cust = customer(store)
    assert [e["account"]["id"] for e in map_at(short, cust.token, p)] == [op.id]
    expect(store.post("/accounts/status/offline", token=op.token), 200)
    gone = time.monotonic()
    wait_until(lambda: map_at(short, cust.token, p) == [], 3, message="offline operator gone")
    assert time.monotonic() - gone < 0.3 + 0.5  # the cache time, plus a margin
    go_online(store, op, north(p, 50))
    wait_until(lambda: len(map_at(short, cust.token, p)) == 1, 3, message="operator back")


def test_metrics_are_exposed(servers):
    names = {n for n, _, _ in servers[0].srv.metrics()}
    for n in ("onair_map_cache_hits_total", "onair_map_cache_misses_total",
              "onair_map_cache_searches_total", "onair_map_cache_fallbacks_total",
              "onair_map_cache_unkept_total", "onair_map_cache_cells", "onair_map_cache_bytes"):
        assert n in names, n


def flipping_point(x, y, lon):
    """A point on meridian `lon` (7 decimals) between x (north) and y (south)
    from which x is nearer than y, while from the point rounded to 7 decimals
    (a few mm south) y is nearer and x farther than y is from the point
    itself: a store search around the rounded point (once "%.7f") listed y
    first and stopped before x.  Margins of 0.2 mm cover Redis's 0.1 mm
    distances.  None when no such point exists for these two."""
    mid = round((x[0] + y[0]) / 2, 7)
    for k in range(-40, 41):
        for f in range(1, 25):
            q = (mid + (k + f / 50) * 1e-7, lon)
            c = (float(f"{q[0]:.7f}"), lon)
            qx, qy = haversine(q, x), haversine(q, y)
            cx, cy = haversine(c, x), haversine(c, y)
            if qy - qx > 2e-4 and cx - qy > 2e-4 and cx - cy > 2e-4:
                return q
    return None


def test_the_stores_own_answer_ranks_from_the_point_itself(servers, shared_redis):
    """The 50th place decided by millimetres that the point's rounding to 7
    decimals would flip: the uncached answer is the exact nearest 50, as the
    cached one is."""
    cached, store, _ = servers
    base = rand_point()
    base = (base[0], round(base[1], 7))
    spots = [moved(base, random.uniform(-30, 30), random.uniform(-30, 30)) for _ in range(49)]
    ops = []
    for i in range(0, len(spots), 10):  # within the password hashing queue
        ops += run_threads([lambda p=p: operator(store, p) for p in spots[i:i + 10]], timeout=60)
    for o in ops:
        assert not isinstance(o, Exception), o
    x, y = operator(store, north(base, 800)), operator(store, north(base, -800))
    r = shared_redis.client()
    # Whether such a point exists depends on where the two stand to within a
    # centimetre: x moves north by geohash cells (~0.3 m) until one does.
    for i in range(40):
        set_location(store, x, north(base, 800 + 0.1 * i))
        (xlon, xlat), (ylon, ylat) = r.geopos("onair:geo:operator", x.id, y.id)
        q = flipping_point((xlat, xlon), (ylat, ylon), base[1])
        if q:
            break
    assert q is not None, "no point flips the two"
    cust = customer(store)
    want = map_at(store, cust.token, q)
    assert len(want) == 50 and want[-1]["account"]["id"] == x.id, want[-1]
    assert y.id not in {e["account"]["id"] for e in want}
    got = map_at(cached, cust.token, q)
    assert [e["account"]["id"] for e in got] == [e["account"]["id"] for e in want]
