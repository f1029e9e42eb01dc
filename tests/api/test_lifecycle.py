"""Process lifecycle: graceful shutdown on SIGTERM/SIGINT, bad configuration."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from harness import (HOST, ConnectionClosed, RawConn, assert_json_response, build_request,
                     free_port, onair_bin, tail)


def new_connection_refused_or_closed(port):
    """True if a new connection to port is refused, or accepted and closed
    without a successful response."""
    try:
        c = RawConn(port, timeout=2)
    except (ConnectionRefusedError, ConnectionResetError, socket.timeout):
        return True
    try:
        if not c.try_send(build_request("GET", "/health")):
            return True
        try:
            r = c.read_response(timeout=2)
        except ConnectionClosed:
            return True
        # An answer is acceptable only if it refuses service and closes.
        return r.status == 503 and r.wants_close()
    finally:
        c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_finishes_in_flight(make_onair, redis_server, sig):
    srv = make_onair(redis_server)
    result = {}
    conn = RawConn(srv.port, timeout=10)

    def slow():
        try:
            result["r"] = conn.request("GET", "/_test/sleep?ms=1000", timeout=10)
        except Exception as e:  # reported by the assertions below
            result["e"] = e

    t = threading.Thread(target=slow)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.2)
    srv.send_signal(sig)
    try:
        # new connections are refused (or closed) while the slow one finishes
        time.sleep(0.2)
        assert srv.running(), "server exited before finishing its in-flight request"
        assert new_connection_refused_or_closed(srv.port), \
            "a new connection was served after the shutdown signal"
        t.join(10)
        assert "e" not in result, f"in-flight request failed: {result.get('e')!r}"
        r = result["r"]
        assert_json_response(r, 200, {"slept": 1000})
        assert time.monotonic() - t0 >= 0.95
        rc = srv.wait(5)
        assert rc is not None, "server still running 5 s after finishing its last request"
        assert rc == 0, f"exit status {rc}:\n" + tail(srv.log_text())
        assert new_connection_refused_or_closed(srv.port)
    finally:
        conn.close()


def test_sigterm_idle_server_exits_quickly(make_onair, redis_server):
    srv = make_onair(redis_server)
    # an idle keep-alive connection must not hold the shutdown up
    with RawConn(srv.port) as c:
        assert_json_response(c.request("GET", "/health"), 200, {"status": "ok"})
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(5)
        assert rc == 0, (rc, tail(srv.log_text()))
        assert time.monotonic() - t0 < 2.0
        assert c.wait_closed(1)


def test_sigterm_with_redis_down_exits(make_onair, redis_server):
    srv = make_onair(redis_server)
    redis_server.stop()
    time.sleep(0.2)
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(5)
    assert rc == 0, (rc, tail(srv.log_text()))


def test_two_instances_share_one_redis(make_onair, redis_server):
    a = make_onair(redis_server)
    b = make_onair(redis_server)
    counts = []
    for i in range(6):
        srv = a if i % 2 == 0 else b
        counts.append(assert_json_response(srv.get("/_test/redis"), 200)["count"])
    assert counts == [1, 2, 3, 4, 5, 6]


# -- bad configuration --------------------------------------------------------------


def run_bad_config(args, env=None, timeout=5):
    """Runs onair expecting it to refuse its configuration; returns
    (exit status, stderr + stdout text).  Kills it if it keeps running."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("ONAIR_")}
    e.update(env or {})
    p = subprocess.Popen([onair_bin()] + args, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"onair {args} {env} kept running instead of refusing the "
                             f"configuration:\n{err.decode(errors='replace')}")
    return p.returncode, err.decode(errors="replace"), out.decode(errors="replace")


def nowhere_redis(tmp_path):
    return "unix://" + str(tmp_path / "none.sock")


@pytest.mark.parametrize("value", ["nonsense", "127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:port"])
def test_bad_listen_exits_2(tmp_path, value):
    rc, err, _ = run_bad_config(["--listen", value, "--redis", nowhere_redis(tmp_path)])
    assert rc == 2, (rc, err)
    assert "listen" in err.lower(), err


def test_bad_listen_env_exits_2(tmp_path):
    rc, err, _ = run_bad_config(["--redis", nowhere_redis(tmp_path)], env={"ONAIR_LISTEN": "nonsense"})
    assert rc == 2, (rc, err)
    assert "listen" in err.lower(), err


@pytest.mark.parametrize("name,value", [
    ("ONAIR_MAX_BODY_BYTES", "abc"),
    ("ONAIR_MAX_BODY_BYTES", "-5"),
    ("ONAIR_MAX_BODY_BYTES", "12abc"),
    ("ONAIR_HEADER_TIMEOUT_MS", "1e3"),
    ("ONAIR_REDIS_TIMEOUT_MS", "99999999999999999999999"),
])
def test_bad_number_env_exits_2(tmp_path, name, value):
    rc, err, _ = run_bad_config(["--listen", f"{HOST}:{free_port()}", "--redis", nowhere_redis(tmp_path)],
                                env={name: value})
    assert rc == 2, (rc, err)
    flag = name[len("ONAIR_"):].lower()
    assert name.lower() in err.lower() or flag in err.lower() or \
        flag.replace("_", "-") in err.lower(), f"stderr does not name {name}: {err!r}"


def test_bad_number_flag_exits_2(tmp_path):
    rc, err, _ = run_bad_config(["--listen", f"{HOST}:{free_port()}", "--redis", nowhere_redis(tmp_path),
                                 "--max-body-bytes", "abc"])
    assert rc == 2, (rc, err)
    assert "max-body-bytes" in err.lower() or "max_body_bytes" in err.lower(), err


def test_unknown_flag_exits_2(tmp_path):
    rc, err, _ = run_bad_config(["--listen", f"{HOST}:{free_port()}", "--redis", nowhere_redis(tmp_path),
                                 "--no-such-flag"])
    assert rc == 2, (rc, err)
    assert "no-such-flag" in err, err


@pytest.mark.parametrize("value", ["nonsense", "http://127.0.0.1:6379", "unix://"])
def test_bad_redis_url_exits_2(tmp_path, value):
    rc, err, _ = run_bad_config(["--listen", f"{HOST}:{free_port()}", "--redis", value])
    assert rc == 2, (rc, err)
    assert "redis" in err.lower(), err


def test_flags_win_over_env(make_onair, redis_server):
    """--listen and --max-body-bytes on the command line beat ONAIR_LISTEN and
    ONAIR_MAX_BODY_BYTES."""
    other = free_port()
    srv = make_onair(redis_server, env={"ONAIR_LISTEN": f"{HOST}:{other}",
                                        "ONAIR_MAX_BODY_BYTES": "100"},
                     args=["--max-body-bytes", "2000"])
    assert_json_response(srv.get("/health"), 200, {"status": "ok"})
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, other), timeout=1).close()
    body = b'"' + b"y" * 1498 + b'"'
    assert_json_response(srv.post("/_test/echo", body=body), 200, {"echo": "y" * 1498})
    r = srv.post("/_test/echo", body=b'"' + b"y" * 2000 + b'"')
    assert r.status == 413, r


def test_env_settings_apply(make_onair, redis_server):
    srv = make_onair(redis_server, env={"ONAIR_MAX_BODY_BYTES": "100"})
    assert_json_response(srv.post("/_test/echo", body=b'"' + b"z" * 98 + b'"'), 200, {"echo": "z" * 98})
    r = srv.post("/_test/echo", body=b'"' + b"z" * 99 + b'"')
    assert r.status == 413, r


def test_shutdown_is_bounded(make_onair, redis_server):
    """A request longer than the shutdown bound does not keep the process
    alive: it exits 0 soon after ONAIR_SHUTDOWN_TIMEOUT_MS."""
    srv = make_onair(redis_server, env={"ONAIR_SHUTDOWN_TIMEOUT_MS": "500"})
    with RawConn(srv.port, timeout=10) as c:
        # (4 s, not longer: if the bound is ignored the test fails in ~4 s)
        c.send(build_request("GET", "/_test/sleep?ms=4000"))
        time.sleep(0.1)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(5)
        assert rc is not None, "still running 5 s after SIGTERM with a 500 ms shutdown bound"
        assert rc == 0, (rc, tail(srv.log_text()))
        elapsed = time.monotonic() - t0
        assert elapsed < 2.0, f"exited {elapsed:.2f}s after SIGTERM; the bound is 0.5 s"
        # the cut request's connection is closed (with or without an answer)
        try:
            r = c.read_response(timeout=2)
            assert r.status != 200, r
        except ConnectionClosed:
            pass
