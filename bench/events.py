#!/usr/bin/python3
"""Load generator for GET /events (Server-Sent Events, docs/events.md).

Measures one running onair, started with ONAIR_TEST_HOOKS=1 (for
POST /_test/notify) and an ONAIR_EVENTS_MAX_PER_ACCOUNT of at least
streams/accounts, in two phases:

memory   Creates ACCOUNTS accounts (POST /accounts, a few at a time: each
         hashes a password), reads the server's VmRSS, opens STREAMS streams
         (STREAMS/ACCOUNTS per account) and waits for each one's `:ok`, then
         reads VmRSS again after a settle: (after - before) / STREAMS is the
         cost of one idle stream. It then sends one event to every account and
         checks that every stream receives it (so all of them are still open
         and subscribed), and closes them. Measure a freshly started server:
         memory that earlier streams freed is reused, not given back, so a
         second run on the same process shows close to nothing.

latency  Opens CLIENTS streams, one per account, and publishes RATE events a
         second for SECONDS seconds through POST /_test/notify, pipelined on a
         few keep-alive connections and spread round-robin over the clients'
         accounts. Each event's data is {"s": sequence, "t": send time}, the
         send time being time.monotonic_ns() (CLOCK_MONOTONIC, the same clock
         in every process of the machine) taken just before the request is
         written; a receiver's latency is its monotonic_ns() when the bytes
         reach Python minus that. Every event that was accepted (200) must
         arrive exactly once, on the right stream.

Process layout: one process, one asyncio loop, by default: a Protocol per
stream (no task per stream; only the `data:` line is parsed) and the
publisher on the same loop. Measured on the 2-core machine this was written
on (shared with redis and onair), at the default 1000 clients and 1000
events/s it uses 12-15% of one core in all, and the latency it reports is the
same as with the publisher in its own process (p99 2-3.5 ms either way), so
one process is not the bottleneck; at 5000 events/s it needs ~30% of a core,
and again splitting made no consistent difference. --split moves the
publisher to its own process (multiprocessing, spawn), for higher rates or
to check that the two sides do not disturb each other. What the generator adds is
measured, not assumed: a probe coroutine wakes every 10 ms on the receivers'
loop and records how late it runs, before publishing (the machine's noise)
and during it (loop_lag_*: a bound on how long a receive timestamp can have
waited behind the generator's own work; it includes ~0.5 ms of timer
rounding); the publisher records how far it fell behind its schedule
(pub_lag_max_ms); and the CPU use of the generator and of the server over
the publishing window is reported.

    bench/events.py --pid 1234 --port 8080 [--phase memory|latency|both]

Human-readable lines go to stderr; the last line of stdout is key=value pairs
for scripts. Exits non-zero when a connection or a stream cannot be opened, a
notification fails, a stream closes early or an event is lost or duplicated;
not when a budget is missed (the caller compares figures with budgets).
"""
import argparse
import asyncio
import collections
import gc
import json
import math
import multiprocessing
import os
import resource
import socket
import struct
import sys
import time

monotonic_ns = time.monotonic_ns
LINGER_RST = struct.pack("ii", 1, 0)


class Failure(Exception):
    """Ends the run with a message and a non-zero exit."""


def log(msg):
    print(f"events: {msg}", file=sys.stderr, flush=True)


def rss_kib(pid):
    """VmRSS of process pid, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError as e:
        raise Failure(f"cannot read /proc/{pid}/status: {e}")
    raise Failure(f"no VmRSS in /proc/{pid}/status")


def cpu_s(pid):
    """CPU time (user + system, all threads) process pid has used, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def raise_nofile(need):
    """Raises RLIMIT_NOFILE to at least need, the hard limit too when root."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError):
            raise Failure(f"open-file hard limit is {hard}, need {need}: run as root or raise it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def set_rst_on_close(transport):
    """Makes closing send RST, so thousands of closes leave no TIME_WAIT."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        except OSError:
            pass


# --- plain requests: keep-alive, pipelined --------------------------------------


class HttpConn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection. send() writes a request at once
    (pipelining) and queues it with its callback, called as cb(status, body)
    when its response has arrived. When the connection is lost, the requests
    still unanswered go to on_lost(conn, [(request, cb, tries)]) if set, else
    each gets cb(0, b""). `closing` is set by a `Connection: close` answer:
    the server reads nothing after it (onair does this after
    ONAIR_MAX_REQUESTS_PER_CONN requests). Responses must carry
    Content-Length (onair's do)."""

    def __init__(self):
        self.transport = None
        self.buf = b""
        self.pending = collections.deque()
        self.closing = False
        self.closed = False
        self.error = None
        self.on_lost = None

    @classmethod
    async def open(cls, port, timeout):
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(cls, "127.0.0.1", port), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise Failure(f"cannot connect to 127.0.0.1:{port}: {e!r}")
        return conn

    def connection_made(self, transport):
        self.transport = transport

    def send(self, data, cb, tries=1):
        if self.closed:
            cb(0, b"")
            return
        self.pending.append((data, cb, tries))
        self.transport.write(data)

    async def call(self, data, timeout):
        """Sends one request and waits for its response: (status, body)."""
        fut = asyncio.get_running_loop().create_future()

        def done(status, body):
            if not fut.done():
                fut.set_result((status, body))

        self.send(data, done)
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise Failure(f"no response within {timeout}s to {data.split(b' ', 2)[:2]}")

    def data_received(self, data):
        buf = self.buf + data if self.buf else data
        pos = 0
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
            self.pending.popleft()[1](status, body)
        self.buf = buf[pos:]

    def connection_lost(self, exc):
        self.closed = True
        self.closing = True
        left, self.pending = list(self.pending), collections.deque()
        if self.on_lost is not None:
            self.on_lost(self, left)
        else:
            for _, cb, _ in left:
                cb(0, b"")

    def close(self):
        self.on_lost = None
        if self.transport is not None:
            self.transport.close()


def request(port, method, path, body=None, headers=""):
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
    if body is None:
        return f"{head}\r\n".encode()
    return (f"{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


# --- accounts ---------------------------------------------------------------------


async def create_accounts(port, count, concurrency, timeout):
    """Creates count user accounts, concurrency requests in flight (each on
    its own keep-alive connection). Returns [(account id, token)]."""
    run = f"{os.getpid()}-{time.time_ns() // 1000000}"
    conns = [await HttpConn.open(port, timeout) for _ in range(min(concurrency, count))]
    accounts = [None] * count
    next_index = 0
    started = time.monotonic()
    last_report = started
    deadline = started + timeout
    limited = []

    async def worker(k):
        nonlocal next_index, last_report
        conn = conns[k]
        while next_index < count:
            i = next_index
            next_index += 1
            body = json.dumps({
                "type": "user", "firstName": "Bench", "lastName": f"Events{i}",
                "identities": [{"type": "email", "value": f"ev-{run}-{i}@bench.test"}],
                "password": "bench-password"}, separators=(",", ":")).encode()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Failure(f"timed out creating accounts ({i} of {count} started)")
                if conn.closing:  # the server ended this keep-alive connection
                    conn.close()
                    conn = conns[k] = await HttpConn.open(port, timeout)
                status, resp = await conn.call(request(port, "POST", "/accounts", body), remaining)
                if status == 429:  # the per-IP limit: the runner raises it; wait if not
                    if not limited:
                        limited.append(i)
                        log("POST /accounts answered 429: raise ONAIR_AUTH_IP_RATE_PER_MIN; "
                            "waiting and retrying")
                    await asyncio.sleep(1.0)
                    continue
                break
            if status != 201:
                raise Failure(f"POST /accounts answered {status}: {resp[:300]!r}"
                              + (f" ({conn.error})" if conn.error else ""))
            doc = json.loads(resp)
            accounts[i] = (doc["account"]["id"], doc["token"])
            now = time.monotonic()
            if now - last_report >= 10:
                last_report = now
                done = sum(a is not None for a in accounts)
                log(f"  {done} of {count} accounts created")

    try:
        await asyncio.gather(*(worker(k) for k in range(len(conns))))
    finally:
        for c in conns:
            c.close()
    log(f"created {count} accounts in {time.monotonic() - started:.1f}s")
    return accounts


# --- streams ----------------------------------------------------------------------


class Stream(asyncio.Protocol):
    """One GET /events. `ready` resolves to the response status once the
    stream is subscribed (200 when `:ok` has arrived), or to the status (0
    when none) if the server refused or closed it. Each event's `data:` line
    (its bytes after "data:") goes to sink(stream, line, receive_ns)."""

    __slots__ = ("request", "acct", "sink", "transport", "buf", "in_body", "status",
                 "ready", "closed", "events", "last")

    def __init__(self, req, acct, sink, ready):
        self.request = req
        self.acct = acct
        self.sink = sink
        self.transport = None
        self.buf = b""
        self.in_body = False
        self.status = 0
        self.ready = ready
        self.closed = False
        self.events = 0  # per phase, kept by the sink
        self.last = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def _resolve(self, status):
        if not self.ready.done():
            self.ready.set_result(status)

    def data_received(self, data):
        now = monotonic_ns()
        buf = self.buf + data if self.buf else data
        if not self.in_body:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                if len(buf) > 16384:
                    self.transport.abort()
                self.buf = buf
                return
            try:
                self.status = int(buf[9:12])
            except ValueError:
                self.status = -1
            if self.status != 200:
                self._resolve(self.status)
                self.transport.abort()
                return
            self.in_body = True
            buf = buf[head_end + 4:]
        pos = 0
        while True:
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            block = buf[pos:end]
            pos = end + 2
            if block.startswith(b"data:"):
                i = 0
            else:
                if block.startswith(b":ok"):
                    self._resolve(200)
                i = block.find(b"\ndata:")
                if i < 0:
                    continue  # a comment (heartbeat) or a block without data
                i += 1
            j = block.find(b"\n", i)
            self.sink(self, block[i + 5:j if j >= 0 else len(block)], now)
        self.buf = buf[pos:]

    def connection_lost(self, exc):
        self.closed = True
        self._resolve(self.status if self.status != 200 else 0)


class StreamSet:
    """Opens and tracks streams; counts refusals."""

    def __init__(self, port, retry_429_s):
        self.port = port
        self.retry_429_s = retry_429_s
        self.streams = []
        self.retried_429 = 0

    async def open_one(self, token, acct, sink, deadline):
        loop = asyncio.get_running_loop()
        req = (f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
               f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode()
        give_up_429 = time.monotonic() + self.retry_429_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"timed out opening streams ({len(self.streams)} open)")
            ready = loop.create_future()
            try:
                transport, stream = await asyncio.wait_for(loop.create_connection(
                    lambda: Stream(req, acct, sink, ready), "127.0.0.1", self.port), remaining)
            except asyncio.TimeoutError:
                continue  # the deadline check above ends it
            except OSError as e:
                raise Failure(f"connect failed with {len(self.streams)} streams open: {e}")
            try:
                status = await asyncio.wait_for(asyncio.shield(ready), deadline - time.monotonic())
            except asyncio.TimeoutError:
                transport.abort()
                raise Failure(f"a stream got no `:ok` in time ({len(self.streams)} open; "
                              f"status {stream.status or 'none'})")
            if status == 200:
                set_rst_on_close(transport)
                self.streams.append(stream)
                return stream
            transport.abort()
            if status == 429 and time.monotonic() < give_up_429:
                # The per-account cap: a closed stream's lease may not be gone yet.
                self.retried_429 += 1
                await asyncio.sleep(0.2)
                continue
            if status == 429:
                raise Failure(f"GET /events answered 429 for {self.retry_429_s:g}s to account "
                              f"#{acct} ({len(self.streams)} streams open): is "
                              "ONAIR_EVENTS_MAX_PER_ACCOUNT at least streams/accounts?")
            raise Failure(f"GET /events answered {status or 'nothing (closed)'} "
                          f"with {len(self.streams)} streams open")

    async def open_many(self, specs, sink, window, timeout):
        """Opens a stream for each (token, acct) in specs, window at a time."""
        deadline = time.monotonic() + timeout
        sem = asyncio.Semaphore(window)
        started = time.monotonic()
        last_report = started
        total = len(specs)

        async def one(token, acct):
            nonlocal last_report
            async with sem:
                await self.open_one(token, acct, sink, deadline)
            now = time.monotonic()
            if now - last_report >= 10:
                last_report = now
                log(f"  {len(self.streams)} of {total} streams open")

        tasks = [asyncio.ensure_future(one(t, a)) for t, a in specs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        elapsed = time.monotonic() - started
        log(f"opened {total} streams in {elapsed:.1f}s ({total / max(elapsed, 1e-9):.0f}/s)"
            + (f"; {self.retried_429} answers 429 retried" if self.retried_429 else ""))

    def closed_count(self):
        return sum(s.closed for s in self.streams)

    async def close_all(self):
        for s in self.streams:
            if not s.closed:
                s.transport.close()  # RST: SO_LINGER 0 was set when it opened
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.streams = []


# --- publishing -------------------------------------------------------------------


class Publisher:
    """Sends POST /_test/notify on a few keep-alive connections, pipelined,
    round-robin. A connection the server closes (after `Connection: close`,
    e.g. at ONAIR_MAX_REQUESTS_PER_CONN) is replaced, and the requests it left
    unanswered, which the server never read, are sent again on the others
    (once: a second loss is a failure)."""

    MAX_RECONNECTS = 100

    def __init__(self, port, conns, timeout):
        self.port = port
        self.timeout = timeout
        self.conns = conns
        for c in conns:
            c.on_lost = self._lost
        self.rr = 0
        self.waiting = []  # requests with no open connection to go on yet
        self.replacing = set()
        self.head = (f"POST /_test/notify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Content-Type: application/json\r\nContent-Length: ").encode()
        self.written = 0
        self.ok = 0
        self.failed = 0
        self.reconnects = 0
        self.resent = 0
        self.first_error = None
        self.last_ok_ns = 0

    @classmethod
    async def open(cls, port, nconns, timeout):
        return cls(port, [await HttpConn.open(port, timeout) for _ in range(nconns)], timeout)

    def pending(self):
        return sum(len(c.pending) for c in self.conns) + len(self.waiting)

    def _send(self, data, cb, tries=1):
        n = len(self.conns)
        for k in range(n):
            c = self.conns[(self.rr + k) % n]
            if not c.closing:
                self.rr = (self.rr + k + 1) % n
                c.send(data, cb, tries)
                return
        self.waiting.append((data, cb, tries))

    def _lost(self, conn, left):
        if self.reconnects >= self.MAX_RECONNECTS:
            self._fail_all(left, "the server closed too many connections")
            return
        self.reconnects += 1
        self.replacing.add(asyncio.ensure_future(self._replace(self.conns.index(conn))))
        for data, cb, tries in left:
            if tries > 1:
                cb(0, b"")
            else:
                self.resent += 1
                self._send(data, cb, tries + 1)

    async def _replace(self, index):
        try:
            conn = await HttpConn.open(self.port, self.timeout)
        except Failure as e:
            self._fail_all([], str(e))
            return
        conn.on_lost = self._lost
        self.conns[index] = conn
        waiting, self.waiting = self.waiting, []
        for data, cb, tries in waiting:
            self._send(data, cb, tries)

    def _fail_all(self, left, why):
        if self.first_error is None:
            self.first_error = why
        for _, cb, _ in left + self.waiting:
            cb(0, b"")
        self.waiting = []

    def _done(self, status, body):
        if status == 200:
            self.ok += 1
            self.last_ok_ns = monotonic_ns()
        else:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{status or 'connection lost'} {body[:200]!r}"

    def notify(self, account_id, seq):
        """Publishes {"s": seq, "t": now} to account_id, now taken last."""
        t = monotonic_ns()
        body = b'{"to":"%s","event":"bench","data":{"s":%d,"t":%d}}' % (account_id, seq, t)
        self._send(self.head + b"%d\r\n\r\n" % len(body) + body, self._done)
        self.written += 1

    async def drain(self, timeout):
        """Waits for every response; False when some are still missing."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self.pending()

    def close(self):
        for t in self.replacing:
            t.cancel()
        for c in self.conns:
            c.close()


async def publish_paced(port, ids, rate, duration, nconns, start_ns, timeout,
                        max_outstanding):
    """Publishes rate*duration events, event i (sequence i) to ids[i % len]
    at start_ns + i/rate (open loop: never waits for answers, so a slow
    server shows as latency, not as a lower rate). Returns a dict of stats."""
    ids = [i.encode() for i in ids]
    pub = await Publisher.open(port, nconns, timeout)
    quiet_gc()
    total = int(rate * duration)
    period_ns = 1e9 / rate
    naccts = len(ids)
    cpu0 = own_cpu_s()
    now = monotonic_ns()
    if start_ns > now:
        await asyncio.sleep((start_ns - now) / 1e9)
    t0 = monotonic_ns()
    max_lag_ns = 0
    max_pending = 0
    i = 0
    notify = pub.notify
    while i < total:
        now = monotonic_ns()
        due = min(total, int((now - t0) / period_ns) + 1)
        if due > i:
            lag = now - (t0 + i * period_ns)
            if lag > max_lag_ns:
                max_lag_ns = lag
            while i < due:
                notify(ids[i % naccts], i)
                i += 1
            p = pub.pending()
            if p > max_pending:
                max_pending = p
                if p > max_outstanding:
                    pub.close()
                    raise Failure(f"{p} notifications unanswered: the server is not keeping up")
        if i < total:
            await asyncio.sleep(max(0.0, (t0 + i * period_ns - monotonic_ns()) / 1e9))
    t_last_write = monotonic_ns()
    drained = await pub.drain(timeout)
    cpu = own_cpu_s() - cpu0
    pub.close()
    window_s = (t_last_write - t0) / 1e9 + 1 / rate
    ok_window_s = ((pub.last_ok_ns or t_last_write) - t0) / 1e9 + 1 / rate
    return {
        "written": pub.written, "ok": pub.ok, "failed": pub.failed,
        "unanswered": pub.pending() if not drained else 0,
        "first_error": pub.first_error,
        "reconnects": pub.reconnects, "resent": pub.resent,
        "t0_ns": t0, "last_ok_ns": pub.last_ok_ns,
        "write_rate": pub.written / window_s, "rate": pub.ok / ok_window_s,
        "max_lag_ms": max_lag_ns / 1e6, "max_pending": max_pending,
        "cpu_s": cpu, "wall_s": (monotonic_ns() - t0) / 1e9,
    }


def _publisher_child(pipe, args):
    """Entry point of the publisher process (--split)."""
    try:
        res = asyncio.run(publish_paced(*args))
    except Failure as e:
        res = {"error": str(e)}
    except Exception as e:  # anything else must still reach the parent
        res = {"error": f"publisher crashed: {e!r}"}
    pipe.send(res)
    pipe.close()


# --- metrics ----------------------------------------------------------------------


async def server_streams(port, timeout):
    """onair_sse_streams from GET /metrics, or None when absent."""
    conn = await HttpConn.open(port, timeout)
    try:
        status, body = await conn.call(request(port, "GET", "/metrics"), timeout)
    finally:
        conn.close()
    if status != 200:
        return None
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("onair_sse_streams"):
            parts = line.split()
            if parts[0] in ("onair_sse_streams", "onair_sse_streams{}"):
                return float(parts[-1])
    return None


async def wait_streams_gone(port, timeout):
    """Waits until the server counts no open stream (bounded); logs how long."""
    started = time.monotonic()
    n = None
    while time.monotonic() - started < timeout:
        n = await server_streams(port, 5)
        if n is None or n == 0:
            break
        await asyncio.sleep(0.1)
    if n is None:
        log("GET /metrics has no onair_sse_streams; not waiting for the server to drop streams")
    elif n:
        log(f"the server still counts {n:.0f} open streams {timeout:.0f}s after all were closed")
    else:
        log(f"the server counted every stream closed within {time.monotonic() - started:.1f}s")


# --- phases -----------------------------------------------------------------------


def parse_data(line):
    """(seq, send_ns) from a data line, or None."""
    try:
        d = json.loads(line)
        return int(d["s"]), int(d["t"])
    except (ValueError, KeyError, TypeError):
        return None


async def phase_memory(args, accounts, out):
    per = args.streams // args.accounts
    log(f"memory: {args.streams} streams, {per} per account over {args.accounts} accounts")
    bad = []

    def sink(stream, line, now):
        parsed = parse_data(line)
        stream.events += 1
        stream.last = parsed[0] if parsed else None
        if parsed is None:
            bad.append(line)

    await asyncio.sleep(args.settle)
    before = rss_kib(args.pid)
    streams = StreamSet(args.port, args.retry_429)
    specs = [(accounts[i % args.accounts][1], i % args.accounts) for i in range(args.streams)]
    try:
        await streams.open_many(specs, sink, args.window, args.timeout)
        await asyncio.sleep(args.settle)
        after = rss_kib(args.pid)
        per_stream = (after - before) / args.streams
        log(f"memory: RSS {before} KiB -> {after} KiB with {args.streams} streams: "
            f"{per_stream:.2f} KiB per stream")
        out.update(streams=args.streams, rss_before_kib=before, rss_after_kib=after,
                   kib_per_stream=f"{per_stream:.2f}")
        closed = streams.closed_count()
        if closed:
            raise Failure(f"the server closed {closed} of {args.streams} idle streams")
        # Every stream must still be open and subscribed: one event per account.
        pub = await Publisher.open(args.port, args.publishers, args.timeout)
        sent_at = time.monotonic()
        for a in range(args.accounts):
            pub.notify(accounts[a][0].encode(), a)
        ok = await pub.drain(args.timeout)
        pub.close()
        if not ok or pub.failed:
            raise Failure(f"memory check: {pub.failed} notifications failed "
                          f"({pub.first_error}), {pub.pending()} unanswered")
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            if all(s.events or s.closed for s in streams.streams):
                break
            await asyncio.sleep(0.05)
        missing = sum(1 for s in streams.streams if s.events == 0)
        wrong = sum(1 for s in streams.streams if s.events and (s.events != 1 or s.last != s.acct))
        closed = streams.closed_count()
        log(f"memory check: one event to each of {args.accounts} accounts: "
            f"{args.streams - missing} of {args.streams} streams got theirs in "
            f"{time.monotonic() - sent_at:.2f}s; RSS now {rss_kib(args.pid)} KiB")
        if bad:
            raise Failure(f"memory check: unparsable data lines, e.g. {bad[0][:200]!r}")
        if missing or wrong or closed:
            raise Failure(f"memory check: {missing} streams got no event, {wrong} got the "
                          f"wrong or several, {closed} were closed by the server")
    finally:
        await streams.close_all()


async def phase_latency(args, accounts, out):
    clients = args.clients
    total = int(args.rate * args.seconds)
    log(f"latency: {clients} clients, {args.rate:g} events/s for {args.seconds:g}s "
        f"({total} events), publisher {'in its own process' if args.split else 'in-process'}")
    got = bytearray(total)
    lat = []
    state = {"dup": 0, "misrouted": 0, "bad": 0, "received": 0, "warm": False}
    n = clients

    def sink(stream, line, now):
        parsed = parse_data(line)
        if parsed is None:
            state["bad"] += 1
            return
        seq, t = parsed
        if not state["warm"] or not 0 <= seq < total:
            state["bad"] += 1  # not one of this phase's events
            return
        if seq % n != stream.acct:
            state["misrouted"] += 1
        if got[seq]:
            state["dup"] += 1
            return
        got[seq] = 1
        state["received"] += 1
        lat.append(now - t)

    streams = StreamSet(args.port, args.retry_429)
    specs = [(accounts[i][1], i) for i in range(clients)]
    ids = [accounts[i][0] for i in range(clients)]
    lags = []
    idle_lags = []
    lag_sink = [lags]

    async def probe():
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lag_sink[0].append(loop.time() - t - 0.01)

    def lag_ms(values, q):
        return percentile(values, q) * 1e3

    probe_task = None
    pub_task = None
    child = None
    try:
        await streams.open_many(specs, sink, args.window, args.timeout)
        quiet_gc()
        state["warm"] = True
        # The probe runs before publishing too: how late an idle loop wakes up
        # on this machine, as it is loaded now, is the floor of what follows.
        probe_task = asyncio.ensure_future(probe())
        start_ns = monotonic_ns() + int(max(args.baseline, 1.5 if args.split else 0) * 1e9)
        pub_args = (args.port, ids, args.rate, args.seconds, args.publishers, start_ns,
                    args.timeout, max(1000, int(args.rate * 5)))
        if args.split:
            ctx = multiprocessing.get_context("spawn")
            parent_end, child_end = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_publisher_child, args=(child_end, pub_args),
                                name="events-publisher", daemon=True)
            child.start()
            child_end.close()
        else:
            pub_task = asyncio.ensure_future(publish_paced(*pub_args))
        # CPU and loop lag are measured from when publishing starts.
        await asyncio.sleep(max(0.0, (start_ns - monotonic_ns()) / 1e9))
        probe_task.cancel()
        idle_lags = sorted(lags)
        lags = lag_sink[0] = []
        srv_cpu0 = cpu_s(args.pid)
        own0 = own_cpu_s()
        wall0 = monotonic_ns()
        probe_task = asyncio.ensure_future(probe())
        if args.split:
            limit = time.monotonic() + args.seconds + 2 * args.timeout + 10
            while not parent_end.poll():
                if time.monotonic() > limit or not child.is_alive() and not parent_end.poll():
                    raise Failure("the publisher process ended without a result")
                await asyncio.sleep(0.05)
            res = parent_end.recv()
            child.join(5)
        else:
            try:
                res = await pub_task
            except Failure as e:
                res = {"error": str(e)}
        if "error" in res:
            raise Failure(f"publisher: {res['error']}")
        # Wait for the stragglers: everything accepted must arrive.
        deadline = time.monotonic() + args.drain
        while state["received"] < res["ok"] and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        wall = (monotonic_ns() - wall0) / 1e9
        own_cpu = own_cpu_s() - own0
        srv_cpu = cpu_s(args.pid) - srv_cpu0
        probe_task.cancel()
        closed = streams.closed_count()
    finally:
        if probe_task is not None:
            probe_task.cancel()
        if pub_task is not None:
            pub_task.cancel()
        if child is not None and child.is_alive():
            child.kill()
            child.join(5)
        await streams.close_all()

    lat.sort()
    lags.sort()
    ms = [percentile(lat, q) / 1e6 for q in (50, 90, 99, 100)]
    received = state["received"]
    lost = res["ok"] - received
    pub_cpu_pct = 100 * res["cpu_s"] / res["wall_s"]
    recv_cpu_pct = 100 * own_cpu / wall
    log(f"latency: sent {res['written']} ({res['ok']} accepted, {res['failed']} failed, "
        f"{res['unanswered']} unanswered); achieved {res['rate']:.0f}/s accepted, "
        f"{res['write_rate']:.0f}/s written; publisher at most {res['max_lag_ms']:.1f} ms "
        f"behind schedule, {res['max_pending']} unanswered at most"
        + (f"; {res['reconnects']} connections closed by the server and replaced, "
           f"{res['resent']} requests sent again" if res["reconnects"] else ""))
    log(f"latency: received {received} of {res['ok']}, lost {lost}, duplicates {state['dup']}, "
        f"misrouted {state['misrouted']}, unexpected {state['bad']}; "
        f"{closed} streams closed by the server")
    log(f"latency: p50 {ms[0]:.2f} ms, p90 {ms[1]:.2f} ms, p99 {ms[2]:.2f} ms, "
        f"max {ms[3]:.2f} ms")
    log(f"generator: a 10 ms timer on the receivers' loop woke late by p50/p99/max "
        f"{lag_ms(idle_lags, 50):.2f}/{lag_ms(idle_lags, 99):.2f}/{lag_ms(idle_lags, 100):.2f}"
        f" ms before publishing, {lag_ms(lags, 50):.2f}/{lag_ms(lags, 99):.2f}/"
        f"{lag_ms(lags, 100):.2f} ms during it")
    log(f"generator: CPU receivers {recv_cpu_pct:.0f}%"
        + (f", publisher {pub_cpu_pct:.0f}%" if args.split else " (publisher included)")
        + f"; server CPU {100 * srv_cpu / wall:.0f}% of one core")
    out.update(clients=clients, sent=res["written"], accepted=res["ok"], received=received,
               lost=lost + res["failed"] + res["unanswered"], dup=state["dup"],
               rate=f"{res['rate']:.0f}", write_rate=f"{res['write_rate']:.0f}",
               p50_ms=f"{ms[0]:.2f}", p90_ms=f"{ms[1]:.2f}", p99_ms=f"{ms[2]:.2f}",
               max_ms=f"{ms[3]:.2f}",
               idle_lag_p99_ms=f"{lag_ms(idle_lags, 99):.2f}",
               loop_lag_p99_ms=f"{lag_ms(lags, 99):.2f}",
               loop_lag_max_ms=f"{lag_ms(lags, 100):.2f}",
               pub_lag_max_ms=f"{res['max_lag_ms']:.2f}",
               gen_cpu_pct=f"{recv_cpu_pct + (pub_cpu_pct if args.split else 0):.0f}",
               server_cpu_pct=f"{100 * srv_cpu / wall:.0f}")
    problems = []
    if res["failed"] or res["unanswered"]:
        problems.append(f"{res['failed']} notifications failed ({res['first_error']}), "
                        f"{res['unanswered']} unanswered")
    if lost:
        problems.append(f"{lost} accepted events never arrived")
    if state["dup"] or state["misrouted"] or state["bad"]:
        problems.append(f"{state['dup']} duplicates, {state['misrouted']} on the wrong stream, "
                        f"{state['bad']} unexpected")
    if closed:
        problems.append(f"the server closed {closed} streams")
    if problems:
        raise Failure("latency: " + "; ".join(problems))


def quiet_gc():
    """No cyclic GC pauses while measuring: what the run allocates is freed
    by reference counting, and a full collection over thousands of streams
    would stall the loop for milliseconds."""
    gc.collect()
    gc.freeze()
    gc.disable()


async def run(args, out):
    need = 0
    if args.phase in ("memory", "both"):
        need = args.accounts
    if args.phase in ("latency", "both"):
        need = max(need, args.clients)
    accounts = None
    if args.accounts_cache and os.path.exists(args.accounts_cache):
        with open(args.accounts_cache) as f:
            cached = json.load(f)
        if cached.get("port") == args.port and len(cached["accounts"]) >= need:
            accounts = [tuple(a) for a in cached["accounts"]]
            log(f"using {len(accounts)} accounts from {args.accounts_cache}")
    if accounts is None:
        accounts = await create_accounts(args.port, need, args.create_concurrency,
                                         max(args.timeout, need * 0.5))
        if args.accounts_cache:
            with open(args.accounts_cache, "w") as f:
                json.dump({"port": args.port, "accounts": accounts}, f)
    if args.phase in ("memory", "both"):
        await phase_memory(args, accounts, out)
    if args.phase == "both":
        await wait_streams_gone(args.port, 10)
        log(f"server RSS with every stream closed: {rss_kib(args.pid)} KiB")
    if args.phase in ("latency", "both"):
        await phase_latency(args, accounts, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pid", type=int, required=True, help="server process (for VmRSS)")
    ap.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
    ap.add_argument("--phase", choices=("memory", "latency", "both"), default="both")
    ap.add_argument("--accounts", type=int, default=1000, help="memory: accounts")
    ap.add_argument("--streams", type=int, default=10000, help="memory: streams in all")
    ap.add_argument("--clients", type=int, default=1000,
                    help="latency: streams, one per account")
    ap.add_argument("--rate", type=float, default=1000, help="latency: events per second")
    ap.add_argument("--seconds", type=float, default=10, help="latency: publishing time")
    ap.add_argument("--publishers", type=int, default=4,
                    help="keep-alive connections for POST /_test/notify")
    ap.add_argument("--split", action=argparse.BooleanOptionalAction, default=False,
                    help="publisher in its own process, or on the receivers' loop (default)")
    ap.add_argument("--create-concurrency", type=int, default=8,
                    help="POST /accounts in flight (each hashes a password)")
    ap.add_argument("--accounts-cache", metavar="FILE",
                    help="reuse the accounts (ids and tokens) saved in FILE by an earlier "
                    "run against the same server and port, or save them there")
    ap.add_argument("--window", type=int, default=256, help="streams being opened at once")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds for each step (opening streams, answers)")
    ap.add_argument("--drain", type=float, default=10.0,
                    help="seconds to wait for events still on their way")
    ap.add_argument("--baseline", type=float, default=2.0,
                    help="latency: seconds of loop-lag probing before publishing")
    ap.add_argument("--retry-429", type=float, default=10.0,
                    help="seconds to keep retrying a stream refused with 429 (a closed "
                    "stream's lease that the server has not dropped yet)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before each RSS reading")
    args = ap.parse_args()
    if min(args.accounts, args.streams, args.clients, args.publishers, args.window,
           args.create_concurrency) < 1 or args.rate <= 0 or args.seconds <= 0:
        ap.error("counts, rate and seconds must be positive")
    if args.phase != "latency" and args.streams % args.accounts:
        ap.error("--streams must be a multiple of --accounts")

    out = {}
    rc = 0
    try:
        streams = args.streams if args.phase != "latency" else 0
        raise_nofile(max(streams, args.clients) + 256)
        asyncio.run(run(args, out))
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
