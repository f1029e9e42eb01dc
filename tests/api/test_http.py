"""HTTP basics: health, readiness, metrics, errors, JSON echo, chunked bodies,
keep-alive, pipelining, slow clients, test hooks on/off."""

import json
import random
import socket
import threading
import time

import pytest

from harness import (METRICS_CT, KeepAliveClient, RawConn, assert_error, assert_json_response,
                     build_request, chunked, metric, parse_metrics, request)


# -- health, ready, content type, keep-alive ---------------------------------


def test_health(shared_onair):
    r = shared_onair.get("/health")
    assert_json_response(r, 200, {"status": "ok"})


def test_ready_with_redis(shared_onair):
    r = shared_onair.get("/ready")
    assert_json_response(r, 200, {"status": "ok"})


def test_single_trailing_slash_is_ignored(shared_onair):
    assert_json_response(shared_onair.get("/health/"), 200, {"status": "ok"})
    assert_json_response(shared_onair.get("/ready/"), 200, {"status": "ok"})
    r = shared_onair.post("/_test/echo/", body=b'{"a":1}')
    assert_json_response(r, 200, {"echo": {"a": 1}})


def test_http11_keeps_connection_alive_by_default(shared_onair):
    with RawConn(shared_onair.port) as c:
        for _ in range(3):
            r = c.request("GET", "/health")
            assert r.version == "HTTP/1.1", r
            assert_json_response(r, 200, {"status": "ok"})
            assert not r.wants_close(), r
        # and the connection is still open
        assert c.wait_closed(0.2) is False


def test_http10_without_keepalive_closes(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert_json_response(r, 200, {"status": "ok"})
        assert c.wait_closed(2), "server kept an HTTP/1.0 connection open"


# -- errors ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/health/x", "/", "/_test", "/healthz"])
def test_unknown_path_is_404(shared_onair, path):
    r = shared_onair.get(path)
    assert_error(r, 404, "not-found")


@pytest.mark.parametrize("method,path,allowed", [
    ("POST", "/health", "GET"),
    ("DELETE", "/ready", "GET"),
    ("PUT", "/metrics", "GET"),
    ("GET", "/_test/echo", "POST"),
    ("POST", "/_test/sleep?ms=1", "GET"),
    ("PUT", "/_test/deadline", "POST"),
])
def test_wrong_method_is_405_with_allow(shared_onair, method, path, allowed):
    r = request(shared_onair.port, method, path, body=None if method == "GET" else b"{}")
    assert_error(r, 405, "method-not-allowed")
    allow = r.header("Allow")
    assert allow is not None, r
    assert allowed in [m.strip() for m in allow.split(",")], r


def test_405_then_connection_still_usable(shared_onair):
    with RawConn(shared_onair.port) as c:
        assert_error(c.request("POST", "/health", body=b""), 405, "method-not-allowed")
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})


# -- metrics -----------------------------------------------------------------


def test_metrics_format(shared_onair):
    shared_onair.get("/health")
    r = shared_onair.get("/metrics")
    assert r.status == 200, r
    # the Prometheus text format 0.0.4 (a charset parameter may follow)
    ctype = [p.strip() for p in r.header("Content-Type").split(";")]
    assert ctype[:2] == [p.strip() for p in METRICS_CT.split(";")], r
    assert all(p.lower() == "charset=utf-8" for p in ctype[2:]), r
    assert int(r.header("Content-Length")) == len(r.body)
    samples = parse_metrics(r.text)
    names = {n for n, _, _ in samples}
    for needed in ["onair_http_requests_total", "onair_http_request_duration_seconds_bucket",
                   "onair_http_request_duration_seconds_sum",
                   "onair_http_request_duration_seconds_count",
                   "onair_connections_open", "onair_redis_up"]:
        assert needed in names, f"{needed} missing from /metrics:\n{r.text}"
    assert metric(samples, "onair_redis_up") == 1
    les = [l.get("le") for n, l, _ in samples if n == "onair_http_request_duration_seconds_bucket"]
    assert "+Inf" in les, les
    # buckets are cumulative: +Inf equals _count
    inf = metric(samples, "onair_http_request_duration_seconds_bucket", le="+Inf")
    count = metric(samples, "onair_http_request_duration_seconds_count")
    assert inf == count, (inf, count)


def test_metrics_request_counter_by_route_and_status(shared_onair):
    def health_200():
        return metric(shared_onair.metrics(), "onair_http_requests_total",
                      route="/health", status="200") or 0

    def notfound():
        return metric(shared_onair.metrics(), "onair_http_requests_total", status="404") or 0

    before, nf_before = health_200(), notfound()
    for _ in range(3):
        assert shared_onair.get("/health").status == 200
    assert shared_onair.get("/no/such/route").status == 404
    assert health_200() == before + 3
    assert notfound() == nf_before + 1


def test_metrics_duration_histogram_counts(shared_onair):
    def count():
        return metric(shared_onair.metrics(), "onair_http_request_duration_seconds_count")

    c0 = count()
    for _ in range(4):
        shared_onair.get("/health")
    c1 = count()
    # 4 /health requests + the /metrics request that read c0 (at least)
    assert c1 >= c0 + 4, (c0, c1)


def test_metrics_connections_open_gauge(shared_onair):
    def gauge():
        return metric(shared_onair.metrics(), "onair_connections_open")

    held = []
    try:
        for _ in range(3):
            c = RawConn(shared_onair.port)
            assert c.request("GET", "/health").status == 200
            held.append(c)
        # 3 held connections (+ the one that asks)
        assert gauge() >= 3
    finally:
        for c in held:
            c.close()
    # they are closed: the gauge comes back down
    deadline = time.monotonic() + 3
    while gauge() >= 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gauge() < 3


# -- JSON echo ---------------------------------------------------------------


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [1, 2, {"c": None}], "d": {"e": True, "f": False}},
    [1, -2, 3.5, "x", None, [], {}],
    "snowman \u2603, quote \", backslash \\, newline \n, tab \t, control \u0001, emoji \U0001F600",
    0,
    -12345678901,
    1.5e-3,
    True,
    None,
    {"nested": {"deep": [[[["x"]]]]}, "empty": ""},
])
def test_echo_roundtrip(shared_onair, value):
    r = shared_onair.post("/_test/echo", body=json.dumps(value).encode())
    assert_json_response(r, 200, {"echo": value})


def test_echo_raw_utf8_and_escapes(shared_onair):
    body = '{"k\\u00e9y": "caf\u00e9 \\ud83d\\ude00", "s": "a\\/b"}'.encode("utf-8")
    r = shared_onair.post("/_test/echo", body=body)
    assert_json_response(r, 200, {"echo": {"k\u00e9y": "caf\u00e9 \U0001F600", "s": "a/b"}})


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/json", "application/octet-stream"])
def test_echo_parses_json_whatever_content_type(shared_onair, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = shared_onair.post("/_test/echo", body=b'{"x":[1,2]}', headers=headers)
    assert_json_response(r, 200, {"echo": {"x": [1, 2]}})


@pytest.mark.parametrize("body", [
    b"",
    b"{",
    b"{\"a\":}",
    b"[1,2,]",
    b"{'a':1}",
    b"nul",
    b"{\"a\":1} trailing",
    b"\"unterminated",
    b"\xff\xfe{}",
    b"\"bad utf8 \xc3\x28\"",
    b"{\"a\":\"\xed\xa0\x80\"}",
])
def test_echo_bad_json_is_400(shared_onair, body):
    r = shared_onair.post("/_test/echo", body=body)
    assert_error(r, 400, "bad-json")


def test_bad_json_then_connection_still_usable(shared_onair):
    with RawConn(shared_onair.port) as c:
        assert_error(c.request("POST", "/_test/echo", body=b"{"), 400, "bad-json")
        assert_json_response(c.request("POST", "/_test/echo", body=b"[7]"), 200, {"echo": [7]})


# -- chunked request bodies ----------------------------------------------------


def test_chunked_body_reassembled(shared_onair):
    value = {"name": "chunky", "items": list(range(200)), "s": "\u00e9" * 50}
    raw = json.dumps(value).encode()
    parts = [raw[:1], raw[1:10], raw[10:500], raw[500:]]
    body = chunked(*parts, extensions=[";foo=bar", "", ";a;b=\"q\"", ";x"])
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo",
                             headers=[("Transfer-Encoding", "chunked")], body=body))
        assert_json_response(c.read_response(), 200, {"echo": value})
        # the connection carries on
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})


def test_chunked_body_sent_piecewise(shared_onair):
    value = {"k": "v" * 3000}
    raw = json.dumps(value).encode()
    body = chunked(raw[:1000], raw[1000:2000], raw[2000:])
    req = build_request("POST", "/_test/echo", headers=[("Transfer-Encoding", "chunked")], body=body)
    with RawConn(shared_onair.port) as c:
        for i in range(0, len(req), 700):
            c.send(req[i:i + 700])
            time.sleep(0.005)
        assert_json_response(c.read_response(), 200, {"echo": value})


# -- pipelining ----------------------------------------------------------------


def test_pipelined_requests_answered_in_order(shared_onair):
    reqs, checks = [], []
    for i in range(10):
        kind = i % 4
        if kind == 0:
            reqs.append(build_request("GET", "/health"))
            checks.append(lambda r: assert_json_response(r, 200, {"status": "ok"}))
        elif kind == 1:
            body = json.dumps({"seq": i, "pad": "p" * (i * 37)})
            reqs.append(build_request("POST", "/_test/echo", body=body))
            checks.append(lambda r, v=json.loads(body): assert_json_response(r, 200, {"echo": v}))
        elif kind == 2:
            reqs.append(build_request("GET", "/_test/redis"))
            checks.append(lambda r: assert_json_response(r, 200))
        else:
            reqs.append(build_request("GET", f"/missing/{i}"))
            checks.append(lambda r: assert_error(r, 404, "not-found"))
    with RawConn(shared_onair.port) as c:
        c.send(b"".join(reqs))
        responses = [c.read_response() for _ in reqs]
    for check, r in zip(checks, responses):
        check(r)
    counts = [r.json()["count"] for r in responses[2::4]]
    assert counts == sorted(counts) and len(set(counts)) == len(counts), counts


def test_pipelined_slow_first_request_keeps_order(shared_onair):
    reqs = [build_request("GET", "/_test/sleep?ms=200"),
            build_request("GET", "/health"),
            build_request("POST", "/_test/echo", body=b'{"n":1}'),
            build_request("GET", "/_test/sleep?ms=0"),
            build_request("GET", "/_test/redis"),
            build_request("POST", "/_test/echo", body=b'{"n":2}')]
    with RawConn(shared_onair.port) as c:
        t0 = time.monotonic()
        c.send(b"".join(reqs))
        rs = [c.read_response() for _ in reqs]
        elapsed = time.monotonic() - t0
    assert_json_response(rs[0], 200, {"slept": 200})
    assert_json_response(rs[1], 200, {"status": "ok"})
    assert_json_response(rs[2], 200, {"echo": {"n": 1}})
    assert_json_response(rs[3], 200, {"slept": 0})
    assert isinstance(assert_json_response(rs[4], 200)["count"], int)
    assert_json_response(rs[5], 200, {"echo": {"n": 2}})
    assert 0.19 <= elapsed < 2, elapsed


def test_halfclose_after_pipelined_requests_answers_all(shared_onair):
    """A client that half-closes (shutdown(SHUT_WR)) right after pipelining
    its requests, the first one slow, gets every complete one answered in
    order; an incomplete one at the end is dropped, and the server closes."""
    reqs = [build_request("GET", "/_test/sleep?ms=200"),
            build_request("GET", "/health"),
            build_request("GET", "/_test/redis"),
            build_request("POST", "/_test/echo", body=b'{"n":1}')]
    with RawConn(shared_onair.port) as c:
        c.send(b"".join(reqs) + b"GET /hea")
        c.sock.shutdown(socket.SHUT_WR)
        rs = [c.read_response(timeout=3) for _ in reqs]
        assert c.wait_closed(2), "server kept a half-closed connection open"
    assert_json_response(rs[0], 200, {"slept": 200})
    assert_json_response(rs[1], 200, {"status": "ok"})
    assert isinstance(assert_json_response(rs[2], 200)["count"], int)
    assert_json_response(rs[3], 200, {"echo": {"n": 1}})


@pytest.mark.parametrize("first", ["/_test/sleep?ms=100", "/health"])
@pytest.mark.parametrize("half_close", [False, True])
def test_request_after_connection_close_is_not_answered(shared_onair, first, half_close):
    """Nothing pipelined behind a "Connection: close" request is answered,
    whether or not the client half-closes after sending it."""
    with RawConn(shared_onair.port) as c:
        c.send(build_request("GET", first, headers=[("Connection", "close")])
               + build_request("GET", "/health"))
        if half_close:
            c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response(timeout=3)
        assert r.status == 200 and r.wants_close(), r
        assert c.wait_closed(2), "server kept the connection open"


def test_pipelined_large_burst(shared_onair):
    n = 200
    with RawConn(shared_onair.port) as c:
        c.send(b"".join(build_request("POST", "/_test/echo", body=json.dumps({"i": i}))
                        for i in range(n)))
        for i in range(n):
            assert_json_response(c.read_response(), 200, {"echo": {"i": i}})


# -- test-only routes ------------------------------------------------------------


@pytest.mark.parametrize("ms", [0, 1, 50])
def test_sleep(shared_onair, ms):
    r = shared_onair.get(f"/_test/sleep?ms={ms}")
    assert_json_response(r, 200, {"slept": ms})
    assert r.elapsed >= ms / 1000 - 0.005, r.elapsed


@pytest.mark.parametrize("query", ["", "?ms=", "?ms=abc", "?ms=-1", "?ms=30001", "?ms=1.5",
                                   "?ms=99999999999999999999999", "?other=5"])
def test_sleep_bad_ms_is_422(shared_onair, query):
    r = shared_onair.get("/_test/sleep" + query)
    assert_error(r, 422, "invalid")


def test_sleeps_run_concurrently(shared_onair):
    results = []

    def one():
        results.append(shared_onair.get("/_test/sleep?ms=300"))

    threads = [threading.Thread(target=one) for _ in range(5)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - t0
    assert len(results) == 5
    for r in results:
        assert_json_response(r, 200, {"slept": 300})
    assert elapsed < 1.2, f"5 concurrent 300 ms sleeps took {elapsed:.2f}s"


def test_redis_counter(shared_onair, shared_redis):
    a = assert_json_response(shared_onair.get("/_test/redis"), 200)["count"]
    b = assert_json_response(shared_onair.get("/_test/redis"), 200)["count"]
    assert b == a + 1
    assert int(shared_redis.client().get("onair:test:counter")) == b


def test_deadline_answer(shared_onair, shared_redis):
    now_ms = time.time() * 1000
    r = shared_onair.post_json("/_test/deadline", {"id": "answer-check", "in_ms": 60000})
    value = assert_json_response(r, 201)
    assert value["id"] == "answer-check"
    assert isinstance(value["due"], int)
    assert abs(value["due"] - (now_ms + 60000)) < 1000, (value["due"], now_ms)


@pytest.mark.parametrize("body", [
    {"in_ms": 10},
    {"id": "x"},
    {"id": 5, "in_ms": 10},
    {"id": "", "in_ms": 10},
    {"id": "x", "in_ms": -1},
    {"id": "x", "in_ms": "10"},
    [],
    "x",
])
def test_deadline_invalid_is_422(shared_onair, body):
    r = shared_onair.post_json("/_test/deadline", body)
    assert_error(r, 422, "invalid")


def test_deadline_bad_json_is_400(shared_onair):
    assert_error(shared_onair.post("/_test/deadline", body=b"{id:"), 400, "bad-json")


def test_test_hooks_are_404_without_env(make_onair, shared_redis):
    srv = make_onair(shared_redis, hooks=False)
    assert_json_response(srv.get("/health"), 200, {"status": "ok"})
    assert_error(srv.post("/_test/echo", body=b"{}"), 404, "not-found")
    assert_error(srv.get("/_test/sleep?ms=1"), 404, "not-found")
    assert_error(srv.get("/_test/redis"), 404, "not-found")
    assert_error(srv.post_json("/_test/deadline", {"id": "x", "in_ms": 1}), 404, "not-found")
    # not even a 405 that would reveal the route
    assert_error(srv.get("/_test/echo"), 404, "not-found")


def test_key_prefix_is_configurable(make_onair, shared_redis):
    srv = make_onair(shared_redis, env={"ONAIR_KEY_PREFIX": "alt:"})
    n = assert_json_response(srv.get("/_test/redis"), 200)["count"]
    assert n == 1
    assert shared_redis.client().get("alt:test:counter") == "1"


# -- slow clients ----------------------------------------------------------------


def test_stalled_clients_do_not_delay_others(shared_onair):
    half = RawConn(shared_onair.port)
    silent = RawConn(shared_onair.port)
    big = RawConn(shared_onair.port)
    try:
        half.send(b"GET /hea")
        # a request whose body never arrives
        big.send(build_request("POST", "/_test/echo", headers=[("Content-Length", "1000")]) + b"{")
        time.sleep(0.05)
        for _ in range(5):
            r = shared_onair.get("/health")
            assert_json_response(r, 200, {"status": "ok"})
            assert r.elapsed < 0.5, f"/health took {r.elapsed:.3f}s next to stalled clients"
        # the stalled ones can still complete
        half.send(b"lth HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_json_response(half.read_response(), 200, {"status": "ok"})
        big.send(b"}" + b" " * 998)
        assert_json_response(big.read_response(), 200, {"echo": {}})
    finally:
        half.close()
        silent.close()
        big.close()


def test_client_that_does_not_read_does_not_block_others(shared_onair):
    """A client pipelines many requests and never reads its responses."""
    hog = socket.create_connection(("127.0.0.1", shared_onair.port))
    try:
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.setblocking(False)
        req = build_request("POST", "/_test/echo", body=json.dumps({"p": "x" * 4000}))
        sent = 0
        deadline = time.monotonic() + 2
        while sent < 2000 and time.monotonic() < deadline:
            try:
                hog.send(req)
                sent += 1
            except BlockingIOError:
                time.sleep(0.01)
        for _ in range(5):
            r = shared_onair.get("/health")
            assert_json_response(r, 200, {"status": "ok"})
            assert r.elapsed < 0.5, f"/health took {r.elapsed:.3f}s next to a non-reading client"
    finally:
        hog.close()
    # the server is still fine after the hog disconnects
    assert_json_response(shared_onair.get("/health"), 200, {"status": "ok"})


def test_keepalive_client_many_requests(shared_onair):
    c = KeepAliveClient(shared_onair.port)
    try:
        for i in range(50):
            r = c.request("POST", "/_test/echo", body=json.dumps([i]).encode(),
                          headers={"Content-Type": "application/json"})
            assert_json_response(r, 200, {"echo": [i]})
    finally:
        c.close()


# -- many clients, clients that vanish ------------------------------------------------


def test_many_concurrent_connections(shared_onair):
    conns = []
    try:
        for _ in range(200):
            conns.append(RawConn(shared_onair.port))
        for i, c in enumerate(conns):
            c.send(build_request("POST", "/_test/echo", body=json.dumps({"c": i})))
        for i, c in enumerate(conns):
            assert_json_response(c.read_response(), 200, {"echo": {"c": i}})
    finally:
        for c in conns:
            c.close()
    assert_json_response(shared_onair.get("/health"), 200, {"status": "ok"})


def _reset(conn):
    """Closes with RST instead of FIN."""
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_during_requests(shared_onair, how):
    """Clients that disconnect while their requests are in flight (timer,
    Redis, pipelined) leave the server healthy."""
    for _ in range(10):
        c = RawConn(shared_onair.port)
        c.send(build_request("GET", "/_test/sleep?ms=50") + build_request("GET", "/_test/redis")
               + build_request("POST", "/_test/echo", body=b"[1]") + b"GET /_test/red")
        (_reset if how == "reset" else RawConn.close)(c)
    c = RawConn(shared_onair.port)
    c.send(build_request("GET", "/_test/redis") * 20)
    (_reset if how == "reset" else RawConn.close)(c)
    time.sleep(0.2)
    assert_json_response(shared_onair.get("/health"), 200, {"status": "ok"})
    assert isinstance(assert_json_response(shared_onair.get("/_test/redis"), 200)["count"], int)
    assert shared_onair.running()


def test_trailing_slash_applies_to_405(shared_onair):
    r = shared_onair.post("/health/", body=b"")
    assert_error(r, 405, "method-not-allowed")
    assert "GET" in [m.strip() for m in (r.header("Allow") or "").split(",")], r


def test_query_parameters_in_any_order(shared_onair):
    assert_json_response(shared_onair.get("/_test/sleep?x=1&ms=5&y="), 200, {"slept": 5})


def test_backpressure_keeps_every_response(shared_onair):
    """A client that pipelines ~2 MB of requests and reads late still gets
    every response, in order."""
    n = 500
    pad = "q" * 4000
    reqs = [build_request("POST", "/_test/echo", body=json.dumps({"i": i, "p": pad})) for i in range(n)]
    with RawConn(shared_onair.port, timeout=20) as c:
        errors = []

        def sender():
            try:
                for r in reqs:
                    c.send(r)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=sender)
        t.start()
        time.sleep(0.5)  # let the server's output queue fill up
        for i in range(n):
            r = c.read_response(timeout=10)
            assert r.status == 200, r
            assert r.json() == {"echo": {"i": i, "p": pad}}, i
        t.join(10)
        assert not errors, errors


def test_pipelined_requests_split_at_every_boundary(shared_onair):
    """The same pipelined requests, delivered in slices that cut request lines,
    headers, chunk sizes and bodies anywhere, give the same answers."""
    rng = random.Random(7)
    reqs = [build_request("GET", "/health"),
            build_request("POST", "/_test/echo", body=b'{"a":[1,2,3]}'),
            build_request("POST", "/_test/echo", headers=[("Transfer-Encoding", "chunked")],
                          body=chunked(b'{"b":', b'"chunk"}', extensions=[";x=1", ""])),
            build_request("GET", "/nowhere"),
            build_request("GET", "/_test/sleep?ms=1")]
    stream = b"".join(reqs)
    for _ in range(5):
        with RawConn(shared_onair.port) as c:
            pos = 0
            while pos < len(stream):
                n = rng.randint(1, 40)
                c.send(stream[pos:pos + n])
                pos += n
                if rng.random() < 0.3:
                    time.sleep(0.002)
            assert_json_response(c.read_response(), 200, {"status": "ok"})
            assert_json_response(c.read_response(), 200, {"echo": {"a": [1, 2, 3]}})
            assert_json_response(c.read_response(), 200, {"echo": {"b": "chunk"}})
            assert_error(c.read_response(), 404, "not-found")
            assert_json_response(c.read_response(), 200, {"slept": 1})


def test_echo_nul_inside_string_value(shared_onair):
    r = shared_onair.post("/_test/echo", body=b'["x\\u0000y"]')
    assert_json_response(r, 200, {"echo": ["x\u0000y"]})


def test_echo_nul_inside_object_key(shared_onair):
    r = shared_onair.post("/_test/echo", body=b'{"a\\u0000b":1,"a":2}')
    assert_json_response(r, 200, {"echo": {"a\u0000b": 1, "a": 2}})


@pytest.mark.parametrize("body", [b'{"a":"\x00"}', b'{"a":"tab\there"}', b'["\n"]'])
def test_echo_raw_control_characters_are_bad_json(shared_onair, body):
    assert_error(shared_onair.post("/_test/echo", body=body), 400, "bad-json")


@pytest.mark.parametrize("depth", [1000, 30000])
def test_deeply_nested_json_does_not_crash(shared_onair, depth):
    body = b"[" * depth + b"]" * depth
    r = shared_onair.post("/_test/echo", body=body)
    if r.status == 200:
        value = r.json()["echo"]
        for _ in range(depth - 1):
            assert value and isinstance(value, list)
            value = value[0]
        assert value == []
    else:
        assert_error(r, r.status)
        assert r.status in (400, 413, 422), r
    assert_json_response(shared_onair.get("/health"), 200, {"status": "ok"})
    assert shared_onair.running()


# -- HEAD and Expect: 100-continue ------------------------------------------------


def test_head_is_get_without_the_body(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("HEAD", "/health") + build_request("GET", "/health"))
        head = c.read_response(head=True)
        assert head.status == 200, head
        assert head.header("Content-Length") == "15", head  # the GET body's length
        # no body bytes follow: the next response starts right away
        get = c.read_response()
        assert_json_response(get, 200, {"status": "ok"})


def test_405_allow_lists_head_with_get_and_options(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("DELETE", "/health"))
        r = c.read_response()
        assert r.status == 405, r
        assert r.header("Allow") == "GET, HEAD, OPTIONS", r


def test_expect_100_continue(shared_onair):
    body = b'{"k":"' + b"v" * 2000 + b'"}'
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo",
                             headers={"Expect": "100-continue",
                                      "Content-Length": str(len(body))}))
        interim = c.read_response(timeout=2)
        assert interim.status == 100, interim
        c.send(body)
        assert_json_response(c.read_response(), 200, {"echo": {"k": "v" * 2000}})


def test_expect_100_continue_over_the_limit_is_413_without_100(shared_onair):
    with RawConn(shared_onair.port) as c:
        c.send(build_request("POST", "/_test/echo",
                             headers={"Expect": "100-continue", "Content-Length": "70000"}))
        r = c.read_response(timeout=2)
        assert r.status == 413, r
