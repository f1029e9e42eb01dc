"""GET /events: Server-Sent Events (docs/events.md, API.md §9).

Authentication, the stream's headers and first bytes, cross-instance fan-out,
isolation, replay after Last-Event-ID, heartbeats, the per-account cap across
instances, the real `account` events, streams ending on revocation, Redis
restarts, slow consumers, metrics, SIGTERM, and the POST /_test/notify hook.

"Instance A/B" is two onair processes on one redis-server."""

import json
import signal
import socket
import time

import pytest

from accounts_util import (AcctEnv, assert_account, expect, expect_error, expect_forbidden,
                           expect_rate_limited, expect_unauthorized, jwt_decode, jwt_sign,
                           new_password, ready, server_env)
from events_util import (Streams, gauge, id_key, notify, notify_raw, open_stream,
                         wait_gauge)
from harness import request, wait_until

HB_MS = 200          # heartbeat of the module's servers
LIVE = 1.0           # an event published on one instance reaches a stream within this


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def ev(make_onair_module, shared_redis):
    """Instances A and B on one Redis, 200 ms heartbeats, other settings default."""
    env = server_env(ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    a = ready(make_onair_module(shared_redis, env=env))
    b = ready(make_onair_module(shared_redis, env=env))
    return AcctEnv(a, b, shared_redis)


@pytest.fixture
def sse():
    """sse(port, token=..., ...) opens a stream; sse.ok(...) asserts 200.
    Every stream is closed at teardown."""
    s = Streams()
    yield s
    s.close_all()


def pair(make_onair, redis_server, **env):
    """A fresh AcctEnv (A, B) on redis_server with these extra settings."""
    e = server_env(**env)
    a = ready(make_onair(redis_server, env=e))
    b = ready(make_onair(redis_server, env=e))
    return AcctEnv(a, b, redis_server)


def refused(stream, status, code):
    """The stream was answered with this JSON error."""
    assert stream.status == status, (f"GET /events: expected {status} {code}, got {stream.status} "
                                     f"{stream.headers!r} {stream.response!r}")
    return expect_error(stream.response, status, code)


def limited(stream):
    """The stream was refused with 429 rate-limited + Retry-After."""
    assert stream.status == 429, f"expected 429, got {stream.status} {stream.response!r}"
    return expect_rate_limited(stream.response)


def expect_unavailable(stream):
    refused(stream, 503, "unavailable")
    ra = stream.header("Retry-After")
    assert ra is not None and ra.strip().isdigit() and int(ra) >= 1, stream.headers


def expect_events(stream, expected, timeout=2.0):
    """The stream's next events are exactly expected: [(id, name, data)],
    in that order (the whole batch within timeout)."""
    got = stream.next_events(len(expected), timeout)
    assert [(e.id, e.event, e.json()) for e in got] == expected, got
    for e in got:
        assert e.data_lines == 1, f"data is not one line: {e!r}"
    return got


def publish(api, to, n, event="ping", tag="e"):
    """n notifications to account `to`; returns [(id, event, data)]."""
    out = []
    for i in range(n):
        data = {"n": i, "tag": tag}
        out.append((notify(api, to, event, data), event, data))
    return out


# --------------------------------------------------------------------------
# 1. authentication


def _bad_tokens(c):
    h, p, _ = jwt_decode(c.token)
    now = int(time.time())
    return {
        "garbage": "garbage",
        "three-parts": "abc.def.ghi",
        "other-secret": jwt_sign(h, p, key=b"\x01" * 32),
        "expired": jwt_sign(h, dict(p, iat=now - 200, exp=now - 100)),
        "alg-none": jwt_sign(dict(h, alg="none"), p).rsplit(".", 1)[0] + ".",
    }


@pytest.mark.parametrize("how", ["header", "query"])
def test_bad_tokens_are_401(ev, sse, how):
    c = ev.a.create_account()
    for name, tok in _bad_tokens(c).items():
        for srv in (ev.srv_a, ev.srv_b):
            kw = {"token": tok} if how == "header" else {"query_token": tok}
            s = sse(srv.port, **kw)
            assert s.status == 401, f"{name} token via {how}: {s.status} {s.response!r}"
            expect_unauthorized(s.response)


def test_no_token_is_401(ev, sse):
    for srv in (ev.srv_a, ev.srv_b):
        expect_unauthorized(sse(srv.port).response)
        expect_unauthorized(sse(srv.port, query_token="").response)
        # a scheme without a token
        expect_unauthorized(sse(srv.port, headers={"Authorization": "Bearer"}).response)


def test_revoked_token_is_401(ev, sse):
    c = ev.a.create_account()
    t = ev.b.login_ok(c.password, email=c.email)["token"]
    assert expect(ev.a.post("/auth/logout", token=t), 200) == {"status": "success"}
    expect_unauthorized(sse(ev.srv_b.port, token=t).response)
    expect_unauthorized(sse(ev.srv_a.port, query_token=t).response)
    # the account's other token still works
    sse.ok(ev.srv_b.port, token=c.token)


@pytest.mark.parametrize("how", ["Bearer", "JWT", "bearer", "query"])
def test_good_token_is_200(ev, sse, how):
    c = ev.a.create_account()
    if how == "query":
        s = sse(ev.srv_b.port, query_token=c.token)
    else:
        s = sse(ev.srv_b.port, token=c.token, scheme=how)
    assert s.status == 200, s.response
    # and it is that account's stream
    eid = notify(ev.a, c.id, "ping", {"k": how})
    expect_events(s, [(eid, "ping", {"k": how})], LIVE)


def test_query_token_with_other_parameters(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_a.port, path="/events?x=1", query_token=c.token)
    eid = notify(ev.b, c.id, "ping", {})
    expect_events(s, [(eid, "ping", {})], LIVE)


# --------------------------------------------------------------------------
# 2. the 200 response


def test_stream_headers_and_first_bytes(ev, sse):
    c = ev.a.create_account()
    s = sse(ev.srv_a.port, token=c.token)
    assert s.status == 200, s.response
    assert s.version == "HTTP/1.1", s.version
    ct = s.header("Content-Type")
    assert ct is not None and ct.split(";")[0].strip().lower() == "text/event-stream", s.headers
    assert s.header("Cache-Control") == "no-cache", s.headers
    assert (s.header("X-Accel-Buffering") or "").lower() == "no", s.headers
    assert "close" in (s.header("Connection") or "").lower(), s.headers
    assert s.header("Content-Length") is None, s.headers
    assert s.header("Transfer-Encoding") is None, f"body must be close-delimited: {s.headers}"
    assert len(s.header_all("Content-Type")) == 1, s.headers
    assert s.first_bytes in (b":ok\n\n", b":ok\r\n\r\n"), s.first_bytes
    assert s.comments and s.comments[0][1] == "ok", s.comments
    # nothing else is sent on an idle stream but comments
    s.pump(0.3)
    assert not s.events, s.events
    assert not s.eof


def test_trailing_slash_and_methods(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_a.port, token=c.token, path="/events/")
    eid = notify(ev.b, c.id, "ping", {"slash": True})
    expect_events(s, [(eid, "ping", {"slash": True})], LIVE)
    r = request(ev.srv_a.port, "POST", "/events", body=b"{}",
                headers={"Authorization": "Bearer " + c.token})
    expect_error(r, 405, "method-not-allowed")
    assert "GET" in (r.header("Allow") or ""), r


# --------------------------------------------------------------------------
# 3. - 5. fan-out


def test_cross_instance_delivery(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    data = {"gig": {"id": "g1", "n": 3, "ok": True, "none": None, "list": [1, 2.5, "x"]},
            "text": "héllo \u2603 \"quoted\"\nsecond line\t</script>"}
    t0 = time.monotonic()
    eid = notify(ev.a, c.id, "gig", data)
    e = s.next_event(LIVE)
    assert time.monotonic() - t0 < LIVE + 0.2
    assert e.id == eid, (e, eid)
    assert e.event == "gig", e
    assert e.json() == data, e
    assert e.data_lines == 1, f"data must be one line of JSON: {e.fields!r}"
    ms, _ = id_key(e.id)
    assert abs(ms / 1000 - time.time()) < 60, f"id {e.id} is not a Redis stream id of now"
    s.expect_no_event(0.3)


def test_order_and_increasing_ids(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    sent = []
    for i in range(20):
        api = ev.a if i % 2 == 0 else ev.b   # published from both instances
        data = {"i": i}
        sent.append((notify(api, c.id, f"ev{i % 3}", data), f"ev{i % 3}", data))
    got = expect_events(s, sent, 3.0)
    keys = [id_key(e.id) for e in got]
    assert all(x < y for x, y in zip(keys, keys[1:])), [e.id for e in got]
    s.expect_no_event(0.3)


def test_isolation(ev, sse):
    x, y = ev.a.create_account(), ev.a.create_account()
    sx = sse.ok(ev.srv_b.port, token=x.token)
    sy = sse.ok(ev.srv_b.port, token=y.token)
    sy_a = sse.ok(ev.srv_a.port, token=y.token)
    eid = notify(ev.a, x.id, "secret", {"for": "x"})
    expect_events(sx, [(eid, "secret", {"for": "x"})], LIVE)
    sy.expect_no_event(0.5)
    sy_a.expect_no_event(0.1)
    # control: y's streams work
    eid2 = notify(ev.a, y.id, "mine", {"for": "y"})
    expect_events(sy, [(eid2, "mine", {"for": "y"})], LIVE)
    expect_events(sy_a, [(eid2, "mine", {"for": "y"})], LIVE)
    sx.expect_no_event(0.3)


def test_two_streams_of_one_account(ev, sse):
    c = ev.a.create_account()
    t2 = ev.b.login_ok(c.password, email=c.email)["token"]
    sa = sse.ok(ev.srv_a.port, token=c.token)
    sb = sse.ok(ev.srv_b.port, token=t2)
    sent = publish(ev.a, c.id, 2) + publish(ev.b, c.id, 2, tag="b")
    expect_events(sa, sent, 2.0)
    expect_events(sb, sent, 2.0)
    sa.expect_no_event(0.2)
    sb.expect_no_event(0.1)


def test_first_stream_is_subscribed_when_ok_arrives(ev, sse):
    """For 20 new accounts: open the first stream on B, publish on A at once
    after ':ok': the event arrives (the subscription was in place)."""
    for i in range(20):
        c = ev.a.create_account()
        s = sse.ok(ev.srv_b.port, token=c.token)
        eid = notify(ev.a, c.id, "first", {"i": i})
        expect_events(s, [(eid, "first", {"i": i})], LIVE)
        s.close()


def test_resubscribe_right_after_the_last_stream_closed(ev, sse):
    """Close an account's only stream and open a new one at once (the
    instance is still unsubscribing): the new one gets the next event."""
    c = ev.a.create_account()
    for i in range(20):
        s = sse.ok(ev.srv_b.port, token=c.token)
        s.close()
        s2 = sse.ok(ev.srv_b.port, token=c.token)
        eid = notify(ev.a, c.id, "again", {"i": i})
        expect_events(s2, [(eid, "again", {"i": i})], LIVE)
        s2.close()   # (40 streams in all: closed ones must not exhaust the cap of 5)


def test_many_accounts_at_once(ev, sse):
    """20 accounts, a stream each spread over both instances, one event each:
    every stream gets exactly its own."""
    accts = [ev.a.create_account() for _ in range(20)]
    streams = [sse.ok((ev.srv_a if i % 2 else ev.srv_b).port, token=c.token)
               for i, c in enumerate(accts)]
    sent = [notify(ev.a if i % 3 else ev.b, c.id, "n", {"who": i}) for i, c in enumerate(accts)]
    for i, s in enumerate(streams):
        expect_events(s, [(sent[i], "n", {"who": i})], 2.0)
    for s in streams:
        assert s.poll_event(0.01) is None


# --------------------------------------------------------------------------
# 6. replay


def test_replay_after_last_event_id(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    first = publish(ev.a, c.id, 3, tag="first")
    got = expect_events(s, first, 2.0)
    assert s.last_id == got[-1].id
    s.close()
    missed = publish(ev.b, c.id, 3, tag="missed")
    # reconnect on the other instance
    s2 = sse.ok(ev.srv_a.port, token=c.token, last_event_id=got[-1].id)
    expect_events(s2, missed, 2.0)
    live = publish(ev.b, c.id, 1, tag="live")
    expect_events(s2, live, LIVE)
    s2.expect_no_event(0.4)


def test_replay_from_newest_replays_nothing(ev, sse):
    c = ev.a.create_account()
    sent = publish(ev.a, c.id, 3)
    s = sse.ok(ev.srv_b.port, token=c.token, last_event_id=sent[-1][0])
    s.expect_no_event(0.4)
    live = publish(ev.a, c.id, 2, tag="live")
    expect_events(s, live, LIVE)
    s.expect_no_event(0.2)


def test_replay_from_zero_replays_everything(ev, sse):
    c = ev.a.create_account()
    sent = publish(ev.a, c.id, 5) + publish(ev.b, c.id, 2, event="other")
    s = sse.ok(ev.srv_b.port, token=c.token, last_event_id="0-0")
    expect_events(s, sent, 2.0)
    s.expect_no_event(0.3)
    live = publish(ev.a, c.id, 1, tag="live")
    expect_events(s, live, LIVE)


def test_replay_of_an_empty_log(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_a.port, token=c.token, last_event_id="0-0")
    s.expect_no_event(0.3)
    live = publish(ev.b, c.id, 1)
    expect_events(s, live, LIVE)


def test_replay_from_the_middle(ev, sse):
    """An id between two events (not one that was handed out) resumes after it."""
    c = ev.a.create_account()
    sent = publish(ev.a, c.id, 4)
    ms, seq = id_key(sent[1][0])
    s = sse.ok(ev.srv_b.port, token=c.token, last_event_id=f"{ms}-{seq}")
    expect_events(s, sent[2:], 2.0)
    s.expect_no_event(0.3)


def test_without_last_event_id_no_replay(ev, sse):
    c = ev.a.create_account()
    publish(ev.a, c.id, 3)
    s = sse.ok(ev.srv_b.port, token=c.token)
    s.expect_no_event(0.4)


def test_replay_while_publishing_has_no_gaps_or_duplicates(ev, sse):
    """Events published while a resuming stream reads the log reach it once
    each, in order (whether through the log or live)."""
    import threading
    c = ev.a.create_account()
    early = publish(ev.a, c.id, 5, tag="early")
    sent, errors = [], []

    def pump():
        try:
            for i in range(60):
                api = ev.a if i % 2 else ev.b
                sent.append(notify(api, c.id, "n", {"i": i}))
                time.sleep(0.002)
        except Exception as e:  # asserted below
            errors.append(e)

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    time.sleep(0.02)
    s = sse.ok(ev.srv_b.port, token=c.token, last_event_id=early[1][0])
    t.join(10)
    assert not t.is_alive() and not errors, errors
    expected = [x[0] for x in early[2:]] + sent
    got = [x.id for x in s.next_events(len(expected), 5.0)]
    assert got == expected, (f"{len(got)} events; missing {sorted(set(expected) - set(got))}; "
                             f"first difference at {next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b) if got != expected else None}")
    s.expect_no_event(0.3)


@pytest.mark.parametrize("big", ["18446744073709551616-0", "0-18446744073709551616",
                                 "99999999999999999999999999-0"])
def test_last_event_id_out_of_range(ev, sse, big):
    """<digits>-<digits> beyond 64 bits: either 400 bad-request, or a stream
    that works (never one stuck reading the log)."""
    c = ev.a.create_account()
    s = sse(ev.srv_a.port, token=c.token, last_event_id=big)
    if s.status == 400:
        expect_error(s.response, 400, "bad-request")
        return
    assert s.status == 200, s.response
    s.expect_no_event(0.3)
    assert not s.eof
    # it is live: but ids below Last-Event-ID are "before" it, so the
    # contract does not say whether these must arrive; only that the
    # stream does not die
    notify(ev.b, c.id, "n", {})
    s.pump(0.5)
    assert not s.eof, "the stream ended"


def test_last_event_id_in_the_future(ev, sse):
    """A Last-Event-ID later than anything in the log (e.g. from a store that
    was replaced): nothing to replay, then live events."""
    c = ev.a.create_account()
    ms = int(time.time() * 1000) + 3600 * 1000
    s = sse.ok(ev.srv_a.port, token=c.token, last_event_id=f"{ms}-0")
    s.expect_no_event(0.3)
    live = publish(ev.b, c.id, 1)
    expect_events(s, live, LIVE)


@pytest.mark.parametrize("bad", ["abc", "12", "1-2-3", "-1-0", "1-", "-", "1-x", "0x1-0",
                                 " 1-0x", "", "1.5-0", "+1-0", "1 -0"])
def test_malformed_last_event_id_is_400(ev, sse, bad):
    c = ev.a.create_account()
    refused(sse(ev.srv_a.port, token=c.token, last_event_id=bad), 400, "bad-request")


def test_replay_is_capped(make_onair, redis_server, sse):
    """ONAIR_EVENTS_REPLAY_MAX=100: after 250 events the log still holds at
    least the newest 100, as one contiguous run ending with the newest, and
    has dropped some of the oldest."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_REPLAY_MAX=100)
    c = e.a.create_account()
    sent = [notify(e.a, c.id, "n", {"i": i}) for i in range(250)]
    s = sse.ok(e.srv_b.port, token=c.token, last_event_id="0-0")
    got = []
    while True:
        ev_ = s.poll_event(0.5)
        if ev_ is None:
            break
        got.append(ev_.id)
    assert len(got) >= 100, f"only {len(got)} events replayed"
    assert got == sent[-len(got):], "replay is not the newest events, in order"
    assert len(got) < 250, "nothing was trimmed with ONAIR_EVENTS_REPLAY_MAX=100"


def test_replay_log_expires(make_onair, redis_server, sse):
    """ONAIR_EVENTS_REPLAY_TTL_S=60 (its minimum): the log is dropped 60 s
    after its newest event.  Waiting a minute is too long for a test, so this
    looks into Redis: the stream key that holds the account's events has a TTL
    of at most 60 s, renewed by each new event."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_REPLAY_TTL_S=60)
    c = e.a.create_account()
    sent = publish(e.a, c.id, 2)
    rc = redis_server.client()
    keys = [k for k in rc.scan_iter(count=1000) if rc.type(k) == "stream"
            and [x[0] for x in rc.xrange(k)] == [i for i, _, _ in sent]]
    assert len(keys) == 1, f"no single stream key holds exactly the events {sent}: {keys}"
    ttl = rc.pttl(keys[0])
    assert 55000 <= ttl <= 60000, f"PTTL of the log {keys[0]} is {ttl}"
    rc.pexpire(keys[0], 3000)      # let it age
    publish(e.a, c.id, 1)
    assert 55000 <= rc.pttl(keys[0]) <= 60000, "the TTL was not renewed by a new event"
    # once it is gone, nothing is replayed
    rc.delete(keys[0])
    s = sse.ok(e.srv_b.port, token=c.token, last_event_id="0-0")
    s.expect_no_event(0.3)


# --------------------------------------------------------------------------
# 7. heartbeat


def test_heartbeat_comments(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_a.port, token=c.token)
    t0 = time.monotonic()
    s.pump(1.1)
    beats = [t for t, text in s.comments[1:]]
    assert len(beats) >= 3, f"{len(beats)} comments in 1.1 s with a {HB_MS} ms heartbeat"
    assert len(beats) <= 12, f"{len(beats)} comments in 1.1 s: more than one per heartbeat"
    assert beats[0] - t0 < 0.6, "the first heartbeat came late"
    assert not s.events and not s.eof


def test_heartbeats_keep_coming_between_events(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    for i in range(3):
        notify(ev.a, c.id, "n", {"i": i})
        s.pump(0.3)
    assert [x.json() for x in s.events] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert len(s.comments) - 1 >= 3, s.comments


# --------------------------------------------------------------------------
# 8. per-account cap across instances


def test_cap_per_account_across_instances(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_PER_ACCOUNT=2,
             ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    c, other = e.a.create_account(), e.a.create_account()
    s1 = sse.ok(e.srv_a.port, token=c.token)
    s2 = sse.ok(e.srv_a.port, token=c.token)
    limited(sse(e.srv_b.port, token=c.token))
    # on A as well, and with another token of the same account
    t2 = e.b.login_ok(c.password, email=c.email)["token"]
    limited(sse(e.srv_a.port, token=t2))
    # another account is not affected
    o1 = sse.ok(e.srv_b.port, token=other.token)
    # the two open streams still work
    sent = publish(e.b, c.id, 1)
    expect_events(s1, sent, LIVE)
    expect_events(s2, sent, LIVE)
    # after one closes, a new one opens (the server notices the close by itself)
    s1.close()
    opened = []

    def try_open():
        s = sse(e.srv_b.port, token=t2)
        if s.status == 200:
            opened.append(s)
            return True
        assert s.status == 429, s.response
        return False

    wait_until(try_open, 5, interval=0.1, message="a stream to open after one closed")
    s3 = opened[0]
    # and the cap holds again
    limited(sse(e.srv_a.port, token=c.token))
    sent = publish(e.a, c.id, 1, tag="again")
    expect_events(s3, sent, LIVE)
    expect_events(s2, sent, LIVE)
    o1.expect_no_event(0.1)


def test_cap_holds_over_many_heartbeats(make_onair, redis_server, sse):
    """Leases are renewed: streams open for many heartbeats still count."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_PER_ACCOUNT=2,
             ONAIR_EVENTS_HEARTBEAT_MS=100)
    c = e.a.create_account()
    s1 = sse.ok(e.srv_a.port, token=c.token)
    s2 = sse.ok(e.srv_b.port, token=c.token)
    for _ in range(3):
        s1.pump(0.4)
        s2.pump(0.4)
        limited(sse(e.srv_a.port, token=c.token))
        limited(sse(e.srv_b.port, token=c.token))
    assert not s1.eof and not s2.eof


def test_crashed_instance_streams_stop_counting(make_onair, redis_server, sse):
    """SIGKILL: the instance's leases lapse after three missed heartbeats."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_PER_ACCOUNT=2,
             ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    c = e.a.create_account()
    streams = [sse.ok(e.srv_b.port, token=c.token) for _ in range(2)]
    e.srv_b.send_signal(signal.SIGKILL)
    assert e.srv_b.wait(5) is not None
    t0 = time.monotonic()
    limited(sse(e.srv_a.port, token=c.token))
    for s in streams:
        assert s.wait_closed(1.0)
    opened = []

    def try_open():
        s = sse(e.srv_a.port, token=c.token)
        if s.status == 200:
            opened.append(s)
            return True
        assert s.status == 429, s.response
        return False

    wait_until(try_open, 3, interval=0.05, message="the crashed instance's leases to lapse")
    took = time.monotonic() - t0
    assert took > 0.2, f"leases gone after {took:.2f}s: did they count at all?"
    sent = publish(e.a, c.id, 1)
    expect_events(opened[0], sent, LIVE)


def test_client_close_frees_its_slot_with_default_heartbeat(make_onair, redis_server, sse):
    """The server notices a client's close by itself (not only at the next
    15 s heartbeat)."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_PER_ACCOUNT=1)
    c = e.a.create_account()
    s1 = sse.ok(e.srv_a.port, token=c.token)
    limited(sse(e.srv_b.port, token=c.token))
    s1.close()
    wait_gauge(e.srv_a, "onair_sse_streams", 0, timeout=3)
    opened = []

    def try_open():
        s = sse(e.srv_b.port, token=c.token)
        if s.status == 200:
            opened.append(s)
            return True
        assert s.status == 429, s.response
        return False

    wait_until(try_open, 3, interval=0.05, message="the slot to be freed after the close")


def test_cap_under_concurrent_opens(make_onair, redis_server):
    """Six streams of one account opened at once on both instances with a
    cap of 2: exactly two are 200, the others 429."""
    from accounts_util import run_threads
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_PER_ACCOUNT=2,
             ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    c = e.a.create_account()
    results = run_threads([(lambda srv=srv: open_stream(srv.port, token=c.token))
                           for srv in [e.srv_a, e.srv_b] * 3])
    try:
        for r in results:
            assert not isinstance(r, Exception), r
        statuses = sorted(r.status for r in results)
        assert statuses == [200, 200, 429, 429, 429, 429], statuses
        for r in results:
            if r.status == 429:
                limited(r)
    finally:
        for r in results:
            if not isinstance(r, Exception):
                r.close()


# --------------------------------------------------------------------------
# 9. real events, and streams that end


def test_admin_change_sends_account_event(ev, sse):
    u, other = ev.a.create_account(), ev.a.create_account()
    su = sse.ok(ev.srv_b.port, token=u.token)
    so = sse.ok(ev.srv_b.port, token=other.token)
    sadm = sse.ok(ev.srv_b.port, token=ev.admin_token)
    r = ev.a.put(f"/accounts/{u.id}", {"firstName": "Changed"}, token=ev.admin_token)
    acc = expect(r, 200)["account"]
    e = su.next_event(LIVE)
    assert e.event == "account", e
    data = e.json()
    assert set(data) == {"account"}, data
    assert_account(data["account"], id=u.id, firstName="Changed", status="active")
    assert data["account"] == acc, (data, acc)
    id_key(e.id)
    so.expect_no_event(0.3)
    sadm.expect_no_event(0.05)
    su.expect_no_event(0.05)


def test_owner_activates_dealer_then_renames(ev, sse):
    owner = ev.a.create_account()
    org = ev.a.create_org(owner.token)
    dealer = ev.a.register(code=org["code"])
    assert dealer.account["status"] == "inactive"
    r = ev.b.put(f"/accounts/{dealer.id}", {"status": "active"}, token=owner.token)
    expect(r, 200)
    dtok = ev.a.login_ok(dealer.password, email=dealer.email)["token"]
    # the activation is in the dealer's log: replayed from the start
    s = sse.ok(ev.srv_b.port, token=dtok, last_event_id="0-0")
    e = s.next_event(2.0)
    assert e.event == "account", e
    assert_account(e.json()["account"], id=dealer.id, status="active", type="dealer",
                   organization=org["id"])
    s.expect_no_event(0.3)
    # a live change by the owner
    expect(ev.a.put(f"/accounts/{dealer.id}", {"lastName": "Renamed"}, token=owner.token), 200)
    e2 = s.next_event(LIVE)
    assert e2.event == "account", e2
    assert_account(e2.json()["account"], id=dealer.id, lastName="Renamed")
    assert id_key(e2.id) > id_key(e.id)


def test_password_change_sends_event_then_closes(ev, sse):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    new = new_password()
    r = ev.a.post("/auth/changepassword", {"username": c.username, "password": c.password,
                                            "newpassword": new})
    assert expect(r, 200) == {"status": "success"}
    t0 = time.monotonic()
    e = s.next_event(LIVE)
    assert e.event == "account", e
    data = e.json()
    assert data.get("reason") == "password-changed", data
    assert set(data) == {"account", "reason"}, data
    assert_account(data["account"], id=c.id)
    assert s.wait_closed(1.0 + HB_MS / 1000), "the stream stayed open after the password change"
    assert time.monotonic() - t0 < 1.5
    assert s.poll_event(0) is None
    # the old token cannot open a new one; a new login can
    expect_unauthorized(sse(ev.srv_a.port, token=c.token).response)
    t = ev.a.login_ok(new, email=c.email)["token"]
    sse.ok(ev.srv_a.port, token=t)


def test_logout_closes_only_that_tokens_stream(ev, sse):
    c = ev.a.create_account()
    t2 = ev.a.login_ok(c.password, email=c.email)["token"]
    s1 = sse.ok(ev.srv_b.port, token=c.token)
    s2 = sse.ok(ev.srv_b.port, query_token=t2)
    s3 = sse.ok(ev.srv_a.port, token=t2)
    assert expect(ev.a.post("/auth/logout", token=t2), 200) == {"status": "success"}
    assert s2.wait_closed(1.0), "the logged-out token's stream stayed open"
    assert s3.wait_closed(1.0), "the logged-out token's stream on the other instance stayed open"
    s1.pump(0.5)
    assert not s1.eof, "the other token's stream was closed too"
    sent = publish(ev.a, c.id, 1)
    expect_events(s1, sent, LIVE)


def test_expiring_token_ends_the_stream(ev, sse):
    """The stream ends when its token expires (checked at every heartbeat),
    and the expired token cannot open a new one: else an EventSource would
    reconnect, be cut off, and reconnect again."""
    c = ev.a.create_account()
    h, p, _ = jwt_decode(c.token)
    exp = int(time.time()) + 2
    tok = jwt_sign(h, dict(p, exp=exp))
    s = sse.ok(ev.srv_b.port, token=tok)
    sent = publish(ev.a, c.id, 1)
    expect_events(s, sent, LIVE)
    # (allowing for a clock-skew leeway of a few seconds)
    assert s.wait_closed(exp - time.time() + 7), "the stream outlived its token"
    closed_at = time.time() - (time.monotonic() - s.eof_at)
    assert closed_at > exp - 1, f"closed {exp - closed_at:.2f}s before the token's exp"
    again = sse(ev.srv_b.port, token=tok)
    assert again.status == 401, (
        f"the token that just expired for the stream (closed {closed_at - exp:+.2f}s after "
        f"exp) opens a new stream: {again.status} {again.headers!r}")
    expect_unauthorized(again.response)


@pytest.mark.parametrize("change", [{"status": "inactive"}, {"archive": True}])
def test_deactivated_account_stream_closes(ev, sse, change):
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    expect(ev.a.put(f"/accounts/{c.id}", change, token=ev.admin_token), 200)
    assert s.wait_closed(1.0), f"the stream stayed open after {change}"
    # (if the account event arrived before the close, it says so)
    for e in s.events:
        assert e.event == "account", e
        acc = e.json()["account"]
        assert acc["id"] == c.id
        for k, v in change.items():
            assert acc[k] == v, acc


# --------------------------------------------------------------------------
# 10. 403


@pytest.mark.parametrize("change", [{"status": "inactive"}, {"archive": True}])
def test_inactive_or_archived_is_403(ev, sse, change):
    c = ev.a.create_account()
    expect(ev.a.put(f"/accounts/{c.id}", change, token=ev.admin_token), 200)
    for srv in (ev.srv_a, ev.srv_b):
        s = sse(srv.port, token=c.token)
        assert s.status == 403, s.response
        expect_forbidden(s.response)
        expect_forbidden(sse(srv.port, query_token=c.token).response)
    # active again: 200
    expect(ev.a.put(f"/accounts/{c.id}", {"status": "active", "archive": False},
                    token=ev.admin_token), 200)
    sse.ok(ev.srv_b.port, token=c.token)


# --------------------------------------------------------------------------
# 11. Redis restart, Pub/Sub loss


def _restart_redis(redis_server):
    """Stops redis-server and starts it again on the same socket, keeping its
    data (an explicit SAVE; the server loads dump.rdb at start), as a
    production Redis with persistence would."""
    assert redis_server.client().save()
    redis_server.stop()


@pytest.mark.parametrize("hb", [HB_MS, 15000])
def test_redis_restart_streams_survive(make_onair, redis_server, sse, hb):
    e = pair(make_onair, redis_server, ONAIR_EVENTS_HEARTBEAT_MS=hb)
    c, d = e.a.create_account(), e.a.create_account()
    s = sse.ok(e.srv_b.port, token=c.token)
    s_d = sse.ok(e.srv_b.port, token=d.token)
    before = publish(e.a, c.id, 1, tag="before")
    expect_events(s, before, LIVE)
    assert gauge(e.srv_b, "onair_pubsub_up") == 1
    reconnects = gauge(e.srv_b, "onair_pubsub_reconnects_total")
    assert reconnects is not None

    _restart_redis(redis_server)
    # a new stream gets 503 quickly
    t0 = time.monotonic()
    down = sse(e.srv_b.port, token=d.token, timeout=5)
    assert time.monotonic() - t0 < 2.0, f"GET /events took {time.monotonic() - t0:.2f}s"
    expect_unavailable(down)
    r = notify_raw(e.srv_a.port, {"to": c.id, "event": "x", "data": {}})
    assert r.status == 503, r
    wait_gauge(e.srv_b, "onair_pubsub_up", 0, timeout=3)
    s.pump(0.5)
    assert not s.eof, "the stream was closed while Redis was down"

    redis_server.start()
    for srv in (e.srv_a, e.srv_b):
        wait_until(lambda: srv.get("/ready").status == 200, 5, message="/ready 200")
    wait_gauge(e.srv_b, "onair_pubsub_up", 1, timeout=5)
    assert gauge(e.srv_b, "onair_pubsub_reconnects_total") >= reconnects + 1
    after = publish(e.a, c.id, 2, tag="after")
    expect_events(s, after, 3.0)
    after_d = publish(e.b, d.id, 1, tag="after")
    expect_events(s_d, after_d, 3.0)
    s.expect_no_event(0.3)
    assert not s.eof and not s_d.eof
    # and new streams open again
    sse.ok(e.srv_b.port, token=d.token)


def test_redis_restart_without_data(make_onair, redis_server, sse):
    """A Redis that comes back empty (no persistence): an open stream stays
    open and gets the events published afterwards (the default 15 s heartbeat
    has not checked the token yet)."""
    e = pair(make_onair, redis_server)
    c = e.a.create_account()
    s = sse.ok(e.srv_b.port, token=c.token)
    redis_server.stop()
    wait_gauge(e.srv_b, "onair_pubsub_up", 0, timeout=3)
    redis_server.start()
    for srv in (e.srv_a, e.srv_b):
        wait_until(lambda: srv.get("/ready").status == 200, 5, message="/ready 200")
    wait_gauge(e.srv_b, "onair_pubsub_up", 1, timeout=5)
    sent = publish(e.a, c.id, 2)
    expect_events(s, sent, 3.0)
    s.expect_no_event(0.3)


def test_redis_paused(make_onair, redis_server, sse):
    """The store frozen (SIGSTOP): a new stream is 503 within the command
    deadline; open streams stay open and work once it is back."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    c, d = e.a.create_account(), e.a.create_account()
    s = sse.ok(e.srv_b.port, token=c.token)
    redis_server.pause()
    try:
        t0 = time.monotonic()
        down = sse(e.srv_b.port, token=d.token)
        took = time.monotonic() - t0
        assert took < 2.0, f"GET /events took {took:.2f}s with Redis frozen"
        expect_unavailable(down)
        s.pump(1.0)
        assert not s.eof, "the stream was closed while Redis was frozen"
    finally:
        redis_server.resume()
    for srv in (e.srv_a, e.srv_b):
        wait_until(lambda: srv.get("/ready").status == 200, 5, message="/ready 200")
    wait_gauge(e.srv_b, "onair_pubsub_up", 1, timeout=5)
    sent = publish(e.a, c.id, 2)
    expect_events(s, sent, 3.0)
    s.expect_no_event(0.3)
    sse.ok(e.srv_b.port, token=d.token)


def test_pubsub_connection_killed_misses_nothing(make_onair, redis_server, sse):
    """Pub/Sub connections killed (CLIENT KILL TYPE pubsub) while the store
    stays up: events published while B resubscribes are caught up from the
    log, exactly once, in order."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    c = e.a.create_account()
    s = sse.ok(e.srv_b.port, token=c.token)
    sent = publish(e.a, c.id, 2, tag="before")
    rc = redis_server.client()
    for round_ in range(3):
        # both instances are (re)subscribed
        wait_until(lambda: len(rc.client_list(_type="pubsub")) >= 2, 5, interval=0.01,
                   message="two Pub/Sub connections in CLIENT LIST")
        killed = rc.client_kill_filter(_type="pubsub")
        assert killed >= 2, f"expected both instances' Pub/Sub connections, killed {killed}"
        sent += publish(e.a, c.id, 5, tag=f"during{round_}")
        sent += publish(e.b, c.id, 5, tag=f"during{round_}b")
    wait_gauge(e.srv_b, "onair_pubsub_up", 1, timeout=5)
    sent += publish(e.a, c.id, 2, tag="after")
    expect_events(s, sent, 5.0)
    s.expect_no_event(0.5)
    assert gauge(e.srv_b, "onair_pubsub_reconnects_total") >= 1


# --------------------------------------------------------------------------
# 12. slow consumer


def test_slow_consumer_is_closed(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_BACKLOG=65536,
             ONAIR_EVENTS_HEARTBEAT_MS=1000)
    c = e.a.create_account()
    slow = sse.ok(e.srv_b.port, token=c.token, rcvbuf=4096)
    # a healthy reader of another account on the same instance
    other = e.a.create_account()
    fast = sse.ok(e.srv_b.port, token=other.token)
    assert gauge(e.srv_b, "onair_sse_slow_closed_total") == 0
    blob = "x" * 16384
    n = 0
    while n < 800:
        for _ in range(25):
            notify(e.a, c.id, "big", {"n": n, "blob": blob})
            n += 1
        if gauge(e.srv_b, "onair_sse_slow_closed_total") >= 1:
            break
    wait_until(lambda: gauge(e.srv_b, "onair_sse_slow_closed_total") >= 1, 3,
               message=f"onair_sse_slow_closed_total >= 1 after {n} events of 16 KiB")
    assert gauge(e.srv_b, "onair_sse_slow_closed_total") == 1
    # the slow socket, read now, ends (EOF or reset) after what was in flight
    assert slow.wait_closed(10), f"slow stream not closed; read {slow.bytes_read} bytes"
    assert slow.bytes_read < n * 16500, "the server did not drop anything"
    # the server is fine
    assert e.srv_b.get("/health").status == 200
    sent = publish(e.a, other.id, 1)
    expect_events(fast, sent, LIVE)
    wait_gauge(e.srv_b, "onair_sse_streams", 1, timeout=3)
    # a new stream of the slow account works (without Last-Event-ID: live only)
    again = sse.ok(e.srv_b.port, token=c.token)
    sent = publish(e.a, c.id, 1, tag="small")
    expect_events(again, sent, LIVE)


def test_replay_larger_than_backlog_reaches_a_reader(make_onair, redis_server, sse):
    """A client closed for reading slowly "can reconnect with Last-Event-ID and
    catch up": a replay bigger than ONAIR_EVENTS_MAX_BACKLOG must be paced by
    the socket, not dumped at once (a reader that keeps up gets it all)."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_MAX_BACKLOG=65536)
    c = e.a.create_account()
    blob = "y" * 4096
    sent = [(notify(e.a, c.id, "big", {"n": i, "blob": blob}), "big", {"n": i, "blob": blob})
            for i in range(40)]           # about 165 KiB of frames
    s = sse(e.srv_b.port, token=c.token, last_event_id="0-0")
    assert s.status == 200, s.response
    expect_events(s, sent, 5.0)
    live = publish(e.a, c.id, 1, tag="live")
    expect_events(s, live, LIVE)
    assert gauge(e.srv_b, "onair_sse_slow_closed_total") == 0


# --------------------------------------------------------------------------
# 13. metrics


def test_metrics_streams_gauge(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server, ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    c = e.a.create_account()
    assert gauge(e.srv_a, "onair_sse_streams") == 0
    assert gauge(e.srv_a, "onair_pubsub_up") == 1
    assert gauge(e.srv_b, "onair_pubsub_up") == 1
    assert gauge(e.srv_a, "onair_pubsub_channels") is not None
    assert gauge(e.srv_a, "onair_pubsub_reconnects_total") is not None
    events0 = gauge(e.srv_a, "onair_sse_events_total")
    assert events0 == 0
    s1 = sse.ok(e.srv_a.port, token=c.token)
    s2 = sse.ok(e.srv_a.port, token=c.token)
    s3 = sse.ok(e.srv_b.port, token=c.token)
    wait_gauge(e.srv_a, "onair_sse_streams", 2)
    wait_gauge(e.srv_b, "onair_sse_streams", 1)
    sent = publish(e.b, c.id, 3)
    for s in (s1, s2, s3):
        expect_events(s, sent, 2.0)
    wait_gauge(e.srv_a, "onair_sse_events_total", 6)
    wait_gauge(e.srv_b, "onair_sse_events_total", 3)
    # refused streams are not counted
    expect_unauthorized(sse(e.srv_a.port, token="nope").response)
    s1.close()
    wait_gauge(e.srv_a, "onair_sse_streams", 1)
    s2.close()
    wait_gauge(e.srv_a, "onair_sse_streams", 0)
    assert gauge(e.srv_b, "onair_sse_streams") == 1
    s3.close()
    wait_gauge(e.srv_b, "onair_sse_streams", 0)
    assert gauge(e.srv_a, "onair_sse_slow_closed_total") == 0


def test_pubsub_channels_follow_streams(make_onair, redis_server, sse):
    """onair_pubsub_channels: one more per account with streams on the
    instance, back down when its last stream closes."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_HEARTBEAT_MS=HB_MS)
    x, y = e.a.create_account(), e.a.create_account()
    base = gauge(e.srv_a, "onair_pubsub_channels")
    assert base is not None
    x1 = sse.ok(e.srv_a.port, token=x.token)
    wait_gauge(e.srv_a, "onair_pubsub_channels", base + 1)
    x2 = sse.ok(e.srv_a.port, token=x.token)
    y1 = sse.ok(e.srv_a.port, token=y.token)
    wait_gauge(e.srv_a, "onair_pubsub_channels", base + 2)
    assert gauge(e.srv_b, "onair_pubsub_channels") == base
    x1.close()
    y1.close()
    wait_gauge(e.srv_a, "onair_pubsub_channels", base + 1)
    sent = publish(e.b, x.id, 1)
    expect_events(x2, sent, LIVE)
    x2.close()
    wait_gauge(e.srv_a, "onair_pubsub_channels", base)
    # and subscribing again works
    x3 = sse.ok(e.srv_a.port, token=x.token)
    sent = publish(e.b, x.id, 1, tag="again")
    expect_events(x3, sent, LIVE)


def test_open_close_churn(make_onair, redis_server, sse):
    """Streams opened and dropped at once, many times: the account's
    subscription still works afterwards and nothing is left counted."""
    e = pair(make_onair, redis_server, ONAIR_EVENTS_HEARTBEAT_MS=HB_MS,
             ONAIR_EVENTS_MAX_PER_ACCOUNT=100)
    c = e.a.create_account()
    for i in range(30):
        s = open_stream(e.srv_a.port, token=c.token)
        assert s.status == 200, s.response
        s.close()
    # also some that never read the head
    for i in range(10):
        with socket.create_connection(("127.0.0.1", e.srv_a.port), timeout=2) as raw:
            raw.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {c.token}"
                        "\r\n\r\n".encode())
    wait_gauge(e.srv_a, "onair_sse_streams", 0, timeout=3)
    s = sse.ok(e.srv_a.port, token=c.token)
    sent = publish(e.b, c.id, 2)
    expect_events(s, sent, LIVE)
    wait_gauge(e.srv_a, "onair_sse_streams", 1)
    assert e.srv_a.get("/health").status == 200


def test_streams_gauge_after_server_side_close(ev, sse):
    """A stream the server ends (logout) stops counting as well."""
    c = ev.a.create_account()
    t = ev.a.login_ok(c.password, email=c.email)["token"]
    base = gauge(ev.srv_b, "onair_sse_streams")
    s = sse.ok(ev.srv_b.port, token=t)
    wait_gauge(ev.srv_b, "onair_sse_streams", base + 1)
    expect(ev.a.post("/auth/logout", token=t), 200)
    assert s.wait_closed(1.0)
    wait_gauge(ev.srv_b, "onair_sse_streams", base)


# --------------------------------------------------------------------------
# 14. SIGTERM


def test_sigterm_with_open_streams(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server)   # default 15 s heartbeat
    c = e.a.create_account()
    streams = [sse.ok(e.srv_b.port, token=c.token) for _ in range(3)]
    t0 = time.monotonic()
    e.srv_b.send_signal(signal.SIGTERM)
    rc = e.srv_b.wait(3)
    assert rc == 0, f"onair exit code {rc} ({time.monotonic() - t0:.2f}s after SIGTERM)"
    for s in streams:
        assert s.wait_closed(1.0), s
    # the other instance still serves streams, and the closed ones did not
    # count against the cap for long (they may linger until their lease lapses)
    s = sse.ok(e.srv_a.port, token=e.a.create_account().token)
    assert not s.eof


# --------------------------------------------------------------------------
# 15. the test hook


@pytest.mark.parametrize("body", [
    {"event": "x", "data": {}},
    {"to": "ID", "data": {}},
    {"to": "ID", "event": "x"},
    {"to": 5, "event": "x", "data": {}},
    {"to": "ID", "event": 5, "data": {}},
    {"to": "ID", "event": "x", "data": "text"},
    {"to": "ID", "event": "x", "data": [1]},
    {"to": None, "event": "x", "data": {}},
])
def test_notify_hook_validation(ev, body):
    c = ev.a.create_account()
    body = {k: (c.id if v == "ID" else v) for k, v in body.items()}
    r = notify_raw(ev.srv_a.port, body)
    expect_error(r, 422, "invalid")


def test_data_is_sent_as_one_line(ev, sse):
    """The hook's data, sent pretty-printed (JSON whitespace between tokens,
    lines ended by LF, CRLF and CR), reaches the stream as one line of equal
    JSON."""
    c = ev.a.create_account()
    s = sse.ok(ev.srv_b.port, token=c.token)
    data = {"a": [1, {"b": "two\nlines"}], "c": {"d": None, "e": 1.5, "f": "\u00e9\u2603"}}
    lines = json.dumps({"to": c.id, "event": "pretty", "data": data}, indent=2).split("\n")
    ends = ["\n", "\r\n", "\r"]
    raw = "".join(line + ends[i % 3] for i, line in enumerate(lines)).encode()
    r = notify_raw(ev.srv_a.port, raw)
    assert r.status == 200, r
    e = s.next_event(LIVE)
    assert e.id == r.json()["id"] and e.event == "pretty", e
    assert e.json() == data, e.fields
    assert e.data_lines == 1, f"data must be one line of JSON; got {e.data_lines} data lines"


def test_notify_hook_bad_json(ev):
    expect_error(notify_raw(ev.srv_a.port, b'{"to":'), 400, "bad-json")


def test_notify_hook_ids_increase_per_account(ev):
    c = ev.a.create_account()
    ids = [notify(ev.a if i % 2 else ev.b, c.id, "n", {"i": i}) for i in range(10)]
    keys = [id_key(i) for i in ids]
    assert all(x < y for x, y in zip(keys, keys[1:])), ids


# --------------------------------------------------------------------------
# guests (a dealer stream's shopper, docs/streams.md)


def _stream_for_guest(ev):
    """An organization with one eligible dealer, and a stream requested from
    it: (dealer Creds, stream, guest token)."""
    owner = ev.a.create_account(type="user")
    org = expect(ev.a.post("/organizations", {"name": "Guest Motors"}, token=owner.token),
                 200)["data"]
    dealer = ev.a.create_account(token=ev.admin_token, type="dealer", organization=org["id"])
    expect(ev.a.post("/accounts/status/online", token=dealer.token), 200)
    expect(ev.a.post("/ping", token=dealer.token), 200)
    r = expect(ev.b.post(f"/streams/request/{org['code']}", {"vin": "1HGCM82633A004352"}), 201)
    return dealer, r["stream"], r["token"]


@pytest.mark.parametrize("how", ["header", "query"])
def test_guest_receives_its_stream_events(ev, sse, how):
    dealer, stream, guest_token = _stream_for_guest(ev)
    kw = {"token": guest_token} if how == "header" else {"query_token": guest_token}
    s = sse.ok(ev.srv_a.port, **kw)
    expect(ev.b.post(f"/streams/accept/{stream['id']}", token=dealer.token), 200)
    e = s.next_event(LIVE + 1)
    assert e.event == "stream", e
    data = e.json()
    assert data["action"] == "accepted" and data["stream"]["id"] == stream["id"], data
    assert data["stream"]["status"] == "streaming" and data["stream"]["dealer"] == dealer.id
    # the dealer stops: the guest hears it
    expect(ev.a.post(f"/streams/stop/{stream['id']}", token=dealer.token), 200)
    e = s.next_event(LIVE + 1)
    assert (e.event, e.json()["action"], e.json()["stream"]["stoppedBy"]) == \
        ("stream", "stopped", "dealer"), e


def test_guest_token_streams_only_its_own_events(ev, sse):
    """A guest's events are its own: another guest's stream stays quiet,
    and an account with the guest's id as account id hears nothing."""
    dealer, stream, guest_token = _stream_for_guest(ev)
    _, _, other_token = _stream_for_guest(ev)
    other = sse.ok(ev.srv_b.port, token=other_token)
    expect(ev.a.post(f"/streams/accept/{stream['id']}", token=dealer.token), 200)
    other.expect_no_event(LIVE)


def test_guest_token_is_refused_on_account_routes(ev):
    _, _, guest_token = _stream_for_guest(ev)
    for method, path in (("GET", "/accounts/me"), ("POST", "/ping"), ("GET", "/gigs")):
        r = ev.a.call(method, path, token=guest_token)
        expect_unauthorized(r)
