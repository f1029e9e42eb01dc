#!/usr/bin/python3
"""Load generator for the gig lifecycle (API.md §4, docs/gigs.md).

Drives complete gigs, request to rated, with PAIRS customer/operator pairs
(bench/gig_setup.py --online pairs makes them and writes --accounts: pair i's
operator is online at the centre of area i, alone within ONAIR_GEO_RADIUS_M,
so the gig its customer requests there is offered to that operator only).
Each pair loops for SECONDS, each party on its own keep-alive connection:

  customer  POST /gigs {latitude, longitude, deviceId}     201
  operator  POST /gigs/claim/:id {"response":"accept"}       200
  customer  POST /gigs/confirm/:id                           200
  both      POST /gigs/handshake/:id  (concurrently)         200, 200
  customer  POST /gigs/start/:id                             200
  operator  POST /gigs/stop/:id                              200
  both      POST /gigs/rate/:id {"rating": n} (concurrently) 200, 200

9 requests a gig. A gig counts as complete when the second rating has been
answered within the measuring window (after --warmup). Any other answer is an
error (counted by step and status); the pair then reads its gigs
(GET /gigs?status=...) and drives each open one to its end from the state the
server reports (so one error does not leave the operator busy or the
customer locked out), and starts over. Operators refresh their location
(POST /accounts/location) every --location-every seconds so a long run keeps
them on the map.

Reported: complete gigs/s, requests/s, errors, failed gigs, latency per request
(p50/p99/max, overall and per step), and CPU over the window of the server
(--pid), its Redis (--redis-pid) and the generator itself, as % of one core.
--procs N splits the pairs over N generator processes. The generator is
bench/gig_driver (--driver; bench/gig_driver.c, built with -DONAIR_BENCH=ON:
one libuv loop per process, the same requests, checks and recovery at a
fraction of the CPU), started by this script, which writes its pairs, gives
it the start times and reports its figures; or, with --driver python or when
it is not built, one asyncio loop per process with a Protocol per connection
(bench/gig_setup.py's Conn; multiprocessing, spawn). Its latencies are exact;
the C driver's come from a histogram of buckets at most 0.4% wide (the max is
exact). If a generator process runs near 100% of a core it is the bottleneck:
the figure is a lower bound and the run says so.

    bench/gig_lifecycle.py --port 8080 --accounts accounts.json [--seconds 10]

Human-readable lines go to stderr; the last line of stdout is key=value pairs.
Exits non-zero when the run could not be made (no connection, no pair
completed a gig); not when a budget is missed.
"""
import argparse
import asyncio
import gc
import json
import math
import multiprocessing
import os
import random
import resource
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gig_setup import Conn, Failure, request  # noqa: E402

monotonic_ns = time.monotonic_ns
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DRIVER = os.path.join(ROOT, "build", "bench", "gig_driver")
STEPS = ("create", "claim", "confirm", "handshake_c", "handshake_o", "start", "stop",
         "rate_c", "rate_o")
OPEN_STATUSES = "requested,claimed,confirmed,handshaked,started,stopped"


def log(msg):
    print(f"gig_lifecycle: {msg}", file=sys.stderr, flush=True)


def cpu_s(pid):
    """CPU time (user + system, all threads) of process pid, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Lat:
    """Latencies in ns as {value: count}: each value from the Python loop, or
    the C driver's histogram (bucket midpoints, and the exact max)."""

    def __init__(self):
        self.counts = {}
        self.n = 0
        self.max = 0

    def add(self, v):
        """v: the Python loop's [ns, ...] or the driver's {"max": ns, "hist": [[ns, n], ...]}."""
        counts = self.counts
        if isinstance(v, dict):
            pairs = v["hist"]
            self.max = max(self.max, v["max"])
        else:
            pairs = ((x, 1) for x in v)
            self.max = max(self.max, max(v, default=0))
        for x, c in pairs:
            counts[x] = counts.get(x, 0) + c
            self.n += c

    def percentile(self, q):
        """The value of rank ceil(q% of n), as a sorted list of the values would have it."""
        if not self.n:
            return float("nan")
        rank = min(max(1, math.ceil(q / 100 * self.n)), self.n)
        if rank == self.n:
            return self.max
        seen = 0
        for x in sorted(self.counts):
            seen += self.counts[x]
            if seen >= rank:
                return min(x, self.max)
        return self.max


class Stats:
    def __init__(self, steps):
        self.lat = {s: [] for s in steps}
        self.errors = {}
        self.complete = 0
        self.failed = 0
        self.recoveries = 0
        self.dead = 0
        self.other = 0  # requests outside the lifecycle (recovery, location)


class Pair:
    """One customer and one operator, each with a keep-alive connection."""

    def __init__(self, port, spec, index):
        self.port = port
        self.index = index
        self.cust_id, self.cust_tok = spec["customer"]
        self.op_id, self.op_tok = spec["operator"]
        self.lat = spec["latitude"]
        self.lon = spec["longitude"]
        self.c = None
        self.o = None
        self.create = request("POST", "/gigs", self.cust_tok, {
            "latitude": self.lat, "longitude": self.lon, "deviceId": f"bench-device-{index}"})
        self.accept = json.dumps({"response": "accept"}).encode()
        self.location = request("POST", "/accounts/location", self.op_tok,
                                {"latitude": self.lat, "longitude": self.lon})
        self.located = 0
        # Requests as bytes templates (% gig id): formatting one is all a step costs.
        self.cust_req, self.op_req = {}, {}
        for reqs, tok, actions in ((self.cust_req, self.cust_tok, (b"confirm", b"handshake",
                                                                   b"start")),
                                   (self.op_req, self.op_tok, (b"handshake", b"stop"))):
            for a in actions:
                reqs[a] = (b"POST /gigs/" + a + b"/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Authorization: Bearer " + tok.encode() +
                           b"\r\nContent-Length: 0\r\n\r\n")
        self.op_req[b"claim"] = (b"POST /gigs/claim/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 b"Authorization: Bearer " + self.op_tok.encode() +
                                 b"\r\nContent-Type: application/json\r\nContent-Length: " +
                                 str(len(self.accept)).encode() + b"\r\n\r\n" + self.accept)
        self.rate_req = [b"POST /gigs/rate/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: Bearer " + tok.encode() +
                         b"\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"
                         b'{"rating":%d}' for tok in (self.cust_tok, self.op_tok)]

    async def connect(self):
        self.c = await Conn.open(self.port)
        self.o = await Conn.open(self.port)

    async def conn(self, who):
        """The party's connection, reopened if the server ended it."""
        c = self.c if who == "c" else self.o
        if c.closing:
            c.close()
            c = await Conn.open(self.port)
            if who == "c":
                self.c = c
            else:
                self.o = c
        return c


class Runner:
    def __init__(self, args, pairs, start_ns, warm_ns, end_ns):
        self.args = args
        self.pairs = pairs
        self.start_ns = start_ns
        self.warm_ns = warm_ns  # measuring window: [warm_ns, end_ns]
        self.end_ns = end_ns
        self.st = Stats(STEPS + ("recover", "location"))
        self.rng = random.Random(7)

    def in_window(self):
        now = monotonic_ns()
        return self.warm_ns <= now <= self.end_ns

    def error(self, step, status, body):
        if self.in_window():
            key = f"{step}:{status}"
            self.st.errors[key] = self.st.errors.get(key, 0) + 1
        if self.args.verbose and self.st.errors.get(f"{step}:{status}", 0) <= 3:
            log(f"{step} answered {status}: {body[:300]!r}")

    async def call(self, p, who, step, data, ok):
        """One request; True when its status is in ok."""
        conn = await p.conn(who)
        status, body, lat = await conn.send(data)
        if self.in_window():
            self.st.lat[step].append(lat)
        if status not in ok:
            self.error(step, status, body)
            return False, body
        return True, body

    async def gig(self, p):
        """One happy-path gig; True when complete, False after an error
        (the caller recovers)."""
        ok, body = await self.call(p, "c", "create", p.create, (201,))
        if not ok:
            return False
        # {"gig":{"id":"<uuid>",...: the id without parsing the whole body
        i = body.find(b'"id":"')
        gid = body[i + 6:i + 42] if 0 <= i < 16 else json.loads(body)["gig"]["id"].encode()
        ok, _ = await self.call(p, "o", "claim", p.op_req[b"claim"] % gid, (200,))
        if not ok:
            return False
        ok, _ = await self.call(p, "c", "confirm", p.cust_req[b"confirm"] % gid, (200,))
        if not ok:
            return False
        if not await self.both(p, b"handshake", gid):
            return False
        ok, _ = await self.call(p, "c", "start", p.cust_req[b"start"] % gid, (200,))
        if not ok:
            return False
        ok, _ = await self.call(p, "o", "stop", p.op_req[b"stop"] % gid, (200,))
        if not ok:
            return False
        return await self.both(p, b"rate", gid)

    async def both(self, p, action, gid):
        """The customer's and the operator's request at once, each on its own
        connection."""
        cc, oc = await p.conn("c"), await p.conn("o")
        if action == b"rate":
            fc = cc.send(p.rate_req[0] % (gid, self.rng.randint(1, 5)))
            fo = oc.send(p.rate_req[1] % (gid, self.rng.randint(1, 5)))
        else:
            fc = cc.send(p.cust_req[action] % gid)
            fo = oc.send(p.op_req[action] % gid)
        ok = True
        name = action.decode()
        for fut, step in ((fc, name + "_c"), (fo, name + "_o")):
            status, resp, lat = await fut
            if self.in_window():
                self.st.lat[step].append(lat)
            if status != 200:
                self.error(step, status, resp)
                ok = False
        return ok

    async def aux(self, p, who, data, ok=(200,)):
        """A request outside the lifecycle (recovery, location): (status, body)."""
        conn = await p.conn(who)
        status, body, lat = await conn.send(data)
        self.st.other += 1
        if status not in ok:
            self.error("recover" if b"/gigs" in data[:64] else "location", status, body)
        return status, body

    async def recover(self, p):
        """Drives every open gig of the pair to its end from the state the
        server reports. True when nothing is left open."""
        self.st.recoveries += 1
        for _ in range(3):
            gigs = {}
            for who, tok in (("c", p.cust_tok), ("o", p.op_tok)):
                status, body = await self.aux(
                    p, who, request("GET", f"/gigs?status={OPEN_STATUSES}", tok))
                if status == 200:
                    for g in json.loads(body).get("gigs", []):
                        gigs[g["id"]] = g
            if not gigs:
                return True
            for g in gigs.values():
                await self.drive(p, g)
        return False

    async def drive(self, p, g):
        for _ in range(12):
            gid, s = g["id"], g["status"]
            cust = g.get("customer") == p.cust_id
            op = g.get("operator") == p.op_id
            steps = []  # (who, data)
            if s == "requested":
                if p.op_id not in g.get("offeredTo", []):
                    return  # someone else's operator or none: let it expire
                steps = [("o", request("POST", f"/gigs/claim/{gid}", p.op_tok, p.accept))]
            elif s == "claimed":
                if not cust:
                    return
                steps = [("c", request("POST", f"/gigs/reject/{gid}", p.cust_tok))]
            elif s in ("confirmed", "handshaked"):
                who, tok = ("c", p.cust_tok) if cust else ("o", p.op_tok)
                steps = [(who, request("POST", f"/gigs/cancel/{gid}", tok))]
            elif s == "started":
                who, tok = ("c", p.cust_tok) if cust else ("o", p.op_tok)
                steps = [(who, request("POST", f"/gigs/stop/{gid}", tok))]
            elif s == "stopped":
                r = g.get("ratings", {})
                if cust and r.get("customer") is None:
                    steps.append(("c", request("POST", f"/gigs/rate/{gid}", p.cust_tok,
                                               {"rating": 5})))
                if op and r.get("operator") is None:
                    steps.append(("o", request("POST", f"/gigs/rate/{gid}", p.op_tok,
                                               {"rating": 5})))
                if not steps:
                    return
            else:
                return  # rated, cancelled, rejected, expired, unclaimed: done
            for who, data in steps:
                await self.aux(p, who, data)
            tok = p.cust_tok if cust else p.op_tok
            status, body = await self.aux(p, "c" if cust else "o",
                                          request("GET", f"/gigs/{gid}", tok))
            if status != 200:
                return
            g = json.loads(body)["gig"]

    async def pair_loop(self, p):
        st = self.st
        failures = 0
        loc_every = int(self.args.location_every * 1e9)
        while monotonic_ns() < self.end_ns:
            now = monotonic_ns()
            if now - p.located > loc_every:
                status, _ = await self.aux(p, "o", p.location)
                p.located = now
            if await self.gig(p):
                if self.in_window():
                    st.complete += 1
                failures = 0
                continue
            if self.in_window():
                st.failed += 1
            failures += 1
            if not await self.recover(p) or failures >= 5:
                if failures >= 5:
                    st.dead += 1
                    log(f"pair {p.index}: {failures} failed gigs in a row; it stops")
                    return
                await asyncio.sleep(0.1)

    async def run(self):
        for p in self.pairs:
            p.located = monotonic_ns()  # gig_setup.py has just put them online there
        tasks = [asyncio.ensure_future(self.pair_loop(p)) for p in self.pairs]
        grace = self.end_ns + int(self.args.grace * 1e9)
        done, pending = await asyncio.wait(tasks, timeout=(grace - monotonic_ns()) / 1e9)
        for t in done:
            if t.exception() is not None:
                raise t.exception()
        for t in pending:
            t.cancel()
        return len(pending)


async def worker_main(args, specs, start_pipe, indexes):
    """One process's share: connects, reports ready, waits for the start time,
    runs, and returns its figures."""
    pairs = [Pair(args.port, specs[i], i) for i in indexes]
    for k in range(0, len(pairs), 64):
        await asyncio.gather(*(p.connect() for p in pairs[k:k + 64]))
    start_ns, warm_ns, end_ns = start_pipe()
    gc.collect()
    gc.freeze()
    gc.disable()  # no collection pauses mid-run; what a gig allocates is freed by refcount
    await asyncio.sleep(max(0, (start_ns - monotonic_ns()) / 1e9))
    runner = Runner(args, pairs, start_ns, warm_ns, end_ns)
    cpu = {}

    async def sample_cpu():
        await asyncio.sleep(max(0, (warm_ns - monotonic_ns()) / 1e9))
        cpu["t0"] = own_cpu_s()
        await asyncio.sleep(max(0, (end_ns - monotonic_ns()) / 1e9))
        cpu["t1"] = own_cpu_s()

    sampler = asyncio.ensure_future(sample_cpu())
    stalled = await runner.run()
    await sampler
    for p in pairs:
        p.c.close()
        p.o.close()
    st = runner.st
    return {"lat": st.lat, "errors": st.errors, "complete": st.complete, "failed": st.failed,
            "recoveries": st.recoveries, "dead": st.dead, "other": st.other,
            "stalled": stalled, "cpu_s": cpu.get("t1", 0) - cpu.get("t0", 0)}


def _child(conn, args, specs, indexes):
    """multiprocessing target: runs worker_main, the start times come from the
    parent through conn."""
    def start_times():
        conn.send("ready")
        return conn.recv()

    async def go():
        return await worker_main(args, specs, start_times, indexes)

    try:
        res = asyncio.run(go())
    except Exception as e:  # reported to the parent, which fails the run
        res = {"error": f"{type(e).__name__}: {e}"}
    conn.send(res)
    conn.close()


def merge(results):
    total = {"lat": {}, "errors": {}, "complete": 0, "failed": 0, "recoveries": 0, "dead": 0,
             "other": 0, "stalled": 0, "cpu_s": [], "per_proc": []}
    for r in results:
        if "error" in r:
            raise Failure(f"a generator process failed: {r['error']}")
        for k, v in r["lat"].items():
            total["lat"].setdefault(k, Lat()).add(v)
        for k, v in r["errors"].items():
            total["errors"][k] = total["errors"].get(k, 0) + v
        for k in ("complete", "failed", "recoveries", "dead", "other", "stalled"):
            total[k] += r[k]
        total["cpu_s"].append(r["cpu_s"])
        total["per_proc"].append(r["complete"])
    return total


def run(args, out):
    with open(args.accounts) as f:
        specs = json.load(f).get("pairs", [])
    if args.pairs:
        if args.pairs > len(specs):
            raise Failure(f"{args.accounts} has {len(specs)} pairs, {args.pairs} asked for")
        specs = specs[:args.pairs]
    if not specs:
        raise Failure(f"no pairs in {args.accounts}")
    procs = max(1, min(args.procs, len(specs)))
    shares = [list(range(k, len(specs), procs)) for k in range(procs)]
    driver = args.driver
    if driver == "auto":
        driver = DEFAULT_DRIVER if os.access(DEFAULT_DRIVER, os.X_OK) else "python"
    log(f"{len(specs)} pairs ({2 * len(specs)} connections) in {procs} process(es) of "
        + ("the Python loop" if driver == "python" else driver)
        + f", {args.seconds:g}s after {args.warmup:g}s of warm-up")

    def times():
        start = monotonic_ns() + int(0.2e9)
        warm = start + int(args.warmup * 1e9)
        return start, warm, warm + int(args.seconds * 1e9)

    srv = {}

    def sample(key):
        srv[key] = (cpu_s(args.pid), cpu_s(args.redis_pid), monotonic_ns())

    def sample_server(start_ns, warm_ns, end_ns):
        time.sleep(max(0, (warm_ns - monotonic_ns()) / 1e9))
        sample("t0")
        time.sleep(max(0, (end_ns - monotonic_ns()) / 1e9))
        sample("t1")

    if driver != "python":
        results = run_driver(args, driver, specs, shares, times, sample_server)
        return report(args, merge(results), srv, len(specs), procs, out)

    # Even one generator process is a child: this one only samples the CPU.
    ctx = multiprocessing.get_context("spawn")
    children, pipes = [], []
    for k in range(procs):
        parent_end, child_end = ctx.Pipe()
        ch = ctx.Process(target=_child, args=(child_end, args, specs, shares[k]),
                         name=f"gig-gen-{k}", daemon=True)
        ch.start()
        child_end.close()
        children.append(ch)
        pipes.append(parent_end)
    try:
        for pe in pipes:
            if not pe.poll(120):
                raise Failure("a generator process did not get ready within 120s")
            msg = pe.recv()
            if msg != "ready":
                raise Failure(f"a generator process failed: {msg.get('error', msg)}")
        t = times()
        for pe in pipes:
            pe.send(t)
        sample_server(*t)
        results = []
        for pe in pipes:
            if not pe.poll(args.grace + 120):
                raise Failure("a generator process did not report")
            results.append(pe.recv())
    finally:
        for ch in children:
            ch.join(5)
            if ch.is_alive():
                ch.kill()
    return report(args, merge(results), srv, len(specs), procs, out)


def run_driver(args, driver, specs, shares, times, sample_server):
    """The generator processes as bench/gig_driver (see bench/gig_driver.c):
    each gets its share of the pairs in a file and, once its connections are
    open ("ready"), the start, warm-up, end and grace times on stdin; it
    prints its figures as one JSON object (merge()'s input)."""
    children = []
    tmp = tempfile.mkdtemp(prefix="gig_driver.")
    try:
        for k, share in enumerate(shares):
            path = os.path.join(tmp, f"pairs.{k}")
            with open(path, "w") as f:
                for i in share:
                    s = specs[i]
                    f.write(f"{i} {s['customer'][0]} {s['customer'][1]} {s['operator'][0]} "
                            f"{s['operator'][1]} {json.dumps(s['latitude'])} "
                            f"{json.dumps(s['longitude'])}\n")
            cmd = [driver, "--port", str(args.port), "--pairs", path,
                   "--location-every", str(args.location_every)]
            if args.verbose:
                cmd.append("--verbose")
            try:
                children.append(subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE))
            except OSError as e:
                raise Failure(f"cannot run {driver}: {e}")

        def read_out(ch, deadline, until_ready):
            """Its stdout: the first line when until_ready, else all of it."""
            data = b""
            fd = ch.stdout.fileno()
            while not (until_ready and b"\n" in data):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise Failure(f"a generator process (pid {ch.pid}) did not "
                                  + ("get ready within 120s" if until_ready else "report"))
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                data += chunk
            return data

        deadline = time.monotonic() + 120
        for ch in children:
            if read_out(ch, deadline, True) != b"ready\n":
                raise Failure(f"a generator process failed (exit {ch.wait(5)})")
        t = times()
        for ch in children:
            ch.stdin.write(b"%d %d %d %d\n" % (*t, t[2] + int(args.grace * 1e9)))
            ch.stdin.close()
        sample_server(*t)
        results = []
        deadline = time.monotonic() + args.grace + 120
        for ch in children:
            data = read_out(ch, deadline, False)
            rc = ch.wait(max(1, deadline - time.monotonic()))
            if rc != 0 or not data.strip():
                raise Failure(f"a generator process failed (exit {rc})")
            results.append(json.loads(data.splitlines()[-1]))
        return results
    finally:
        for ch in children:
            if ch.poll() is None:
                ch.kill()
                ch.wait()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


def report(args, r, srv, npairs, procs, out):
    wall = (srv["t1"][2] - srv["t0"][2]) / 1e9
    srv_cpu = 100 * (srv["t1"][0] - srv["t0"][0]) / wall
    redis_cpu = 100 * (srv["t1"][1] - srv["t0"][1]) / wall
    gen_cpu = [100 * c / wall for c in r["cpu_s"]]
    all_lat = Lat()
    for v in r["lat"].values():
        all_lat.add({"max": v.max, "hist": v.counts.items()})
    n_req = all_lat.n
    errors = sum(r["errors"].values())
    gigs_s = r["complete"] / wall

    def ms(values, q):
        return values.percentile(q) / 1e6

    log(f"complete gigs: {r['complete']} in {wall:.2f}s = {gigs_s:.0f}/s; requests answered "
        f"{n_req} = {n_req / wall:.0f}/s; failed gigs {r['failed']}, errors {errors}"
        + (f" ({', '.join(f'{k} x{v}' for k, v in sorted(r['errors'].items()))})" if errors else "")
        + f"; recoveries {r['recoveries']} ({r['other']} extra requests), pairs stopped "
          f"{r['dead']}, still running after the grace period {r['stalled']}")
    log(f"latency per request: p50 {ms(all_lat, 50):.2f} ms, p99 {ms(all_lat, 99):.2f} ms, "
        f"max {ms(all_lat, 100):.2f} ms")
    for step in STEPS:
        v = r["lat"].get(step)
        if v and v.n:
            log(f"  {step:12s} n={v.n:7d}  p50 {ms(v, 50):6.2f} ms  p99 {ms(v, 99):6.2f} ms  "
                f"max {ms(v, 100):7.2f} ms")
    n = r["complete"] or float("nan")
    per_gig = (srv["t1"][0] - srv["t0"][0]) * 1e6 / n
    redis_per_gig = (srv["t1"][1] - srv["t0"][1]) * 1e6 / n
    gen_per_gig = sum(r["cpu_s"]) * 1e6 / n
    log(f"CPU over the window (% of one core): server {srv_cpu:.0f}%, redis {redis_cpu:.0f}%, "
        f"generator {' + '.join(f'{c:.0f}%' for c in gen_cpu)} (gigs per process "
        f"{', '.join(str(c) for c in r['per_proc'])}); {os.cpu_count()} cpus")
    log(f"CPU per complete gig: server {per_gig:.0f} us, redis {redis_per_gig:.0f} us, generator "
        f"{gen_per_gig:.0f} us. The server's loop and Redis are one thread each: with a core "
        f"each they would top out near {1e6 / per_gig:.0f} and {1e6 / redis_per_gig:.0f} gigs/s")
    saturated = max(gen_cpu) >= 85
    if saturated:
        log("the generator is the bottleneck (a process at >= 85% of a core): the gigs/s is a "
            "lower bound" + ("; try --procs 2 or more" if procs == 1 else ""))
    out.update(pairs=npairs, procs=procs, seconds=f"{wall:.2f}", gigs=r["complete"],
               gigs_per_s=f"{gigs_s:.0f}", requests_per_s=f"{n_req / wall:.0f}", errors=errors,
               failed_gigs=r["failed"], p50_ms=f"{ms(all_lat, 50):.2f}",
               p99_ms=f"{ms(all_lat, 99):.2f}", max_ms=f"{ms(all_lat, 100):.2f}",
               server_cpu_pct=f"{srv_cpu:.0f}", redis_cpu_pct=f"{redis_cpu:.0f}",
               gen_cpu_pct=f"{sum(gen_cpu):.0f}", gen_max_proc_pct=f"{max(gen_cpu):.0f}",
               gen_saturated=int(saturated), server_us_per_gig=f"{per_gig:.0f}",
               redis_us_per_gig=f"{redis_per_gig:.0f}", gen_us_per_gig=f"{gen_per_gig:.0f}")
    if r["complete"] == 0:
        raise Failure("no gig completed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="onair on 127.0.0.1:PORT")
    ap.add_argument("--accounts", required=True, help="bench/gig_setup.py --out file")
    ap.add_argument("--pid", type=int, help="the server process (CPU)")
    ap.add_argument("--redis-pid", type=int, help="its Redis (CPU)")
    ap.add_argument("--pairs", type=int, default=0, help="pairs to use (default: all)")
    ap.add_argument("--seconds", type=float, default=10, help="measuring window")
    ap.add_argument("--warmup", type=float, default=1, help="seconds before measuring")
    ap.add_argument("--grace", type=float, default=10,
                    help="seconds after the window for gigs under way to finish")
    ap.add_argument("--procs", type=int, default=1, help="generator processes")
    ap.add_argument("--location-every", type=float, default=240,
                    help="seconds between an operator's location updates")
    ap.add_argument("--verbose", action="store_true", help="log the first errors' bodies")
    ap.add_argument("--driver", default="auto",
                    help="the generator: bench/gig_driver's path, or python for the asyncio "
                    "loop (default: build/bench/gig_driver if built, else python)")
    args = ap.parse_args()
    if args.seconds <= 0 or args.procs < 1 or args.pairs < 0:
        ap.error("seconds and procs must be positive")
    out = {}
    rc = 0
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 4 * (args.pairs or 1000) + 256
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        run(args, out)
    except Failure as e:
        log(f"FAILED: {e}")
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    out["ok"] = int(rc == 0)
    print(" ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
