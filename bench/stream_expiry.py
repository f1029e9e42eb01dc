#!/usr/bin/python3
"""How late silent dealer streams expire (bench/run.sh: stream_expiry).

Against one running onair started with ONAIR_PING_TIMEOUT_MS=T and the
dealers of bench/stream_setup.py (--accounts: ORGS organizations, dealer i in
organization i % ORGS):

1. The first dealer of each organization (the "sentinel") goes online and
   pings, and keeps pinging: it is the one dealer eligible for the
   organization's requests, so each request is offered to it alone (one
   `requested` event) and is not `missed-offline`. It never accepts.
2. SSE dealers (--sse) open GET /events.
3. STREAMS requests, one per streaming dealer (the dealers after the
   sentinels), each accepted by its dealer at once (a dealer need not have
   been offered a stream to accept it), CONCURRENCY at a time.
4. Every streaming dealer pings once, as fast as the server takes them: this
   sets each stream's expiresAt to that ping + T, so the expiries fall within
   the few seconds of this round ("burst_s"), whatever the set-up took. T must
   outlast steps 3-4 so that every stream is live at once; this is checked
   (live= counts the streams found `streaming` with a future expiry right
   after the round, read from Redis).
5. Nobody pings any more. Once the last expiry is past, the streams' hashes
   are read from Redis until each has left `streaming`.

The figure is, per stream, endedAt - expiresAt: both written by the server
(expiresMs by the ping script, endedAt, ISO 8601 with milliseconds, by the
expiry script of whichever instance's reaper fired the deadline), so it is an
exact server-side measure of how late the stream was marked `expired`
(reaper tick, claiming batches, the expiry scripts and Redis queueing), free
of any client clock or scheduling. p50/p99/max over every stream.

Also reported, as a client-side view: for the SSE dealers, the wall-clock
time the `expired` event reached this process minus expiresAt (same machine,
same clock), whether each got it exactly once, and the CPU the server and
Redis used during the burst.

    bench/stream_expiry.py --port P --pid PID --redis-sock S --prefix streambench: \\
        --accounts accounts.json --streams 10000 --ping-timeout-ms 15000

Human-readable lines go to stderr; the last line of stdout is key=value pairs.
Exits non-zero when a request fails or a stream never expires; not when the
budget is missed (bench/run.sh compares).
"""
import argparse
import asyncio
import calendar
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from setup_common import (Conn, Failure, Redis, log, request, run_reporting,  # noqa: E402
                          run_requests, set_log_name)

VIN = "1HGCM82633A004352"


def iso_ms(s):
    """'2026-11-23T14:50:57.408Z' (str or bytes) as unix ms."""
    if isinstance(s, bytes):
        s = s.decode()
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(s[20:23])


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, -(-len(sorted_vals) * p // 100) - 1))
    return sorted_vals[int(k)]


def cpu_ticks(pid):
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return None


class Sse(asyncio.Protocol):
    """GET /events for one dealer; records (wall ns, data) of each `stream`
    event."""

    def __init__(self, token):
        self.token = token
        self.buf = b""
        self.head = None
        self.ready = asyncio.get_running_loop().create_future()
        self.events = []
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                        f"Authorization: Bearer {self.token}\r\n\r\n".encode())

    def data_received(self, data):
        now = time.time_ns()
        self.buf += data
        if self.head is None:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            self.head, self.buf = self.buf[:i], self.buf[i + 4:]
            if not self.head.startswith(b"HTTP/1.1 200"):
                self.ready.set_exception(Failure(f"GET /events: {self.head[:100]!r}"))
                return
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if line == b":ok" and not self.ready.done():
                self.ready.set_result(True)
            elif line.startswith(b"data: "):
                self.events.append((now, json.loads(line[6:])))

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_exception(Failure(f"GET /events closed: {exc!r}"))

    def close(self):
        if self.transport is not None:
            self.transport.close()


async def request_and_accept(port, jobs, concurrency):
    """jobs: [(org code, dealer token)]; each: POST /streams/request/<code>,
    then POST /streams/accept/<id> by the dealer. Returns the stream ids."""
    ids = [None] * len(jobs)
    nxt = 0
    conns = [await Conn.open(port) for _ in range(min(concurrency, len(jobs)))]

    async def call(k, data, want):
        while True:
            if conns[k].closing:
                conns[k].close()
                conns[k] = await Conn.open(port)
            status, body, _ = await conns[k].send(data)
            if status == 429:
                await asyncio.sleep(0.2)
                continue
            if status != want:
                raise Failure(f"{data.split(b' ', 2)[1].decode()} answered {status}: {body[:300]!r}")
            return json.loads(body)

    async def worker(k):
        nonlocal nxt
        while nxt < len(jobs):
            i = nxt
            nxt += 1
            code, token = jobs[i]
            doc = await call(k, request("POST", f"/streams/request/{code}", body={"vin": VIN}), 201)
            s = doc["stream"]
            if s["status"] != "requested":
                raise Failure(f"a request was not offered to anyone: {s}")
            doc = await call(k, request("POST", f"/streams/accept/{s['id']}", token), 200)
            ids[i] = s["id"]

    try:
        await asyncio.gather(*(worker(k) for k in range(len(conns))))
    finally:
        for c in conns:
            c.close()
    return ids


async def run(args, out):
    with open(args.accounts) as f:
        acc = json.load(f)
    orgs, dealers = acc["orgs"], acc["dealers"]
    k = len(orgs)
    if len(dealers) < k + args.streams:
        raise Failure(f"{len(dealers)} dealers: {k} sentinels and {args.streams} streamers "
                      f"need {k + args.streams}")
    sentinels = dealers[:k]                  # dealer i is in organization i % k
    streamers = [(orgs[i % k][1], dealers[i][1]) for i in range(k, k + args.streams)]
    rds = Redis(args.redis_sock)
    t_ms = args.ping_timeout_ms
    out["streams"] = args.streams

    # 1. the sentinels: online, and pinging until the streams are all live
    reqs = [(request("POST", "/accounts/status/online", tok), {200}) for _, tok in sentinels]
    await run_requests(args.port, reqs, 8, "sentinels online")
    pings = [(request("POST", "/ping", tok), {200}) for _, tok in sentinels]

    async def keep_pinging():
        while True:
            await run_requests(args.port, pings, 4, "sentinel pings")
            await asyncio.sleep(max(0.2, t_ms / 3000))

    keeper = asyncio.create_task(keep_pinging())
    await asyncio.sleep(0.1)

    # 2. dealers listening for their stream's events
    watched = list(range(min(args.sse, args.streams)))
    loop = asyncio.get_running_loop()
    sses = []
    for j in watched:
        _, proto = await loop.create_connection(lambda j=j: Sse(streamers[j][1]), "127.0.0.1",
                                                args.port)
        sses.append(proto)
    await asyncio.wait_for(asyncio.gather(*(s.ready for s in sses)), 60)
    log(f"{len(sses)} dealers on GET /events")

    # 3. a stream per dealer, accepted at once
    t0 = time.monotonic()
    ids = await request_and_accept(args.port, streamers, args.concurrency)
    t1 = time.monotonic()
    out["setup_s"] = round(t1 - t0, 1)
    log(f"{len(ids)} streams requested and accepted in {t1 - t0:.1f}s "
        f"({2 * len(ids) / (t1 - t0):.0f} requests/s)")

    # 4. one last ping each: the expiries fall within this round
    reqs = [(request("POST", "/ping", tok), {200}) for _, tok in streamers]
    await run_requests(args.port, reqs, args.concurrency, "streaming dealers' pings")
    t2 = time.monotonic()
    keeper.cancel()
    log(f"{len(reqs)} pings in {t2 - t1:.1f}s; nobody pings any more")
    keys = [f"{args.prefix}{{stream:{sid}}}" for sid in ids]
    now = int(time.time() * 1000)
    expires, live = {}, 0
    for sid, (st, ems) in zip(ids, rds.pipeline([("HMGET", key, "status", "expiresMs")
                                                  for key in keys])):
        if st == b"streaming" and ems and int(ems) > now:
            live += 1
            expires[sid] = int(ems)
    out["live"] = live
    if live < len(ids):
        log(f"ONLY {live} OF {len(ids)} STREAMS WERE LIVE after the ping round: the ping "
            f"timeout ({t_ms} ms) is shorter than the set-up ({t2 - t0:.1f}s); raise it")
    if not expires:
        raise Failure("no stream was live")
    first, last = min(expires.values()), max(expires.values())
    out["burst_s"] = round((last - first) / 1000, 2)
    log(f"{live} streams live; they expire from {(first - now) / 1000:.1f}s to "
        f"{(last - now) / 1000:.1f}s from now ({live / max(0.001, (last - first) / 1000):.0f}/s)")

    # 5. the expiries
    await asyncio.sleep(max(0, first / 1000 - time.time()))
    c_srv0, c_rds0, w0 = cpu_ticks(args.pid), cpu_ticks(args.redis_pid), time.monotonic()
    # Nothing is read while the streams expire (reading 10 000 hashes would
    # compete with the server for Redis): endedAt says when each one did.
    # Only the server's progress is watched, by the size of its deadline set.
    dl_key = f"{args.prefix}deadlines:stream"
    while rds.call("ZCARD", dl_key) and time.time() < last / 1000 + 30 + t_ms / 1000:
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.2)
    deadline = time.monotonic() + 30 + t_ms / 1000
    while True:
        replies = rds.pipeline([("HMGET", key, "status", "endedAt") for key in keys])
        pending = sum(1 for st, _ in replies if st == b"streaming")
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    c_srv1, c_rds1, w1 = cpu_ticks(args.pid), cpu_ticks(args.redis_pid), time.monotonic()
    hz = os.sysconf("SC_CLK_TCK")
    if c_srv0 is not None and c_srv1 is not None:
        out["server_cpu_pct"] = round(100 * (c_srv1 - c_srv0) / hz / (w1 - w0))
    if c_rds0 is not None and c_rds1 is not None:
        out["redis_cpu_pct"] = round(100 * (c_rds1 - c_rds0) / hz / (w1 - w0))
    delays, statuses = [], {}
    for sid, (st, ended) in zip(ids, replies):
        st = (st or b"?").decode()
        statuses[st] = statuses.get(st, 0) + 1
        if st == "expired" and sid in expires:
            delays.append(iso_ms(ended) - expires[sid])
    hist = {}
    for d in delays:
        b = next(b for b in (100, 250, 500, 1000, 2000, 5000, float("inf")) if d < b)
        hist[b] = hist.get(b, 0) + 1
    log("endedAt - expiresAt: " + ", ".join(f"<{b:g} ms: {n}" for b, n in sorted(hist.items())))
    delays.sort()
    out["expired"] = statuses.get("expired", 0)
    others = {s: n for s, n in statuses.items() if s != "expired"}
    if others:
        out["other"] = ",".join(f"{s}:{n}" for s, n in sorted(others.items()))
    out["min_ms"] = delays[0] if delays else "-"
    out["p50_ms"] = pct(delays, 50)
    out["p99_ms"] = pct(delays, 99)
    out["max_ms"] = delays[-1] if delays else "-"
    log(f"endedAt - expiresAt over {len(delays)} expired streams: min {out['min_ms']} "
        f"p50 {out['p50_ms']} p99 {out['p99_ms']} max {out['max_ms']} ms "
        f"(server CPU {out.get('server_cpu_pct', '?')}%, Redis {out.get('redis_cpu_pct', '?')}%)")

    # the events, as the watched dealers saw them
    await asyncio.sleep(1.0)
    lat, missing, dupes, wrong = [], 0, 0, 0
    for j, s in zip(watched, sses):
        got = [(t, d) for t, d in s.events if d.get("action") == "expired"]
        if len(got) == 0:
            missing += 1
            continue
        dupes += len(got) > 1
        t, d = got[0]
        if d["stream"]["id"] != ids[j]:
            wrong += 1
            continue
        lat.append(t / 1e6 - expires[ids[j]])
        s.close()
    lat.sort()
    out["sse"] = len(sses)
    out["sse_received"] = len(lat)
    out["sse_missing"] = missing
    out["sse_dupes"] = dupes
    out["sse_p50_ms"] = round(pct(lat, 50), 1) if lat else "-"
    out["sse_p99_ms"] = round(pct(lat, 99), 1) if lat else "-"
    out["sse_max_ms"] = round(lat[-1], 1) if lat else "-"
    log(f"`expired` events on GET /events: {len(lat)} of {len(sses)} dealers "
        f"(missing {missing}, twice {dupes}, wrong stream {wrong}); reception - expiresAt: "
        f"p50 {out['sse_p50_ms']} p99 {out['sse_p99_ms']} max {out['sse_max_ms']} ms")
    if pending:
        raise Failure(f"{pending} streams were still `streaming` {deadline - w0:.0f}s after "
                      f"their expiry")
    if missing or dupes or wrong:
        raise Failure("a dealer did not get its `expired` event exactly once")


def main():
    set_log_name("stream_expiry")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="onair on 127.0.0.1:PORT")
    ap.add_argument("--pid", type=int, help="its pid (CPU use)")
    ap.add_argument("--redis-pid", type=int, help="Redis's pid (CPU use)")
    ap.add_argument("--redis-sock", required=True, help="its Redis unix socket")
    ap.add_argument("--prefix", required=True, help="its ONAIR_KEY_PREFIX")
    ap.add_argument("--accounts", required=True, help="bench/stream_setup.py --out file")
    ap.add_argument("--streams", type=int, default=10000, help="streams (= streaming dealers)")
    ap.add_argument("--ping-timeout-ms", type=int, required=True,
                    help="the server's ONAIR_PING_TIMEOUT_MS")
    ap.add_argument("--sse", type=int, default=2000, help="dealers watching GET /events")
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    args = ap.parse_args()
    out = {}
    return run_reporting(run(args, out), out)


if __name__ == "__main__":
    sys.exit(main())
