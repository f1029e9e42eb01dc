"""Fixtures for the black-box API tests.

Every process is stopped by a fixture finalizer, also when the test fails;
a session finalizer kills anything left over.  When a test fails, the log
tails of the onair servers it used are attached to its report."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import OnairServer, RedisServer  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    if not os.access(harness.onair_bin(), os.X_OK):
        pytest.exit(f"onair binary not found at {harness.onair_bin()} (set ONAIR_BIN)", returncode=2)
    yield
    harness.kill_leftovers()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._onair_t0 = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    t0 = getattr(item, "_onair_t0", 0)
    for i, srv in enumerate(harness.ALL_ONAIR):
        used = srv.started_at is not None and (srv.stopped_at is None or srv.stopped_at >= t0)
        if used:
            report.sections.append((f"onair[{i}] port {srv.port} log tail",
                                    harness.tail(srv.log_text(), 60)))


class _Servers:
    """Factory for onair servers; its finalizer stops them all and fails if
    one crashed, hung on SIGTERM or exited non-zero."""

    def __init__(self):
        self.servers = []

    def __call__(self, redis_server, env=None, hooks=True, args=None, start=True, **kw):
        srv = OnairServer(redis_server, env=env, hooks=hooks, args=args, **kw)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def finish(self):
        problems = []
        for srv in self.servers:
            if srv.proc is None:
                continue
            if srv.returncode is not None:
                continue  # its exit was already observed (and judged) by the test
            crashed = srv.proc.poll() is not None
            try:
                rc = srv.stop()
            except AssertionError as e:
                problems.append(str(e))
                rc = None
            if crashed:
                problems.append(f"onair on port {srv.port} exited by itself with {rc}:\n"
                                + harness.tail(srv.log_text(), 40))
            elif rc not in (0, None):
                problems.append(f"onair on port {srv.port} exited with {rc} after SIGTERM:\n"
                                + harness.tail(srv.log_text(), 40))
        for srv in self.servers:
            srv.cleanup()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


class _Redises:
    def __init__(self):
        self.servers = []

    def __call__(self):
        r = RedisServer()
        self.servers.append(r)
        return r.start()

    def finish(self):
        for r in self.servers:
            r.cleanup()


@pytest.fixture
def make_onair(make_redis):
    """make_onair(redis_server, env=None, hooks=True, args=None, start=True).
    Depends on make_redis so that servers stop before their Redis does."""
    f = _Servers()
    yield f
    f.finish()


@pytest.fixture
def make_redis():
    f = _Redises()
    yield f
    f.finish()


@pytest.fixture
def redis_server(make_redis):
    """A fresh redis-server for one test."""
    return make_redis()


@pytest.fixture
def onair(make_onair, redis_server):
    """A fresh onair server (test hooks on) on a fresh redis-server."""
    return make_onair(redis_server)


@pytest.fixture(scope="module")
def shared_redis():
    r = RedisServer().start()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def make_onair_module(shared_redis):
    """make_onair for servers that live as long as the test module (stopped
    before shared_redis)."""
    f = _Servers()
    yield f
    f.finish()


@pytest.fixture(scope="module")
def shared_onair(make_onair_module, shared_redis):
    """One onair server (test hooks on) for a whole module of read-mostly tests."""
    return make_onair_module(shared_redis)
