"""Black-box test harness for onair.

Starts real processes (redis-server, onair) on private sockets and ports, and
talks to them over raw sockets or http.client.  Only the standard library and
python3-redis are used.  Later issues extend this module; keep it generic.

Processes started here are registered in LIVE so that conftest can kill any
that a test forgot (or could not) stop.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
JSON_CT = "application/json; charset=utf-8"
METRICS_CT = "text/plain; version=0.0.4"

# Every process started by the harness and not yet reaped.
LIVE = []
# Every OnairServer ever started (conftest prints the log tails of the ones a
# failed test used).
ALL_ONAIR = []


def onair_bin():
    """Path of the onair binary: $ONAIR_BIN, else build/onair in the repo."""
    path = os.environ.get("ONAIR_BIN") or str(REPO_ROOT / "build" / "onair")
    return os.path.abspath(path)


def redis_server_bin():
    """Path of redis-server: $REDIS_SERVER, else the one on PATH."""
    return os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "redis-server"


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.02, message="condition"):
    """Polls predicate() until it returns a truthy value (returned) or the
    timeout expires (AssertionError naming the message and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")
        time.sleep(interval)


def tail(text, lines=80):
    return "\n".join(text.splitlines()[-lines:])


def _stop_process(proc, sig, timeout):
    """Sends sig and waits up to timeout; kills with SIGKILL after that.
    Returns (returncode, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10), True


def _forget(proc):
    if proc in LIVE:
        LIVE.remove(proc)


def kill_leftovers():
    """Kills every harness process still alive (safety net)."""
    for proc in list(LIVE):
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _forget(proc)


# --------------------------------------------------------------------------
# Redis


class RedisServer:
    """A private redis-server listening only on a unix socket in a temp dir.

    stop() and start() again reuse the same socket path (the onair servers
    keep pointing at it); pause()/resume() freeze it with SIGSTOP/SIGCONT."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="onair-redis-")
        self.socket_path = os.path.join(self.dir, "redis.sock")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None
        self.paused = False

    @property
    def url(self):
        return "unix://" + self.socket_path

    def start(self, timeout=10):
        assert self.proc is None or self.proc.poll() is not None, "redis already running"
        cmd = [redis_server_bin(), "--port", "0",
               "--unixsocket", self.socket_path, "--unixsocketperm", "700",
               "--save", "", "--appendonly", "no", "--dir", self.dir]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        LIVE.append(self.proc)
        self.paused = False

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n"
                                   + tail(self.log_text()))
            try:
                return self.client(timeout=0.5).ping()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                return False

        wait_until(up, timeout, message="redis-server to answer PING")
        return self

    def client(self, timeout=5):
        """A fresh redis-py client (decode_responses=True)."""
        return redis.Redis(unix_socket_path=self.socket_path, decode_responses=True,
                           socket_timeout=timeout, socket_connect_timeout=timeout)

    def stop(self, timeout=10):
        """Stops the server (SIGTERM; it saves nothing).  Returns its exit code."""
        if self.proc is None:
            return None
        if self.paused:
            self.resume()
        rc, killed = _stop_process(self.proc, signal.SIGTERM, timeout)
        _forget(self.proc)
        if killed:
            raise AssertionError("redis-server ignored SIGTERM for %ss" % timeout)
        return rc

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# onair


class ServerExited(AssertionError):
    pass


class OnairServer:
    """An onair process on 127.0.0.1:<free port> using the given RedisServer.

    env: extra environment (ONAIR_TEST_HOOKS=1 is set unless hooks=False; any
    ONAIR_* variable inherited from the caller's environment is dropped).
    args: extra command-line arguments."""

    def __init__(self, redis_server, env=None, hooks=True, args=None, redis_url=None):
        self.redis = redis_server
        self.redis_url = redis_url or redis_server.url
        self.extra_env = dict(env or {})
        self.hooks = hooks
        self.args = list(args or [])
        self.dir = tempfile.mkdtemp(prefix="onair-srv-")
        self.log_path = os.path.join(self.dir, "onair.log")
        self.proc = None
        self.port = None
        self.returncode = None
        self.started_at = None
        self.stopped_at = None
        ALL_ONAIR.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ONAIR_")}
        if self.hooks:
            env["ONAIR_TEST_HOOKS"] = "1"
        env.update(self.extra_env)
        return env

    def command(self):
        return [onair_bin(), "--listen", f"{HOST}:{self.port}", "--redis", self.redis_url] + self.args

    def start(self, timeout=10):
        assert self.proc is None or self.proc.poll() is not None, "onair already running"
        for attempt in range(3):
            self.port = free_port()
            self.started_at = time.monotonic()
            self.stopped_at = None
            self.returncode = None
            with open(self.log_path, "ab") as log:
                log.write(f"---- start {self.command()}\n".encode())
                log.flush()
                self.proc = subprocess.Popen(self.command(), env=self.environment(), stdout=log,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            LIVE.append(self.proc)
            try:
                self._wait_healthy(timeout)
                if self.redis is not None and self.redis.running() and not self.redis.paused:
                    # /health answers before the store is connected; tests
                    # that use Redis want it connected.
                    self._wait_ready(timeout)
                return self
            except ServerExited:
                _forget(self.proc)
                self.stopped_at = time.monotonic()
                self.returncode = self.proc.returncode
                # Lost a race for the port: try another one.
                if attempt < 2 and "in use" in self.log_text().lower():
                    continue
                raise
            except AssertionError:
                self._kill()
                raise AssertionError(f"onair did not become healthy/ready within {timeout}s:\n"
                                     + tail(self.log_text()))
        raise AssertionError("unreachable")

    def _wait_healthy(self, timeout):
        def healthy():
            if self.proc.poll() is not None:
                raise ServerExited(f"onair exited with {self.proc.returncode} during start-up:\n"
                                   + tail(self.log_text()))
            try:
                return request(self.port, "GET", "/health", timeout=1).status == 200
            except (OSError, http.client.HTTPException):
                return False

        wait_until(healthy, timeout, message="GET /health 200")

    def _wait_ready(self, timeout):
        def ready():
            if self.proc.poll() is not None:
                raise ServerExited(f"onair exited with {self.proc.returncode} during start-up:\n"
                                   + tail(self.log_text()))
            try:
                return request(self.port, "GET", "/ready", timeout=1).status == 200
            except (OSError, http.client.HTTPException):
                return False

        wait_until(ready, timeout, message="GET /ready 200 (Redis is up)")

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        self.stopped_at = time.monotonic()
        _forget(self.proc)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for the process to exit; returns its exit code or None on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.returncode = rc
        self.stopped_at = time.monotonic()
        _forget(self.proc)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig (SIGTERM) and waits; after timeout kills it with SIGKILL and
        raises AssertionError.  Returns the exit code."""
        if self.proc is None:
            return None
        rc, killed = _stop_process(self.proc, sig, timeout)
        self.returncode = rc
        self.stopped_at = time.monotonic()
        _forget(self.proc)
        if killed:
            raise AssertionError(f"onair did not exit within {timeout}s of {sig!r}; killed:\n"
                                 + tail(self.log_text()))
        return rc

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self._kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # conveniences
    def get(self, path, **kw):
        return request(self.port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return request(self.port, "POST", path, body=body, **kw)

    def post_json(self, path, value, **kw):
        return request(self.port, "POST", path, body=json.dumps(value).encode(), **kw)

    def raw(self, timeout=5):
        return RawConn(self.port, timeout=timeout)

    def metrics(self):
        r = self.get("/metrics")
        assert r.status == 200, r
        return parse_metrics(r.text)


# --------------------------------------------------------------------------
# HTTP


class Response:
    """A parsed HTTP response.  headers: list of (name, value) in wire order."""

    def __init__(self, status, reason, version, headers, body, elapsed=None):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def header(self, name):
        """The first value of header name (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError(f"body is not JSON ({e}): {self.body[:300]!r}") from None

    def wants_close(self):
        return "close" in [t.strip().lower() for t in (self.header("Connection") or "").split(",")]

    def __repr__(self):
        return f"<Response {self.version} {self.status} {self.headers!r} {self.body[:300]!r}>"


def request(port, method, path, body=None, headers=None, timeout=5):
    """One request on a fresh http.client connection; returns a Response with
    .elapsed (seconds)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        t0 = time.monotonic()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        elapsed = time.monotonic() - t0
        version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(r.version, str(r.version))
        return Response(r.status, r.reason, version, r.getheaders(), data, elapsed)
    finally:
        conn.close()


class KeepAliveClient:
    """Several requests over one http.client connection."""

    def __init__(self, port, timeout=5):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        t0 = time.monotonic()
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        data = r.read()
        version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(r.version, str(r.version))
        return Response(r.status, r.reason, version, r.getheaders(), data, time.monotonic() - t0)

    def close(self):
        self.conn.close()


def build_request(method, target, headers=None, body=None, version="HTTP/1.1", host=True):
    """Bytes of one request.  headers: list of (name, value) or dict.  Adds
    Host (unless host=False) and Content-Length when body is given and no
    Content-Length / Transfer-Encoding header is."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if host and "host" not in names:
        headers.insert(0, ("Host", HOST))
    if isinstance(body, str):
        body = body.encode()
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(*chunks, extensions=None):
    """A chunked body from the given byte strings (extensions: per-chunk
    ';ext' suffixes), with the final zero chunk."""
    out = b""
    for i, c in enumerate(chunks):
        ext = (extensions[i] if extensions else "") or ""
        out += f"{len(c):x}{ext}\r\n".encode() + c + b"\r\n"
    return out + b"0\r\n\r\n"


class ConnectionClosed(Exception):
    pass


class SocketOwner:
    """Something that holds self.sock: close() never raises, and it is a
    context manager that closes it."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RawConn(SocketOwner):
    """A raw TCP connection with a response reader that copes with pipelining."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Sends data; returns False if the peer closed or reset the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out reading response")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed by server (buffered: %r)" % self.buf[:200])
        self.buf += data

    def _read_line(self, deadline):
        while b"\r\n" not in self.buf:
            self._recv(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._recv(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, timeout=5, head=False):
        """Reads one response.  Raises ConnectionClosed if the server closes
        before a full response, socket.timeout on timeout."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        status_line = self._read_line(deadline).decode("latin-1")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
        if not m:
            raise AssertionError(f"bad status line {status_line!r}")
        version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
        headers = []
        while True:
            line = self._read_line(deadline).decode("latin-1")
            if line == "":
                break
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = Response(status, reason, version, headers, b"")
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if head or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in te:
            body = b""
            while True:
                size = int(self._read_line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._read_line(deadline) != b"":
                        pass
                    break
                body += self._read_exact(size, deadline)
                self._read_line(deadline)
        elif cl is not None:
            body = self._read_exact(int(cl), deadline)
        else:
            while True:
                try:
                    self._recv(deadline)
                except ConnectionClosed:
                    break
            body, self.buf = self.buf, b""
        resp.body = body
        resp.elapsed = time.monotonic() - t0
        return resp

    def request(self, method, target, headers=None, body=None, timeout=5, **kw):
        self.send(build_request(method, target, headers=headers, body=body, **kw))
        return self.read_response(timeout=timeout, head=(method == "HEAD"))

    def wait_closed(self, timeout):
        """True if the server closes (EOF or reset) within timeout with no
        further bytes; AssertionError if it sends bytes; False on timeout."""
        deadline = time.monotonic() + timeout
        if self.eof:
            return True
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                if self.buf:
                    raise AssertionError(f"unread bytes before close: {self.buf[:300]!r}")
                return True
            self.buf += data
            raise AssertionError(f"server sent unexpected bytes: {self.buf[:300]!r}")



# --------------------------------------------------------------------------
# Contract checks and metrics


def assert_json_response(resp, status, expected_body=None):
    """The response has this status, the JSON Content-Type, a correct
    Content-Length and (if given) exactly this JSON body.  Returns the body."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert resp.header("Content-Type") == JSON_CT, resp
    cl = resp.header("Content-Length")
    assert cl is not None and int(cl) == len(resp.body), resp
    value = resp.json()
    if expected_body is not None:
        assert value == expected_body, resp
    return value


def assert_error(resp, status, code=None):
    """A contract error body: {"status": code, "message": <non-empty text>}
    (code None: any string)."""
    value = assert_json_response(resp, status)
    assert isinstance(value, dict), resp
    assert isinstance(value.get("status"), str), resp
    if code is not None:
        assert value["status"] == code, resp
    assert isinstance(value.get("message"), str) and value["message"], resp
    return value


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float).  Raises on a
    line that is not a comment, blank or a well-formed sample."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError(f"bad metrics line {line!r}")
        labels = {}
        if m.group(3):
            pos = 0
            body = m.group(3)
            while pos < len(body):
                lm = _LABEL.match(body, pos)
                if not lm:
                    raise AssertionError(f"bad labels in metrics line {line!r}")
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def metric(samples, name, **labels):
    """Sum of the samples called name whose labels include the given ones;
    None if there is none."""
    found = [v for n, l, v in samples if n == name and all(l.get(k) == v2 for k, v2 in labels.items())]
    return sum(found) if found else None
