#!/usr/bin/python3
"""Accounts and presence for the gig benchmarks (bench/run.sh: map, gig_lifecycle).

Ensures that the running onair has, under its key prefix:
  mapcust  1 customer (type user) who reads the map;
  mapop    MAP_OPERATORS operators (type operator) for the map;
  cust/op  PAIRS customers and PAIRS operators for bench/gig_lifecycle.py;
then puts accounts online where a scenario wants them (--online map|pairs)
and writes their ids, tokens and places to --out (JSON).

Creating an account hashes its password with Argon2id (~15 accounts/s on the
2-core machine this was written on), so 10 000 operators take ~11 minutes.
They are therefore created once and kept in --cache: the ids and tokens, and a
DUMP of every Redis key under the prefix taken right after creation (before
anyone goes online). A later run against a fresh Redis RESTOREs those keys
(seconds) instead of creating the accounts again. For the cached tokens to
stay valid the server must sign with a fixed ONAIR_SECRET and a long
ONAIR_TOKEN_TTL_S (bench/run.sh sets both for these scenarios); the cache is
checked (GET /accounts/me with a sample of tokens of each kind) and thrown
away when it no longer works, and it is tagged with the Redis version and the
account-creation sources (storage/keys.c, storage/scripts/account_create.lua)
so that a change of either starts a new one.

Account creation stops taking new operators after --budget seconds (0: no
limit); what was created is cached, so successive runs grow the cache until
it holds MAP_OPERATORS. The customers and pair operators are always created in
full. The number of map operators actually online is reported (key
map_operators=) so a short run says so.

Presence:
  --online map    the first MAP_OPERATORS operators go online (with a location)
                  at seeded random points within --spread-m of --center;
                  cached operators beyond that are moved to a far place and
                  set offline, so exactly MAP_OPERATORS are on the map.
  --online pairs  pair operator i goes online at the centre of area i; areas
                  are a grid with 2.5 x ONAIR_GEO_RADIUS_M between centres,
                  far from --center, so a gig requested at the centre of area
                  i is offered to operator i alone.

Human-readable lines go to stderr; the last line of stdout is key=value pairs.
"""
import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Conn, Failure and request are used by bench/gig_lifecycle.py through this module.
from setup_common import (Conn, Failure, Redis, cache_tag, check_tokens,  # noqa: E402,F401
                          create_accounts, delete_prefix, dump_prefix, load_cache, log,
                          request, restore_keys, run_reporting, run_requests, save_cache,
                          set_log_name)

ROLES = {"mapcust": "user", "mapop": "operator", "cust": "user", "op": "operator"}
PASSWORD = "bench-password"
MARKER = "gigbench:loaded"  # outside the prefix: which cache generation this Redis holds
PARKING = (-45.0, -150.0)   # the South Pacific: where unused map operators go offline
PAIRS_ORIGIN = (20.0, 100.0)


# --- accounts ---------------------------------------------------------------------


def email(role, i):
    return f"gb-{role}-{i}@bench.test"


def account_body(key):
    role, i = key
    return {"type": ROLES[role], "firstName": "Bench", "lastName": f"{role.capitalize()}{i}",
            "password": PASSWORD, "identities": [{"type": "email", "value": email(role, i)}]}


def token_samples(accounts):
    """(token, id, type) of the first, middle and last account of each role."""
    out = []
    for role, lst in accounts.items():
        for i in sorted({0, len(lst) // 2, len(lst) - 1}):
            if 0 <= i < len(lst):
                out.append((lst[i][1], lst[i][0], ROLES[role]))
    return out


# --- places -------------------------------------------------------------------------


def disc_points(center, radius_m, n, seed):
    """n seeded uniform points within radius_m of center (lat, long)."""
    rng = random.Random(seed)
    lat0, lon0 = center
    m_per_deg_lat = 111320.0
    m_per_deg_lon = 111320.0 * math.cos(math.radians(lat0))
    out = []
    for _ in range(n):
        r = radius_m * math.sqrt(rng.random())
        a = rng.random() * 2 * math.pi
        out.append((round(lat0 + r * math.sin(a) / m_per_deg_lat, 6),
                    round(lon0 + r * math.cos(a) / m_per_deg_lon, 6)))
    return out


def pair_areas(n, radius_m):
    """Centres of n areas 2.5 radius apart (a grid starting at PAIRS_ORIGIN)."""
    step_lat = 2.5 * radius_m / 111320.0
    lat0, lon0 = PAIRS_ORIGIN
    cols = max(1, math.ceil(math.sqrt(n)))
    top_lat = lat0 + step_lat * (cols + 1)
    step_lon = 2.5 * radius_m / (111320.0 * math.cos(math.radians(top_lat)))
    return [(round(lat0 + (i // cols) * step_lat, 6), round(lon0 + (i % cols) * step_lon, 6))
            for i in range(n)]


# --- main -----------------------------------------------------------------------------


async def run(args):
    out = {}
    rds = Redis(args.redis_sock)
    tag = cache_tag(rds, args.prefix, args.source_root)
    # Keys with a TTL (locks, rate limits) are the server's own business.
    names = rds.keys(args.prefix)
    existing = [k for k, ttl in zip(names, rds.pipeline([("PTTL", k) for k in names])) if ttl == -1]
    marker = rds.call("GET", MARKER)
    cache = None if args.fresh else load_cache(args.cache, tag)
    accounts = {role: [] for role in ROLES}
    generation = None

    if existing:
        if cache is None or marker is None or marker.decode() != cache["generation"]:
            raise Failure(f"Redis already holds {len(existing)} keys under {args.prefix!r} that "
                          f"are not this cache's ({args.cache}); use a fresh Redis or another "
                          f"prefix")
        accounts = cache["accounts"]
        generation = cache["generation"]
        log(f"Redis already holds cache {generation}")
    elif cache is not None:
        t = time.monotonic()
        restore_keys(rds, cache["keys"])
        accounts = cache["accounts"]
        log(f"restored {len(cache['keys'])} keys ({', '.join(f'{len(v)} {k}' for k, v in accounts.items())}) "
            f"from {args.cache} in {time.monotonic() - t:.1f}s")
        problem = await check_tokens(args.port, token_samples(accounts))
        if problem:
            log(f"the cache no longer works ({problem}); deleting its keys and starting again")
            delete_prefix(rds, args.prefix)
            accounts = {role: [] for role in ROLES}
        else:
            generation = cache["generation"]
            rds.call("SET", MARKER, generation)

    want = {"mapcust": 1, "cust": args.pairs, "op": args.pairs, "mapop": args.map_operators}
    todo = []
    for role in ("mapcust", "cust", "op", "mapop"):
        todo.extend((role, i, role != "mapop") for i in range(len(accounts[role]), want[role]))
    if todo:
        have = sum(len(v) for v in accounts.values())
        log(f"creating {len(todo)} accounts ({args.concurrency} in flight"
            + (f"; map operators only for {args.budget:g}s" if args.budget > 0 else
               "; no map operators: no budget left" if args.budget < 0 else "") + ")")
        t = time.monotonic()
        created = await create_accounts(args.port, [((role, i), req) for role, i, req in todo],
                                        account_body, args.concurrency, args.budget, have)
        for role, i, _ in todo:
            if (role, i) in created:
                assert len(accounts[role]) == i
                accounts[role].append(list(created[(role, i)]))
        elapsed = time.monotonic() - t
        log(f"created {len(created)} accounts in {elapsed:.1f}s "
            f"({len(created) / max(elapsed, 1e-9):.1f}/s)")
        out["created"] = len(created)
        if created:
            t = time.monotonic()
            keys = dump_prefix(rds, args.prefix)
            generation = f"{tag}-{time.time_ns()}"
            save_cache(args.cache, tag, generation, accounts, keys)
            rds.call("SET", MARKER, generation)
            log(f"cached {len(keys)} keys in {args.cache} ({os.path.getsize(args.cache) >> 10} "
                f"KiB, {time.monotonic() - t:.1f}s)")

    result = {"map_customer": accounts["mapcust"][0], "center": list(args.center)}
    reqs = []
    if "map" in args.online:
        n = min(args.map_operators, len(accounts["mapop"]))
        points = disc_points(args.center, args.spread_m, n, seed=1)
        for (_, token), (lat, lon) in zip(accounts["mapop"][:n], points):
            reqs.append((request("POST", "/accounts/status/online", token,
                                 {"latitude": lat, "longitude": lon}), {200}))
        for _, token in accounts["mapop"][n:]:
            reqs.append((request("POST", "/accounts/status/online", token,
                                 {"latitude": PARKING[0], "longitude": PARKING[1]}), {200}))
        result["map_operators"] = n
        out["map_operators"] = n
        out["map_operators_wanted"] = args.map_operators
        if n < args.map_operators:
            log(f"ONLY {n} OF {args.map_operators} MAP OPERATORS exist (creation budget "
                f"{args.budget:g}s); the map is measured with {n}. Run again to add more "
                f"(the cache grows), or raise BENCH_GIG_SETUP_BUDGET_S (0: no limit)")
    if "pairs" in args.online:
        areas = pair_areas(args.pairs, args.radius_m)
        result["pairs"] = [{"customer": c, "operator": o, "latitude": a[0], "longitude": a[1]}
                           for c, o, a in zip(accounts["cust"], accounts["op"], areas)]
        for o, (lat, lon) in zip(accounts["op"][:args.pairs], areas):
            reqs.append((request("POST", "/accounts/status/online", o[1],
                                 {"latitude": lat, "longitude": lon}), {200}))
        out["pairs"] = args.pairs
    if reqs:
        t = time.monotonic()
        await run_requests(args.port, reqs, 32, "going online")
        if "map" in args.online and len(accounts["mapop"]) > args.map_operators:
            parked = [(request("POST", "/accounts/status/offline", tok), {200})
                      for _, tok in accounts["mapop"][args.map_operators:]]
            await run_requests(args.port, parked, 32, "going offline")
            log(f"{len(parked)} cached map operators beyond {args.map_operators} parked offline")
        log(f"{len(reqs)} accounts online in {time.monotonic() - t:.1f}s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f)
    out["token"] = result["map_customer"][1]
    return out


def main():
    set_log_name("gig_setup")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="onair on 127.0.0.1:PORT")
    ap.add_argument("--redis-sock", required=True, help="its Redis unix socket")
    ap.add_argument("--prefix", default="onair:", help="its ONAIR_KEY_PREFIX")
    ap.add_argument("--cache", required=True, help="the cache file (gzipped JSON)")
    ap.add_argument("--fresh", action="store_true", help="ignore the cache: create anew")
    ap.add_argument("--source-root", default=os.path.join(os.path.dirname(__file__), ".."),
                    help="onair's source tree (the cache tag hashes account-creation files)")
    ap.add_argument("--map-operators", type=int, default=0, help="operators for the map")
    ap.add_argument("--pairs", type=int, default=0, help="customer/operator pairs")
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds after which no more map operators are created (0: no limit; "
                    "negative: none are)")
    ap.add_argument("--concurrency", type=int, default=16, help="POST /accounts in flight")
    ap.add_argument("--online", default="", help="comma list: map, pairs")
    ap.add_argument("--center", default="10.7769,106.7009", help="the map city: lat,long")
    ap.add_argument("--spread-m", type=float, default=5000, help="map operators within this")
    ap.add_argument("--radius-m", type=float,
                    default=float(os.environ.get("ONAIR_GEO_RADIUS_M") or 10000),
                    help="the server's ONAIR_GEO_RADIUS_M (spaces the pair areas)")
    ap.add_argument("--out", help="write the accounts and places here (JSON)")
    args = ap.parse_args()
    args.center = tuple(float(x) for x in args.center.split(","))
    args.online = {x for x in args.online.split(",") if x}
    if args.online - {"map", "pairs"}:
        ap.error("--online takes map and/or pairs")
    if min(args.map_operators, args.pairs) < 0 or args.concurrency < 1:
        ap.error("counts must be positive")
    return run_reporting(run(args), {})


if __name__ == "__main__":
    sys.exit(main())
