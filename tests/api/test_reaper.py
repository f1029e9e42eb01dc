"""Server-side deadlines: a sorted set of due times in Redis, reaped by every
instance; each deadline fires exactly once (RPUSH onto <prefix>test:fired),
and never before it is due."""

import random
import time

from harness import assert_json_response, wait_until

FIRED = "onair:test:fired"


def schedule(srv, ident, in_ms):
    r = srv.post_json("/_test/deadline", {"id": ident, "in_ms": in_ms})
    value = assert_json_response(r, 201)
    assert value["id"] == ident, value
    return value["due"]


def zsets_holding(client, prefix, ids):
    """Sorted sets under prefix that still hold one of ids."""
    found = {}
    for key in client.scan_iter(prefix + "*"):
        if client.type(key) != "zset":
            continue
        left = [m for m in client.zrange(key, 0, -1) if m in ids]
        if left:
            found[key] = left
    return found


def test_deadlines_fire_exactly_once_across_instances(make_onair, redis_server):
    a = make_onair(redis_server)
    b = make_onair(redis_server)
    client = redis_server.client()
    rng = random.Random(20261122)
    ids = [f"dl-{i:02d}-{rng.randrange(1 << 30):08x}" for i in range(50)]
    for i, ident in enumerate(ids):
        schedule(a if i % 2 == 0 else b, ident, rng.randrange(0, 501))
    t_last = time.monotonic()
    wait_until(lambda: client.llen(FIRED) >= len(ids), 3.0 - (time.monotonic() - t_last),
               message="all 50 deadlines to fire")
    # give a duplicate the chance to show up
    time.sleep(0.3)
    fired = client.lrange(FIRED, 0, -1)
    dups = sorted({x for x in fired if fired.count(x) > 1})
    assert not dups, f"fired more than once: {dups}"
    assert sorted(fired) == sorted(ids), (set(ids) - set(fired), set(fired) - set(ids))
    assert zsets_holding(client, "onair:", set(ids)) == {}


def test_deadline_not_fired_before_due(onair, redis_server):
    client = redis_server.client()
    t0 = time.monotonic()
    now_ms = time.time() * 1000
    due = schedule(onair, "late-one", 1500)
    assert abs(due - (now_ms + 1500)) < 500, (due, now_ms)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    assert client.lrange(FIRED, 0, -1) == [], "fired before it was due"
    wait_until(lambda: client.lrange(FIRED, 0, -1) == ["late-one"], 2.5 - (time.monotonic() - t0),
               message="the deadline to fire by 2.5 s")
    fired_at = time.monotonic() - t0
    assert fired_at >= 1.4, f"fired at {fired_at:.3f}s, due at 1.5 s"
    assert zsets_holding(client, "onair:", {"late-one"}) == {}


def test_deadline_zero_fires_promptly(onair, redis_server):
    client = redis_server.client()
    t0 = time.monotonic()
    schedule(onair, "now", 0)
    wait_until(lambda: client.lrange(FIRED, 0, -1) == ["now"], 1.0, message="in_ms=0 to fire")
    assert time.monotonic() - t0 < 1.0


def test_reaper_interval_is_configurable(make_onair, redis_server):
    srv = make_onair(redis_server, env={"ONAIR_REAPER_INTERVAL_MS": "1000"})
    client = redis_server.client()
    # let one reaper turn pass, so that the next is ~1 s away at most
    t0 = time.monotonic()
    schedule(srv, "slow-reaper", 0)
    wait_until(lambda: client.lrange(FIRED, 0, -1) == ["slow-reaper"], 2.5,
               message="the deadline to fire with a 1 s reaper interval")
    elapsed = time.monotonic() - t0
    assert elapsed < 1.6, elapsed
    # a second one, scheduled right after a turn, waits for the next turn
    schedule(srv, "slow-reaper-2", 0)
    t1 = time.monotonic()
    wait_until(lambda: "slow-reaper-2" in client.lrange(FIRED, 0, -1), 2.5,
               message="the second deadline to fire")
    assert time.monotonic() - t1 >= 0.5, "fired sooner than a 1 s reaper interval allows"


def test_surviving_instance_fires_deadlines_of_a_stopped_one(make_onair, redis_server):
    a = make_onair(redis_server)
    b = make_onair(redis_server)
    client = redis_server.client()
    ids = [f"orphan-{i}" for i in range(10)]
    for ident in ids:
        schedule(a, ident, 700)
    assert a.stop() == 0
    wait_until(lambda: client.llen(FIRED) >= len(ids), 3.0, message="b to fire a's deadlines")
    time.sleep(0.2)
    assert sorted(client.lrange(FIRED, 0, -1)) == sorted(ids)
    assert b.running()


def test_key_prefix_applies_to_deadlines(make_onair, redis_server):
    srv = make_onair(redis_server, env={"ONAIR_KEY_PREFIX": "other:"})
    client = redis_server.client()
    schedule(srv, "pfx", 50)
    wait_until(lambda: client.lrange("other:test:fired", 0, -1) == ["pfx"], 2.0,
               message="other:test:fired to hold the id")
    assert client.llen(FIRED) == 0
    assert [k for k in client.scan_iter("onair:*")] == []


def test_rescheduling_same_id_fires_once(onair, redis_server):
    """Scheduling an id again moves its due time (a set, not a queue)."""
    client = redis_server.client()
    # wide margins: a loaded machine may take a while between the two calls
    schedule(onair, "same", 1000)
    schedule(onair, "same", 2000)
    t0 = time.monotonic()
    time.sleep(1.3)
    assert client.lrange(FIRED, 0, -1) == [], "fired at the first due time after rescheduling"
    wait_until(lambda: client.lrange(FIRED, 0, -1) == ["same"], 3.0, message="fire")
    time.sleep(0.3)
    assert client.lrange(FIRED, 0, -1) == ["same"]
    assert time.monotonic() - t0 >= 1.5


def test_deadline_due_while_redis_paused_fires_once(make_onair, redis_server):
    """Reaper commands that time out while Redis is frozen do not make a
    deadline fire twice, or strand it: once Redis thaws, every deadline that
    came due during the freeze fires within a few seconds."""
    env = {"ONAIR_REAPER_INTERVAL_MS": "200"}
    a = make_onair(redis_server, env=env)
    b = make_onair(redis_server, env=env)
    client = redis_server.client()
    ids = [f"frozen-{i}" for i in range(10)]
    for i, ident in enumerate(ids):
        schedule(a if i % 2 else b, ident, 0)
    # freeze at once: the reaper turns that find them due run during the freeze
    redis_server.pause()
    try:
        time.sleep(1.2)  # several reaper turns and command deadlines
    finally:
        redis_server.resume()
    wait_until(lambda: client.llen(FIRED) >= len(ids), 5.0,
               message="the deadlines to fire within 5 s after SIGCONT")
    time.sleep(0.5)
    fired = client.lrange(FIRED, 0, -1)
    assert sorted(fired) == sorted(ids), fired
    assert zsets_holding(client, "onair:", set(ids)) == {}
