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
import asyncio
import base64
import collections
import gzip
import hashlib
import json
import math
import os
import random
import socket
import sys
import time

ROLES = {"mapcust": "user", "mapop": "operator", "cust": "user", "op": "operator"}
PASSWORD = "bench-password"
MARKER = "gigbench:loaded"  # outside the prefix: which cache generation this Redis holds
PARKING = (-45.0, -150.0)   # the South Pacific: where unused map operators go offline
PAIRS_ORIGIN = (20.0, 100.0)


class Failure(Exception):
    """Ends the run with a message and a non-zero exit."""


def log(msg):
    print(f"gig_setup: {msg}", file=sys.stderr, flush=True)


# --- a minimal Redis client (RESP2 over the unix socket) ---------------------------


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as e:
            raise Failure(f"cannot connect to Redis at {path}: {e}")
        self.rfile = self.sock.makefile("rb")

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def read(self):
        line = self.rfile.readline()
        if not line:
            raise Failure("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise Failure(f"unexpected Redis reply {line[:80]!r}")

    def pipeline(self, cmds, chunk=1000):
        """Runs the commands, chunk at a time; returns their replies (errors
        as RedisError values)."""
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.sock.sendall(b"".join(self.encode(c) for c in part))
            out.extend(self.read() for _ in part)
        return out

    def call(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RedisError):
            raise Failure(f"Redis {args[0]}: {r}")
        return r

    def keys(self, prefix):
        cursor, found = b"0", []
        pattern = prefix.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") \
            .replace("[", "\\[") + "*"
        while True:
            cursor, batch = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found.extend(batch)
            if cursor == b"0":
                return sorted(set(found))

    def version(self):
        for line in self.call("INFO", "server").decode().splitlines():
            if line.startswith("redis_version:"):
                return line.split(":", 1)[1].strip()
        return "unknown"


def dump_prefix(rds, prefix):
    """[(key, pttl, payload)] of every key under prefix (keys with a TTL keep
    what is left of it; keys about to vanish are left out)."""
    names = rds.keys(prefix)
    cmds = []
    for k in names:
        cmds.append(("PTTL", k))
        cmds.append(("DUMP", k))
    replies = rds.pipeline(cmds)
    out = []
    for i, k in enumerate(names):
        pttl, payload = replies[2 * i], replies[2 * i + 1]
        if isinstance(pttl, RedisError) or isinstance(payload, RedisError):
            raise Failure(f"cannot DUMP {k!r}: {pttl if isinstance(pttl, RedisError) else payload}")
        if payload is None or pttl == -2 or 0 <= pttl < 60000:
            continue
        out.append((k, max(pttl, 0), payload))
    return out


def restore_keys(rds, keys):
    replies = rds.pipeline([("RESTORE", k, ttl, payload, "REPLACE") for k, ttl, payload in keys])
    bad = [r for r in replies if isinstance(r, RedisError)]
    if bad:
        raise Failure(f"RESTORE failed for {len(bad)} keys: {bad[0]}")


def delete_prefix(rds, prefix):
    names = rds.keys(prefix)
    for i in range(0, len(names), 1000):
        rds.call("DEL", *names[i:i + 1000])
    return len(names)


# --- the cache --------------------------------------------------------------------


def cache_tag(rds, prefix, source_root):
    h = hashlib.sha256()
    h.update(f"redis {rds.version()}\nprefix {prefix}\n".encode())
    h.update(f"secret {os.environ.get('ONAIR_SECRET', '')}\n".encode())
    for rel in ("storage/keys.c", "storage/scripts/account_create.lua"):
        try:
            with open(os.path.join(source_root, rel), "rb") as f:
                h.update(rel.encode() + b"\n" + f.read())
        except OSError:
            h.update(rel.encode() + b" missing\n")
    return h.hexdigest()[:16]


def load_cache(path, tag):
    try:
        with gzip.open(path, "rt") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as e:
        log(f"ignoring unreadable cache {path}: {e}")
        return None
    if doc.get("tag") != tag:
        log(f"ignoring cache {path}: made for another Redis version, prefix, secret or "
            f"account layout (tag {doc.get('tag')}, now {tag})")
        return None
    doc["keys"] = [(base64.b64decode(k), ttl, base64.b64decode(p)) for k, ttl, p in doc["keys"]]
    return doc


def save_cache(path, tag, generation, accounts, keys):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    doc = {"tag": tag, "generation": generation, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                           time.gmtime()),
           "accounts": accounts,
           "keys": [[base64.b64encode(k).decode(), ttl, base64.b64encode(p).decode()]
                    for k, ttl, p in keys]}
    tmp = f"{path}.{os.getpid()}.tmp"
    with gzip.open(tmp, "wt", compresslevel=3) as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, path)


# --- HTTP: lean keep-alive connections (bench/gig_lifecycle.py uses them too) -------


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection. send(data) writes a request at once
    and returns a future resolved to (status, body, latency_ns) when its
    response has arrived; (0, b"", latency) when the connection is lost first.
    `closing` is set by a `Connection: close` answer or a lost connection:
    open a new one then. Responses must carry Content-Length (onair's do)."""

    __slots__ = ("transport", "buf", "pending", "closing", "error")

    def __init__(self):
        self.transport = None
        self.buf = b""
        self.pending = collections.deque()
        self.closing = False
        self.error = None

    @classmethod
    async def open(cls, port, timeout=30):
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(cls, "127.0.0.1", port), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise Failure(f"cannot connect to 127.0.0.1:{port}: {e!r}")
        return conn

    def connection_made(self, transport):
        self.transport = transport

    def send(self, data):
        fut = asyncio.get_running_loop().create_future()
        if self.closing:
            fut.set_result((0, b"", 0))
            return fut
        self.pending.append((fut, time.monotonic_ns()))
        self.transport.write(data)
        return fut

    def data_received(self, data):
        buf = self.buf + data if self.buf else data
        pos = 0
        now = 0
        while True:
            head_end = buf.find(b"\r\n\r\n", pos)
            if head_end < 0:
                break
            head = buf[pos:head_end].lower()
            try:
                status = int(head[9:12])
            except ValueError:
                status = -1
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17:j if j >= 0 else len(head)])
            elif b"\r\ntransfer-encoding:" in head or status < 0:
                self.error = f"unsupported response: {buf[pos:head_end][:200]!r}"
                self.transport.abort()
                return
            else:
                length = 0
            end = head_end + 4 + length
            if len(buf) < end:
                break
            body = buf[head_end + 4:end]
            pos = end
            if not self.pending:
                self.error = "a response nobody asked for"
                self.transport.abort()
                return
            if b"\r\nconnection: close" in head:
                self.closing = True
            if not now:
                now = time.monotonic_ns()
            fut, t0 = self.pending.popleft()
            if not fut.done():
                fut.set_result((status, body, now - t0))
        self.buf = buf[pos:]

    def connection_lost(self, exc):
        self.closing = True
        now = time.monotonic_ns()
        while self.pending:
            fut, t0 = self.pending.popleft()
            if not fut.done():
                fut.set_result((0, b"", now - t0))

    def close(self):
        if self.transport is not None:
            self.transport.close()


def request(method, path, token=None, body=None):
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is None:
        if method == "POST":
            head += "Content-Length: 0\r\n"
        return f"{head}\r\n".encode()
    if not isinstance(body, bytes):
        body = json.dumps(body, separators=(",", ":")).encode()
    return (f"{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


async def run_requests(port, reqs, concurrency, what):
    """Sends each (data, expected statuses) request, concurrency connections
    each doing one at a time; returns the responses [(status, body)].
    Raises on an unexpected status."""
    results = [None] * len(reqs)
    nxt = 0
    conns = [await Conn.open(port) for _ in range(min(concurrency, len(reqs)))]

    async def worker(k):
        nonlocal nxt
        while nxt < len(reqs):
            i = nxt
            nxt += 1
            data, ok = reqs[i]
            while True:
                if conns[k].closing:
                    conns[k].close()
                    conns[k] = await Conn.open(port)
                status, body, _ = await conns[k].send(data)
                if status == 429:
                    await asyncio.sleep(1)
                    continue
                break
            if status not in ok:
                raise Failure(f"{what}: {data.split(b' ', 2)[1].decode()} answered {status}: "
                              f"{body[:300]!r}")
            results[i] = (status, body)

    try:
        await asyncio.gather(*(worker(k) for k in range(len(conns))))
    finally:
        for c in conns:
            c.close()
    return results


# --- accounts ---------------------------------------------------------------------


def email(role, i):
    return f"gb-{role}-{i}@bench.test"


async def create_accounts(port, todo, concurrency, budget_s, total_before):
    """todo: [(role, index, required)], required ones first. Creates them
    concurrency at a time; past budget_s (0: none) no further optional ones
    are started. Returns {(role, index): (id, token)}."""
    created = {}
    nxt = 0
    started = time.monotonic()
    last = started
    conns = [await Conn.open(port) for _ in range(min(concurrency, len(todo)))]
    stop_optional = False

    async def worker(k):
        nonlocal nxt, last, stop_optional
        while nxt < len(todo):
            role, i, required = todo[nxt]
            if not required and (stop_optional or budget_s < 0 or budget_s and
                                 time.monotonic() - started > budget_s):
                stop_optional = True
                return
            nxt += 1
            body = {"type": ROLES[role], "firstName": "Bench",
                    "lastName": f"{role.capitalize()}{i}", "password": PASSWORD,
                    "identities": [{"type": "email", "value": email(role, i)}]}
            data = request("POST", "/accounts", body=body)
            while True:
                if conns[k].closing:
                    conns[k].close()
                    conns[k] = await Conn.open(port)
                status, resp, _ = await conns[k].send(data)
                if status == 429:  # per-IP limit: bench/run.sh raises it; wait if not
                    await asyncio.sleep(1)
                    continue
                break
            if status != 201:
                raise Failure(f"POST /accounts ({email(role, i)}) answered {status}: "
                              f"{resp[:300]!r}")
            doc = json.loads(resp)
            created[(role, i)] = (doc["account"]["id"], doc["token"])
            now = time.monotonic()
            if now - last >= 15:
                last = now
                rate = len(created) / (now - started)
                log(f"  {len(created)} accounts created ({rate:.1f}/s; "
                    f"{total_before + len(created)} in all)")

    try:
        await asyncio.gather(*(worker(k) for k in range(len(conns))))
    finally:
        for c in conns:
            c.close()
    return created


async def check_tokens(port, accounts):
    """GET /accounts/me with a sample of each role's tokens: None when all
    answer with the right account and type, else what went wrong."""
    reqs, want = [], []
    for role, lst in accounts.items():
        for i in sorted({0, len(lst) // 2, len(lst) - 1}):
            if 0 <= i < len(lst):
                reqs.append((request("GET", "/accounts/me", lst[i][1]), {200, 401, 403, 404}))
                want.append((role, lst[i][0]))
    if not reqs:
        return None
    for (status, body), (role, acct_id) in zip(await run_requests(port, reqs, 4, "check"), want):
        if status != 200:
            return f"a cached {role} token answered {status}: {body[:200]!r}"
        acct = json.loads(body).get("account", {})
        if acct.get("id") != acct_id or acct.get("type") != ROLES[role]:
            return f"a cached {role} token names another account: {body[:200]!r}"
    return None


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
        problem = await check_tokens(args.port, accounts)
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
        created = await create_accounts(args.port, todo, args.concurrency, args.budget, have)
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
    out = {}
    rc = 0
    try:
        out = asyncio.run(run(args))
    except Failure as e:
        log(f"FAILED: {e}")
        rc = 1
    out["ok"] = int(rc == 0)
    print(" ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
