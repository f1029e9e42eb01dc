"""What the benchmark set-up scripts share (bench/gig_setup.py,
bench/stream_setup.py; bench/gig_lifecycle.py and bench/stream_expiry.py use
its HTTP connections): a minimal Redis client, the cache of accounts (a DUMP
of every key under the server's prefix, restored into a fresh Redis instead
of creating the accounts again: Argon2id makes ~12-15 accounts a second),
lean keep-alive HTTP/1.1 connections, and account creation a few at a time
within a time budget.

The cache is tagged with the Redis version, the key prefix, ONAIR_SECRET and
the sources that decide what an account's keys look like, so a change of any
starts a new one; see cache_tag()."""
import asyncio
import base64
import collections
import gzip
import hashlib
import json
import os
import socket
import sys
import time

_LOG_NAME = ["setup"]


def set_log_name(name):
    """The prefix of log() lines (the calling script's name)."""
    _LOG_NAME[0] = name


class Failure(Exception):
    """Ends the run with a message and a non-zero exit."""


def run_reporting(coro, out):
    """Runs coro to completion (a Failure is logged), adds what it returns
    (a dict, or None) to out, and prints out with ok=1|0 as key=value pairs,
    stdout's last line.  Returns the exit status."""
    rc = 0
    try:
        out.update(asyncio.run(coro) or {})
    except Failure as e:
        log(f"FAILED: {e}")
        rc = 1
    out["ok"] = int(rc == 0)
    print(" ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    return rc


def log(msg):
    print(f"{_LOG_NAME[0]}: {msg}", file=sys.stderr, flush=True)


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


# The sources that decide what an account's keys look like.
ACCOUNT_SOURCES = ("storage/keys.c", "storage/scripts/account_create.lua")


def cache_tag(rds, prefix, source_root, sources=ACCOUNT_SOURCES):
    h = hashlib.sha256()
    h.update(f"redis {rds.version()}\nprefix {prefix}\n".encode())
    h.update(f"secret {os.environ.get('ONAIR_SECRET', '')}\n".encode())
    for rel in sources:
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


# --- HTTP: lean keep-alive connections ---------------------------------------------


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


# --- accounts -------------------------------------------------------------------------


async def create_accounts(port, todo, body_of, concurrency, budget_s, total_before, token=None):
    """todo: [(key, required)], required ones first; body_of(key) is the
    POST /accounts body for key. Creates them concurrency at a time (with
    token as the caller when given: an admin making dealers); past budget_s
    (0: none; negative: no optional ones at all) no further optional ones
    are started. Returns {key: (id, token)}."""
    created = {}
    nxt = 0
    started = time.monotonic()
    last = started
    conns = [await Conn.open(port) for _ in range(min(concurrency, len(todo)))]
    stop_optional = False

    async def worker(k):
        nonlocal nxt, last, stop_optional
        while nxt < len(todo):
            key, required = todo[nxt]
            if not required and (stop_optional or budget_s < 0 or budget_s and
                                 time.monotonic() - started > budget_s):
                stop_optional = True
                return
            nxt += 1
            body = body_of(key)
            data = request("POST", "/accounts", token, body=body)
            while True:
                if conns[k].closing:
                    conns[k].close()
                    conns[k] = await Conn.open(port)
                status, resp, _ = await conns[k].send(data)
                if status in (429, 503):  # per-IP limit, or the hashing queue is full
                    await asyncio.sleep(1)
                    continue
                break
            if status != 201:
                raise Failure(f"POST /accounts ({json.dumps(body.get('identities'))}) answered "
                              f"{status}: {resp[:300]!r}")
            doc = json.loads(resp)
            created[key] = (doc["account"]["id"], doc["token"])
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


async def check_tokens(port, samples):
    """GET /accounts/me with each (token, account id, type): None when all
    answer with the right account and type, else what went wrong."""
    if not samples:
        return None
    reqs = [(request("GET", "/accounts/me", tok), {200, 401, 403, 404}) for tok, _, _ in samples]
    for (status, body), (_, acct_id, typ) in zip(await run_requests(port, reqs, 4, "check"),
                                                 samples):
        if status != 200:
            return f"a cached {typ} token answered {status}: {body[:200]!r}"
        acct = json.loads(body).get("account", {})
        if acct.get("id") != acct_id or acct.get("type") != typ:
            return f"a cached {typ} token names another account: {body[:200]!r}"
    return None
