"""Redis down or slow is a normal condition: 503 with Retry-After within the
command deadline, never a hang; /health unaffected; recovery on its own."""

import threading
import time

from harness import RawConn, assert_error, assert_json_response, build_request, metric, wait_until

FAST = 1.0  # every request must answer within this many seconds


def timed_get(srv, path):
    r = srv.get(path, timeout=5)
    assert r.elapsed < FAST, f"GET {path} took {r.elapsed:.3f}s: {r!r}"
    return r


def assert_unavailable(r):
    assert_error(r, 503, "unavailable")
    ra = r.header("Retry-After")
    assert ra is not None and ra.strip().isdigit(), r


def redis_up_gauge(srv):
    return metric(srv.metrics(), "onair_redis_up")


def test_redis_stopped_then_restarted(onair, redis_server):
    assert_json_response(timed_get(onair, "/ready"), 200, {"status": "ok"})
    assert_json_response(timed_get(onair, "/_test/redis"), 200, {"count": 1})
    assert redis_up_gauge(onair) == 1

    redis_server.stop()
    t0 = time.monotonic()
    wait_until(lambda: timed_get(onair, "/ready").status == 503, 1.0,
               message="/ready to turn 503 after Redis stopped")
    assert time.monotonic() - t0 <= 1.05
    assert_unavailable(timed_get(onair, "/ready"))
    assert_unavailable(timed_get(onair, "/_test/redis"))
    assert_unavailable(timed_get(onair, "/_test/redis"))
    assert_json_response(timed_get(onair, "/health"), 200, {"status": "ok"})
    assert redis_up_gauge(onair) == 0
    # a deadline cannot be scheduled either
    r = onair.post_json("/_test/deadline", {"id": "d", "in_ms": 10}, timeout=5)
    assert r.elapsed < FAST, r.elapsed
    assert_unavailable(r)

    redis_server.start()
    t1 = time.monotonic()
    wait_until(lambda: timed_get(onair, "/ready").status == 200, 5.0,
               message="/ready to turn 200 after Redis restarted")
    assert time.monotonic() - t1 <= 5.05
    assert_json_response(timed_get(onair, "/ready"), 200, {"status": "ok"})
    # the restarted Redis is empty: the counter starts again
    assert_json_response(timed_get(onair, "/_test/redis"), 200, {"count": 1})
    assert_json_response(timed_get(onair, "/_test/redis"), 200, {"count": 2})
    assert redis_up_gauge(onair) == 1


def test_redis_down_many_times(onair, redis_server):
    """Two outages in a row: the client keeps reconnecting."""
    for _ in range(2):
        redis_server.stop()
        wait_until(lambda: timed_get(onair, "/_test/redis").status == 503, 1.0,
                   message="/_test/redis 503")
        redis_server.start()
        wait_until(lambda: timed_get(onair, "/_test/redis").status == 200, 5.0,
                   message="/_test/redis 200 again")


def test_redis_paused_answers_503_within_deadline(onair, redis_server):
    assert_json_response(timed_get(onair, "/_test/redis"), 200, {"count": 1})
    redis_server.pause()
    try:
        r = timed_get(onair, "/_test/redis")
        assert_unavailable(r)
        # command deadline ONAIR_REDIS_TIMEOUT_MS defaults to 500 ms
        assert 0.3 <= r.elapsed, f"503 after only {r.elapsed:.3f}s: was the command even tried?"
        assert_json_response(timed_get(onair, "/health"), 200, {"status": "ok"})
        assert_unavailable(timed_get(onair, "/ready"))
    finally:
        redis_server.resume()
    wait_until(lambda: timed_get(onair, "/_test/redis").status == 200, 5.0,
               message="/_test/redis 200 after SIGCONT")
    wait_until(lambda: timed_get(onair, "/ready").status == 200, 5.0,
               message="/ready 200 after SIGCONT")
    assert redis_up_gauge(onair) == 1
    # (the INCR sent during the pause may still have been applied by Redis;
    # from now on each request counts exactly once)
    c1 = assert_json_response(timed_get(onair, "/_test/redis"), 200)["count"]
    c2 = assert_json_response(timed_get(onair, "/_test/redis"), 200)["count"]
    assert c2 == c1 + 1


def test_redis_paused_concurrent_requests_all_answer(onair, redis_server):
    """In-flight commands all fail together at the deadline."""
    redis_server.pause()
    results = []
    try:
        def one():
            results.append(onair.get("/_test/redis", timeout=5))

        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
    finally:
        redis_server.resume()
    assert len(results) == 20
    for r in results:
        assert r.elapsed < 1.5, r.elapsed
        assert_unavailable(r)
    wait_until(lambda: timed_get(onair, "/_test/redis").status == 200, 5.0,
               message="/_test/redis 200 after SIGCONT")


def test_redis_paused_with_custom_timeout(make_onair, redis_server):
    srv = make_onair(redis_server, env={"ONAIR_REDIS_TIMEOUT_MS": "150"})
    redis_server.pause()
    try:
        r = srv.get("/_test/redis", timeout=5)
        assert_unavailable(r)
        assert r.elapsed < 0.5, r.elapsed
    finally:
        redis_server.resume()
    wait_until(lambda: srv.get("/_test/redis").status == 200, 5.0, message="recovery")


def test_pipelined_requests_during_outage_keep_order(onair, redis_server):
    redis_server.stop()
    wait_until(lambda: timed_get(onair, "/_test/redis").status == 503, 1.0, message="503")
    with RawConn(onair.port) as c:
        c.send(build_request("GET", "/_test/redis") + build_request("GET", "/health")
               + build_request("GET", "/_test/redis") + build_request("POST", "/_test/echo", body=b"1"))
        assert_unavailable(c.read_response())
        assert_json_response(c.read_response(), 200, {"status": "ok"})
        assert_unavailable(c.read_response())
        assert_json_response(c.read_response(), 200, {"echo": 1})


def test_start_while_redis_down(make_onair, redis_server):
    """The server starts and serves /health without Redis; /ready follows
    Redis once it comes."""
    redis_server.stop()
    srv = make_onair(redis_server)
    assert_json_response(timed_get(srv, "/health"), 200, {"status": "ok"})
    assert_unavailable(timed_get(srv, "/ready"))
    assert_unavailable(timed_get(srv, "/_test/redis"))
    redis_server.start()
    wait_until(lambda: timed_get(srv, "/ready").status == 200, 5.0, message="/ready 200")
    assert_json_response(timed_get(srv, "/_test/redis"), 200, {"count": 1})


def test_client_gone_before_redis_answers(onair, redis_server):
    """Replies (or deadline failures) for a vanished client are dropped safely."""
    redis_server.pause()
    try:
        for _ in range(5):
            c = RawConn(onair.port)
            c.send(build_request("GET", "/_test/redis") * 3)
            time.sleep(0.02)
            c.close()
        time.sleep(0.1)
    finally:
        redis_server.resume()
    redis_server.pause()
    try:
        for _ in range(5):
            c = RawConn(onair.port)
            c.send(build_request("GET", "/_test/redis"))
            time.sleep(0.02)
            c.close()
        time.sleep(0.7)  # past the command deadline
    finally:
        redis_server.resume()
    wait_until(lambda: timed_get(onair, "/_test/redis").status == 200, 5.0, message="recovery")
    assert onair.running()


def _push_burst(onair, n, size):
    """n connections each POST a `size`-byte body to /_test/redis (RPUSH);
    returns the connections, responses unread, and the bodies."""
    bodies = [(b"%03d" % i) * (size // 3) for i in range(n)]
    conns = [RawConn(onair.port) for _ in range(n)]
    for c, b in zip(conns, bodies):
        c.send(build_request("POST", "/_test/redis", body=b))
    return conns, bodies


def test_commands_held_while_redis_lags_all_run_once(onair, redis_server):
    """Redis paused while 40 requests of 60 KB arrive at once: past the first
    64 KB, commands wait in onair rather than in hiredis' buffer (counted by
    onair_redis_held_total); once Redis resumes, every one runs exactly once
    and each answer is its own command's."""
    r = redis_server.client()
    r.delete("onair:test:list")
    held = metric(onair.metrics(), "onair_redis_held_total")
    redis_server.pause()
    try:
        conns, bodies = _push_burst(onair, 40, 60000)
        wait_until(lambda: metric(onair.metrics(), "onair_redis_held_total") - held >= 30, 5,
                   message="commands held while Redis is paused")
    finally:
        redis_server.resume()
    try:
        counts = [assert_json_response(c.read_response(), 200)["count"] for c in conns]
    finally:
        for c in conns:
            c.close()
    assert sorted(counts) == list(range(1, 41))
    stored = r.lrange("onair:test:list", 0, -1)
    for count, body in zip(counts, bodies):
        assert stored[count - 1] == body.decode(), f"answer {count} is not its command's"
    assert metric(onair.metrics(), "onair_redis_held_total") - held >= 30


def test_commands_held_past_the_deadline_fail_then_recover(onair, redis_server):
    """Held commands fail with the rest when the command deadline passes: a
    503 for each, within the deadline, and the next commands run normally."""
    r = redis_server.client()
    redis_server.pause()
    try:
        start = time.monotonic()
        conns, _ = _push_burst(onair, 30, 60000)
        try:
            for c in conns:
                assert_unavailable(c.read_response())
        finally:
            for c in conns:
                c.close()
        assert time.monotonic() - start < 1.5
    finally:
        redis_server.resume()
    wait_until(lambda: timed_get(onair, "/_test/redis").status == 200, 5.0, message="recovery")
    r.delete("onair:test:list")
    conns, bodies = _push_burst(onair, 3, 60000)
    try:
        counts = [assert_json_response(c.read_response(), 200)["count"] for c in conns]
    finally:
        for c in conns:
            c.close()
    assert sorted(counts) == [1, 2, 3]
    assert sorted(r.lrange("onair:test:list", 0, -1)) == sorted(b.decode() for b in bodies)
