"""Request limits and malformed HTTP: each is answered with the contract's
error body and Connection: close, and the server then closes."""

import json
import time

import pytest

from harness import (ConnectionClosed, RawConn, assert_error, assert_json_response,
                     build_request, chunked)


def expect_error_and_close(conn, status, code=None, timeout=5):
    """Reads one response: an error with this status, Connection: close, and
    then the connection is closed by the server."""
    r = conn.read_response(timeout=timeout)
    assert_error(r, status, code)
    assert r.wants_close(), f"no Connection: close on {r!r}"
    assert conn.wait_closed(2), "server did not close after a limit error"
    return r


@pytest.fixture(scope="module")
def small(make_onair_module, shared_redis):
    """A server with small, non-default limits."""
    return make_onair_module(shared_redis, env={
        "ONAIR_MAX_HEADER_BYTES": "2048", "ONAIR_MAX_HEADERS": "10",
        "ONAIR_MAX_URL_BYTES": "256", "ONAIR_MAX_BODY_BYTES": "1000"})


# -- header bytes --------------------------------------------------------------


def test_header_bytes_default_limit(shared_onair):
    with RawConn(shared_onair.port) as c:
        r = c.request("GET", "/health", headers=[("X-Pad", "a" * 15000)])
        assert_json_response(r, 200, {"status": "ok"})
    with RawConn(shared_onair.port) as c:
        c.send(build_request("GET", "/health", headers=[("X-Pad", "a" * 17000)]))
        expect_error_and_close(c, 431)


def test_header_bytes_spread_over_many_headers(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("GET", "/health", headers=[(f"X-P{i}", "b" * 500) for i in range(40)]))
        expect_error_and_close(c, 431)


def test_header_bytes_configured_limit(small):
    with RawConn(small.port) as c:
        assert_json_response(c.request("GET", "/health", headers=[("X-Pad", "a" * 1500)]),
                             200, {"status": "ok"})
    with RawConn(small.port) as c:
        c.send(build_request("GET", "/health", headers=[("X-Pad", "a" * 3000)]))
        expect_error_and_close(c, 431)


def test_header_bytes_sent_slowly(small):
    """The limit holds when the headers arrive in small pieces."""
    req = build_request("GET", "/health", headers=[("X-Pad", "a" * 4000)])
    with RawConn(small.port) as c:
        for i in range(0, 3000, 300):
            if not c.try_send(req[i:i + 300]):
                break
            time.sleep(0.01)
        expect_error_and_close(c, 431)


# -- header count ----------------------------------------------------------------


def test_header_count_default_limit(shared_onair):
    # Host + 98 = 99 headers: fine
    with RawConn(shared_onair.port) as c:
        r = c.request("GET", "/health", headers=[(f"X-H{i}", "v") for i in range(98)])
        assert_json_response(r, 200, {"status": "ok"})
    # Host + 100 = 101 headers: too many
    with RawConn(shared_onair.port) as c:
        c.send(build_request("GET", "/health", headers=[(f"X-H{i}", "v") for i in range(100)]))
        expect_error_and_close(c, 431)


def test_header_count_configured_limit(small):
    with RawConn(small.port) as c:
        r = c.request("GET", "/health", headers=[(f"X-H{i}", "v") for i in range(9)])
        assert_json_response(r, 200, {"status": "ok"})
    with RawConn(small.port) as c:
        c.send(build_request("GET", "/health", headers=[(f"X-H{i}", "v") for i in range(10)]))
        expect_error_and_close(c, 431)


# -- URL length ----------------------------------------------------------------------


def test_url_default_limit(shared_onair):
    with RawConn(shared_onair.port) as c:
        r = c.request("GET", "/health?pad=" + "u" * 8000)
        assert_json_response(r, 200, {"status": "ok"})
    with RawConn(shared_onair.port) as c:
        c.send(build_request("GET", "/health?pad=" + "u" * 8200))
        expect_error_and_close(c, 414)


def test_url_configured_limit(small):
    with RawConn(small.port) as c:
        assert_json_response(c.request("GET", "/health?p=" + "u" * 200), 200, {"status": "ok"})
    with RawConn(small.port) as c:
        c.send(build_request("GET", "/" + "u" * 300))
        expect_error_and_close(c, 414)


# -- body size -------------------------------------------------------------------------


def json_of_size(n):
    """A JSON string literal of exactly n bytes."""
    assert n >= 2
    return b'"' + b"x" * (n - 2) + b'"'


def test_body_at_default_limit_is_accepted(shared_onair):
    with RawConn(shared_onair.port) as c:
        r = c.request("POST", "/_test/echo", body=json_of_size(65536))
        assert_json_response(r, 200, {"echo": "x" * 65534})


def test_body_over_default_limit_announced(shared_onair):
    with RawConn(shared_onair.port) as c:
        t0 = time.monotonic()
        # headers only: the server must answer without waiting for the body
        c.send(build_request("POST", "/_test/echo", headers=[("Content-Length", "65537")]))
        expect_error_and_close(c, 413, "too-large", timeout=2)
        assert time.monotonic() - t0 < 2


def test_body_over_default_limit_sent(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.try_send(build_request("POST", "/_test/echo", body=json_of_size(65537)))
        expect_error_and_close(c, 413, "too-large")


def test_body_configured_limit(small):
    with RawConn(small.port) as c:
        r = c.request("POST", "/_test/echo", body=json_of_size(1000))
        assert_json_response(r, 200, {"echo": "x" * 998})
    with RawConn(small.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Content-Length", "1001")]))
        expect_error_and_close(c, 413, "too-large")


def send_chunks_until_answered(conn, chunk, max_total):
    """Sends a chunked body piece by piece, stopping when the server answers
    or closes.  Returns the number of body bytes sent."""
    sent = 0
    while sent < max_total:
        if not conn.try_send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"):
            break
        sent += len(chunk)
        conn.sock.settimeout(0.02)
        try:
            data = conn.sock.recv(65536)
        except (TimeoutError, OSError):
            continue
        conn.buf += data
        if not data:
            conn.eof = True
        break
    return sent


def test_chunked_body_over_limit(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Transfer-Encoding", "chunked")]))
        sent = send_chunks_until_answered(c, b" " * 8192, 200 * 1024)
        assert sent <= 65536 + 2 * 8192, f"server let {sent} body bytes in before refusing"
        expect_error_and_close(c, 413, "too-large")


def test_chunked_body_over_configured_limit(small):
    with RawConn(small.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Transfer-Encoding", "chunked")]))
        sent = send_chunks_until_answered(c, b" " * 300, 20000)
        assert sent <= 1000 + 2 * 300, f"server let {sent} body bytes in before refusing"
        expect_error_and_close(c, 413, "too-large")


def test_chunked_body_at_limit_is_accepted(small):
    raw = json_of_size(1000)
    with RawConn(small.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Transfer-Encoding", "chunked")],
                             body=chunked(raw[:400], raw[400:800], raw[800:])))
        assert_json_response(c.read_response(), 200, {"echo": "x" * 998})


# -- framing -----------------------------------------------------------------------------


def test_content_length_with_transfer_encoding_is_400(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo",
                             headers=[("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                             body=chunked(b"[1]")))
        expect_error_and_close(c, 400)


def test_two_different_content_lengths_is_400(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo",
                             headers=[("Content-Length", "3"), ("Content-Length", "4")],
                             body=b"[1] "))
        expect_error_and_close(c, 400)


@pytest.mark.parametrize("value", ["5x", "-1", "0x10", "1 2", ""])
def test_bad_content_length_is_400(shared_onair, value):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Content-Length", value)]) + b"[1]  ")
        expect_error_and_close(c, 400)


def test_transfer_encoding_gzip_is_501(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Transfer-Encoding", "gzip")])
               + b"\x1f\x8b")
        expect_error_and_close(c, 501)


@pytest.mark.parametrize("version", ["HTTP/1.2", "HTTP/2.0", "HTTP/3.0"])
def test_unsupported_http_version_is_505(shared_onair, version):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("GET", "/health", version=version))
        expect_error_and_close(c, 505)


@pytest.mark.parametrize("line", [
    b"GET /health HTTX/1.1",
    b"GET /health HTTP/1.1 extra",
    b"GET",
    b" GET /health HTTP/1.1",
    b"GET /hea\x00lth HTTP/1.1",
    b"GET /health HTTP/1.a",
])
def test_malformed_request_line_is_400(shared_onair, line):
    with RawConn(shared_onair.port) as c:
        c.send(line + b"\r\nHost: x\r\n\r\n")
        expect_error_and_close(c, 400)


@pytest.mark.parametrize("header", [b"No-Colon-Here", b"Bad Name: v", b": empty-name"])
def test_malformed_header_is_400(shared_onair, header):
    with RawConn(shared_onair.port) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
        expect_error_and_close(c, 400)


def test_error_after_good_pipelined_requests(shared_onair):
    """Responses before the bad request still come out, in order."""
    good = build_request("GET", "/health") + build_request("POST", "/_test/echo", body=b"[2]")
    with RawConn(shared_onair.port) as c:
        c.send(good + b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n" + build_request("GET", "/health"))
        assert_json_response(c.read_response(), 200, {"status": "ok"})
        assert_json_response(c.read_response(), 200, {"echo": [2]})
        expect_error_and_close(c, 505)


# -- timeouts and connection reuse ----------------------------------------------------


@pytest.fixture
def timeouts(make_onair, shared_redis):
    return make_onair(shared_redis, env={"ONAIR_HEADER_TIMEOUT_MS": "500",
                                         "ONAIR_KEEPALIVE_TIMEOUT_MS": "500",
                                         "ONAIR_MAX_REQUESTS_PER_CONN": "5"})


def test_header_timeout_is_408(timeouts):
    with RawConn(timeouts.port) as c:
        t0 = time.monotonic()
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        expect_error_and_close(c, 408, timeout=3)
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 1.5, elapsed


def test_header_timeout_counts_from_first_byte(timeouts):
    """Trickling one header byte at a time does not extend the deadline."""
    req = build_request("GET", "/health", headers=[("X-Slow", "s" * 100)])
    with RawConn(timeouts.port) as c:
        t0 = time.monotonic()
        for i in range(len(req) - 4):
            if time.monotonic() - t0 > 2.0 or not c.try_send(req[i:i + 1]):
                break
            c.sock.settimeout(0.05)
            try:
                data = c.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            c.buf += data
            if not data:
                c.eof = True
            break
        expect_error_and_close(c, 408, timeout=3)
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 1.5, elapsed


def test_header_timeout_after_keepalive_request(timeouts):
    """The header deadline also applies to the second request of a connection."""
    with RawConn(timeouts.port) as c:
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})
        c.send(b"GET /health HTTP/1.1\r\n")
        t0 = time.monotonic()
        expect_error_and_close(c, 408, timeout=3)
        assert time.monotonic() - t0 < 1.5


def test_slow_body_is_not_a_header_timeout(timeouts):
    """Headers complete in time, then a body trickles in over 1 s: served."""
    body = json.dumps({"k": "v" * 20}).encode()
    with RawConn(timeouts.port) as c:
        c.send(build_request("POST", "/_test/echo", headers=[("Content-Length", str(len(body)))]))
        for i in range(0, len(body), 5):
            c.send(body[i:i + 5])
            time.sleep(1.0 / (len(body) / 5))
        r = c.read_response()
        assert r.status != 408, r
        assert_json_response(r, 200, {"echo": {"k": "v" * 20}})


def test_idle_keepalive_closed(timeouts):
    with RawConn(timeouts.port) as c:
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})
        time.sleep(0.25)
        # a request within the idle window is served and restarts it
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})
        t0 = time.monotonic()
        assert c.wait_closed(3), "idle keep-alive connection not closed"
        elapsed = time.monotonic() - t0
        assert 0.4 <= elapsed < 1.5, elapsed


def test_slow_request_is_not_idle(timeouts):
    """A request in progress (1 s sleep) is not cut by the 500 ms idle timeout."""
    with RawConn(timeouts.port) as c:
        r = c.request("GET", "/_test/sleep?ms=1000", timeout=5)
        assert_json_response(r, 200, {"slept": 1000})
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})


def test_max_requests_per_connection(timeouts):
    with RawConn(timeouts.port) as c:
        for i in range(5):
            r = c.request("GET", "/health")
            assert_json_response(r, 200, {"status": "ok"})
            if i < 4:
                assert not r.wants_close(), (i, r)
            else:
                assert r.wants_close(), r
        assert c.wait_closed(2)


def test_max_requests_per_connection_pipelined(timeouts):
    with RawConn(timeouts.port) as c:
        c.send(b"".join(build_request("POST", "/_test/echo", body=json.dumps([i]))
                        for i in range(8)))
        rs = [c.read_response() for _ in range(5)]
        for i, r in enumerate(rs):
            assert_json_response(r, 200, {"echo": [i]})
        assert [r.wants_close() for r in rs] == [False] * 4 + [True]
        try:
            extra = c.read_response(timeout=2)
            raise AssertionError(f"response after the last allowed one: {extra!r}")
        except ConnectionClosed:
            pass


def test_connection_close_request_is_honoured(shared_onair):
    with RawConn(shared_onair.port) as c:
        r = c.request("GET", "/health", headers=[("Connection", "close")])
        assert_json_response(r, 200, {"status": "ok"})
        assert r.wants_close(), r
        assert c.wait_closed(2)
