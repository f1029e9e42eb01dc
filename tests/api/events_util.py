"""A small Server-Sent Events client over a raw socket, for GET /events.

    s = open_stream(port, token=tok)            # Authorization: Bearer tok
    s = open_stream(port, query_token=tok)      # /events?token=tok
    assert s.status == 200
    ev = s.next_event(1.0)                      # Event(id, event, data, ...)
    s.close()

For an answer other than 200 the JSON error body (which has a Content-Length)
is read into s.response (a harness.Response, so the accounts_util expect_*
helpers apply) and the socket is closed.

The reader is synchronous: bytes are read only inside next_event / poll_event
/ pump / wait_closed, so a test that stops calling them stops reading (the slow
consumer test relies on that)."""

import json
import re
import socket
import time

import pytest

from harness import HOST, Response, SocketOwner, wait_until

ID_RE = re.compile(r"^(\d+)-(\d+)$")


def id_key(event_id):
    """A Redis Stream ID "<ms>-<seq>" as a comparable tuple."""
    m = ID_RE.match(event_id or "")
    assert m, f"event id {event_id!r} is not <digits>-<digits>"
    return int(m.group(1)), int(m.group(2))


class StreamClosed(AssertionError):
    pass


class Event:
    """One dispatched SSE event.  data: the data lines joined by "\\n";
    data_lines: how many data lines it had; t: time.monotonic() at parse."""

    def __init__(self, id, event, data, data_lines, fields, t):
        self.id, self.event, self.data = id, event, data
        self.data_lines, self.fields, self.t = data_lines, fields, t

    def json(self):
        try:
            return json.loads(self.data)
        except ValueError as e:
            raise AssertionError(f"event data is not JSON ({e}): {self.data[:300]!r}") from None

    def __repr__(self):
        return f"<Event id={self.id!r} event={self.event!r} data={self.data[:200]!r}>"


class SseStream(SocketOwner):
    def __init__(self, port, token=None, query_token=None, last_event_id=None, scheme="Bearer",
                 path="/events", headers=None, rcvbuf=None, timeout=5, method="GET"):
        self.port = port
        self.status = None
        self.reason = None
        self.version = None
        self.headers = []
        self.response = None     # for non-200 answers: a harness.Response with the body
        self.first_bytes = b""   # the first bytes of a 200 body (up to the end of ":ok\n\n")
        self.comments = []       # (t, text) of every comment line, ":ok" included
        self.events = []         # every event parsed so far (consumed or not)
        self._queue = []         # events not yet returned by next_event
        self.buf = b""
        self.eof = False
        self.eof_at = None
        self.reset = False
        self.bytes_read = 0
        # current frame
        self._f_id = None
        self._f_event = None
        self._f_data = []
        self._f_fields = []
        self.last_id = None      # the SSE "last event ID" as a browser would keep it

        target = path
        if query_token is not None:
            target += ("&" if "?" in target else "?") + "token=" + query_token
        hdrs = [("Host", f"{HOST}:{port}"), ("Accept", "text/event-stream")]
        if token is not None:
            hdrs.append(("Authorization", f"{scheme} {token}"))
        if last_event_id is not None:
            hdrs.append(("Last-Event-ID", last_event_id))
        for k, v in (headers or {}).items():
            hdrs.append((k, v))
        self.request_bytes = (f"{method} {target} HTTP/1.1\r\n"
                              + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n").encode("latin-1")

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # before connect, so that the window is negotiated small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.t_open = time.monotonic()
        try:
            self.sock.connect((HOST, port))
            self.sock.sendall(self.request_bytes)
            self._read_head(time.monotonic() + timeout)
        except BaseException:
            self.close()
            raise
        self.elapsed = time.monotonic() - self.t_open

    # -- low level --------------------------------------------------------

    def _recv(self, deadline):
        """Reads more bytes into buf.  Returns False on timeout, raises nothing
        on EOF/reset (sets eof)."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, ConnectionAbortedError):
            self.reset = True
            data = b""
        except OSError:
            # e.g. the socket was closed locally
            data = b""
        if not data:
            self.eof = True
            self.eof_at = time.monotonic()
            return False
        self.bytes_read += len(data)
        self.buf += data
        return True

    def _read_head(self, deadline):
        while b"\r\n\r\n" not in self.buf:
            if not self._recv(deadline):
                if self.eof:
                    raise StreamClosed(f"connection closed before the response head: {self.buf!r}")
                raise AssertionError(f"timed out reading the response head: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        self.version, self.status, self.reason = m.group(1), int(m.group(2)), m.group(3) or ""
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers.append((k.strip(), v.strip()))
        if self.status != 200:
            cl = self.header("Content-Length")
            if cl is not None:
                n = int(cl)
                while len(self.buf) < n:
                    if not self._recv(deadline):
                        raise AssertionError(
                            f"{self.status} body shorter than Content-Length {n}: {self.buf!r}")
                body, self.buf = self.buf[:n], self.buf[n:]
            else:
                while self._recv(deadline):
                    pass
                body, self.buf = self.buf, b""
            self.response = Response(self.status, self.reason, self.version, self.headers, body,
                                     time.monotonic() - self.t_open)
            self.close()
            return
        # 200: the first frame must be the ":ok" comment
        while not (self.buf.startswith(b":ok\n\n") or self.buf.startswith(b":ok\r\n\r\n")):
            if len(self.buf) >= 8 or not (b":ok\r\n\r\n".startswith(self.buf)
                                          or b":ok\n\n".startswith(self.buf)):
                raise AssertionError(f"the 200 body does not start with ':ok' + blank line: "
                                     f"{self.buf[:200]!r}")
            if not self._recv(deadline):
                raise AssertionError(f"no ':ok' within the timeout (eof={self.eof}): {self.buf!r}")
        n = 5 if self.buf.startswith(b":ok\n\n") else 7
        self.first_bytes = self.buf[:n]
        self._parse()

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    # -- SSE parsing ------------------------------------------------------

    def _next_line(self):
        """One line off buf (any of \\r\\n, \\n, \\r ends it), or None."""
        n, r = self.buf.find(b"\n"), self.buf.find(b"\r")
        if n < 0 and r < 0:
            return None
        if r < 0 or (0 <= n < r):
            line, self.buf = self.buf[:n], self.buf[n + 1:]
            return line
        if r + 1 == len(self.buf) and not self.eof:
            return None  # maybe a \r\n split across reads
        line = self.buf[:r]
        self.buf = self.buf[r + 2:] if self.buf[r + 1:r + 2] == b"\n" else self.buf[r + 1:]
        return line

    def _parse(self):
        while True:
            raw = self._next_line()
            if raw is None:
                return
            line = raw.decode("utf-8", errors="replace")
            now = time.monotonic()
            if line == "":
                if self._f_fields:
                    ev = Event(self._f_id, self._f_event, "\n".join(self._f_data),
                               len(self._f_data), self._f_fields, now)
                    if self._f_data:   # per the spec an event without data is not dispatched
                        self.events.append(ev)
                        self._queue.append(ev)
                self._f_id, self._f_event, self._f_data, self._f_fields = None, None, [], []
                continue
            if line.startswith(":"):
                self.comments.append((now, line[1:]))
                continue
            name, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            self._f_fields.append((name, value))
            if name == "id":
                self._f_id = value
                self.last_id = value
            elif name == "event":
                self._f_event = value
            elif name == "data":
                self._f_data.append(value)

    def _read_some(self, deadline):
        got = self._recv(deadline)
        self._parse()
        return got

    # -- API ----------------------------------------------------------------

    def poll_event(self, timeout):
        """The next event, or None when none arrives within timeout (or the
        stream ends)."""
        deadline = time.monotonic() + timeout
        while not self._queue:
            if self.eof:
                return None
            if not self._read_some(deadline) and time.monotonic() >= deadline:
                return None
        return self._queue.pop(0)

    def next_event(self, timeout=2.0):
        """The next event; AssertionError if none arrives within timeout."""
        ev = self.poll_event(timeout)
        if ev is None:
            if self.eof:
                raise StreamClosed(f"stream ended (reset={self.reset}) while waiting for an event; "
                                   f"got so far {self.events!r}")
            raise AssertionError(f"no event within {timeout}s (got so far {self.events!r}, "
                                 f"{len(self.comments)} comments)")
        return ev

    def next_events(self, n, timeout=2.0):
        """n events, the whole batch within timeout."""
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            try:
                out.append(self.next_event(max(0.0, deadline - time.monotonic())))
            except AssertionError as e:
                raise AssertionError(f"got {len(out)} of {n} events: {out!r}: {e}") from None
        return out

    def expect_no_event(self, timeout):
        """Reads for timeout seconds; asserts no event arrived."""
        ev = self.poll_event(timeout)
        assert ev is None, f"unexpected event {ev!r}"

    def pump(self, duration):
        """Reads (and parses) everything that arrives during duration."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and not self.eof:
            self._read_some(deadline)

    def wait_closed(self, timeout):
        """True if the server ends the stream (EOF or reset) within timeout;
        whatever arrives before that is parsed (events are queued)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._read_some(deadline) and time.monotonic() >= deadline:
                return self.eof
        return True

    def __repr__(self):
        return (f"<SseStream :{self.port} {self.status} events={len(self.events)} "
                f"comments={len(self.comments)} eof={self.eof}>")


def open_stream(port, token=None, query_token=None, last_event_id=None, **kw):
    return SseStream(port, token=token, query_token=query_token, last_event_id=last_event_id,
                     **kw)


def open_ok(port, token=None, **kw):
    s = open_stream(port, token=token, **kw)
    assert s.status == 200, f"GET /events: expected 200, got {s.status} {s.response!r}"
    return s


class Streams:
    """Opens streams and closes them all at teardown (the `sse` fixture)."""

    def __init__(self):
        self.open = []

    def __call__(self, port, token=None, **kw):
        s = open_stream(port, token=token, **kw)
        self.open.append(s)
        return s

    def ok(self, port, token=None, **kw):
        s = self(port, token=token, **kw)
        assert s.status == 200, f"GET /events: expected 200, got {s.status} {s.response!r}"
        return s

    def close_all(self):
        for s in self.open:
            s.close()
        self.open = []


# --------------------------------------------------------------------------
# the test hook


def notify(api, to, event="ping", data=None, timeout=5):
    """POST /_test/notify through an accounts_util.Api (or anything with
    .port); asserts 200 {"id": ...}; returns the id."""
    from harness import request
    body = {"to": to, "event": event, "data": {} if data is None else data}
    r = request(api.port, "POST", "/_test/notify", body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"}, timeout=timeout)
    assert r.status == 200, f"POST /_test/notify: {r!r}"
    v = r.json()
    assert isinstance(v, dict) and set(v) == {"id"}, r
    id_key(v["id"])
    return v["id"]


def notify_raw(port, body, timeout=5):
    from harness import request
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(port, "POST", "/_test/notify", body=data,
                   headers={"Content-Type": "application/json"}, timeout=timeout)


def gauge(srv, name, **labels):
    from harness import metric
    return metric(srv.metrics(), name, **labels)


def wait_gauge(srv, name, value, timeout=5, **labels):
    """Polls /metrics until the sample equals value; returns the last values seen."""
    seen = []

    def check():
        v = gauge(srv, name, **labels)
        seen.append(v)
        return v == value

    try:
        wait_until(check, timeout, interval=0.05, message=f"{name} == {value} on :{srv.port}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last values {seen[-5:]}") from None


@pytest.fixture
def sse():
    """Streams for a test (import it: `from events_util import sse`), all
    closed at teardown."""
    s = Streams()
    yield s
    s.close_all()
