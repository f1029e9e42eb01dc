"""What the Python benchmark scripts share (bench/events.py, gig_setup.py,
gig_lifecycle.py, idle_conns.py); not a script itself.

The scripts import it as `benchlib`: Python puts a script's own directory
first on sys.path, so this works from any working directory.

  Failure          the exception that ends a run with a message, exit 1
  run_main         runs a script's body: Failure / Ctrl-C -> exit status,
                   then the key=value result line
  result_line      prints that line (the last of stdout, for bench/run.sh)
  HttpConn         base asyncio protocol: one keep-alive HTTP/1.1
                   connection, pipelined requests, responses parsed
  Conn             HttpConn whose send(data) returns a future of
                   (status, body, latency_ns)
  run_workers      runs one coroutine per keep-alive connection, then
                   closes them
  rss_kib, cpu_s, own_cpu_s, raise_nofile, percentile, quiet_gc, LINGER_RST
"""
import asyncio
import collections
import gc
import math
import os
import resource
import struct
import time

LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class Failure(Exception):
    """Ends the run with a message and a non-zero exit."""


# --- a script's outcome -------------------------------------------------------------


def result_line(out, rc):
    """Prints out, with ok=1 (rc 0) or ok=0 added, as one line of key=value
    pairs: the last line of stdout, which bench/run.sh reads. Returns rc."""
    out["ok"] = int(rc == 0)
    print(" ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    return rc


def run_main(log, out, body):
    """Calls body(); a Failure is logged as FAILED and makes the exit status
    1, Ctrl-C 130. Then prints the result line of out; returns the status."""
    rc = 0
    try:
        body()
    except Failure as e:
        log(f"FAILED: {e}")
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    return result_line(out, rc)


# --- processes ----------------------------------------------------------------------


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
    """CPU time (user + system, all threads) process pid has used, in
    seconds; NaN when it cannot be read (or pid is None)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    """CPU time (user + system) this process has used, in seconds."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def raise_nofile(need, strict=True):
    """Raises RLIMIT_NOFILE to at least need, the hard limit too when root.
    When the hard limit is lower and cannot be raised: a Failure if strict,
    else the soft limit goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        if not strict:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError):
            raise Failure(f"open-file hard limit is {hard}, need {need}: run as root or raise it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def quiet_gc():
    """No cyclic GC pauses while measuring: what the run allocates is freed
    by reference counting, and a full collection over thousands of objects
    would stall the loop for milliseconds."""
    gc.collect()
    gc.freeze()
    gc.disable()


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (q in 0..100); NaN when
    it is empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- HTTP: lean keep-alive connections ----------------------------------------------


class HttpConn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to 127.0.0.1, requests pipelined.

    A subclass writes a request with self.transport.write() after appending
    an entry of its own to self.pending (one per request, in order), and
    implements answered(entry, status, body), called as each response
    arrives, and unanswered(entries), called with the entries still waiting
    when the connection is lost. `closing` is set by a `Connection: close`
    answer (the server reads nothing after it; onair does this after
    ONAIR_MAX_REQUESTS_PER_CONN requests) or a lost connection: open a new
    one then. `error` says why the connection was aborted, if it was.
    Responses must carry Content-Length (onair's do)."""

    __slots__ = ("transport", "buf", "pending", "closing", "error")

    def __init__(self):
        self.transport = None
        self.buf = b""
        self.pending = collections.deque()
        self.closing = False
        self.error = None

    @classmethod
    async def open(cls, port, timeout=30):
        """A connected instance, or a Failure."""
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(cls, "127.0.0.1", port), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise Failure(f"cannot connect to 127.0.0.1:{port}: {e!r}")
        return conn

    def connection_made(self, transport):
        self.transport = transport

    def answered(self, entry, status, body):
        raise NotImplementedError

    def unanswered(self, entries):
        raise NotImplementedError

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
            self.answered(self.pending.popleft(), status, body)
        self.buf = buf[pos:]

    def connection_lost(self, exc):
        self.closing = True
        left, self.pending = list(self.pending), collections.deque()
        self.unanswered(left)

    def close(self):
        if self.transport is not None:
            self.transport.close()


async def run_workers(conns, worker):
    """Runs worker(k) for every k in range(len(conns)) at once, each the
    user of conns[k] (which it may replace with a new connection); closes
    conns when all are done or one fails."""
    try:
        await asyncio.gather(*(worker(k) for k in range(len(conns))))
    finally:
        for c in conns:
            c.close()


class Conn(HttpConn):
    """send(data) writes a request at once and returns a future resolved to
    (status, body, latency_ns) when its response has arrived; (0, b"",
    latency_ns) when the connection is lost first, or at once when it is
    `closing` already."""

    __slots__ = ()

    def send(self, data):
        fut = asyncio.get_running_loop().create_future()
        if self.closing:
            fut.set_result((0, b"", 0))
            return fut
        self.pending.append((fut, time.monotonic_ns()))
        self.transport.write(data)
        return fut

    def answered(self, entry, status, body):
        fut, t0 = entry
        if not fut.done():
            fut.set_result((status, body, time.monotonic_ns() - t0))

    def unanswered(self, entries):
        now = time.monotonic_ns()
        for fut, t0 in entries:
            if not fut.done():
                fut.set_result((0, b"", now - t0))
