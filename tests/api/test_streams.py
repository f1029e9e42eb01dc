"""Dealer streams (docs/streams.md, API.md §5): requests and their guest
tokens, who is eligible, accept / stop / note and every refusal, reading and
listing, POST /ping, the accept window and ping expiry, the `stream` events of
GET /events (dealers and guests), and Redis being down.

Not here: chat, leads and POST /socket/auth.

"Instance A/B" is two onair processes on one redis-server.  Every test makes
its own organization(s), so tests that share the module's servers do not see
each other's dealers or streams.  Tests that need short timeouts start their
own pair on a fresh Redis."""

import calendar
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timezone

import pytest

from accounts_util import (DROP, SECRET, UUID_RE, AcctEnv, assert_time, b64u_decode, expect,
                           expect_error, expect_forbidden, expect_invalid, expect_not_found,
                           expect_unauthorized, jwt_decode, jwt_sign, ready, run_threads,
                           server_env)
from events_util import Streams
from harness import wait_until

VIN = "1HGCM82633A004352"
ACCEPT_MS = 30000      # ONAIR_STREAM_ACCEPT_TIMEOUT_MS default
PING_MS = 60000        # ONAIR_PING_TIMEOUT_MS default
GUEST_TTL_S = 86400    # ONAIR_GUEST_TOKEN_TTL_S default
LIVE = 1.5             # an event reaches a stream on either instance within this
QUIET = 0.6            # how long we listen to be sure nothing (more) arrives

STREAM_KEYS = {"id", "status", "organization", "vin", "sessionId", "guest", "dealer",
               "offeredTo", "note", "createdAt", "updatedAt", "acceptBy", "acceptedAt",
               "expiresAt", "stoppedAt", "stoppedBy", "endedAt"}
STATUSES = ("requested", "streaming", "stopped", "completed", "missed", "expired",
            "missed-offline")
ENDED = ("missed", "missed-offline", "expired", "stopped", "completed")


# --------------------------------------------------------------------------
# fixtures and environments


@pytest.fixture(scope="module")
def env(make_onair_module, shared_redis):
    """A and B on one Redis with every stream setting at its default."""
    e = server_env()
    a = ready(make_onair_module(shared_redis, env=e))
    b = ready(make_onair_module(shared_redis, env=e))
    return AcctEnv(a, b, shared_redis)


def pair(make_onair, redis_server, **extra):
    """A fresh A/B pair on redis_server with these settings."""
    e = server_env(**extra)
    a = ready(make_onair(redis_server, env=e))
    b = ready(make_onair(redis_server, env=e))
    return AcctEnv(a, b, redis_server)


@pytest.fixture
def sse():
    s = Streams()
    yield s
    s.close_all()


# --------------------------------------------------------------------------
# time


def ms(iso):
    """An ISO 8601 ms Z time as unix ms."""
    assert_time(iso)
    dt = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return calendar.timegm(dt.timetuple()) * 1000 + dt.microsecond // 1000


def now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# the stream object


def is_id(v):
    return isinstance(v, str) and UUID_RE.match(v) is not None


def assert_stream(s, **expected):
    """The stream object's exact keys and types, the invariants of its status
    (docs/streams.md, "The stream object"), then the expected values."""
    assert isinstance(s, dict), s
    assert set(s) == STREAM_KEYS, f"stream keys {sorted(s)} != {sorted(STREAM_KEYS)}"
    assert is_id(s["id"]) and is_id(s["organization"]) and is_id(s["guest"]), s
    assert s["status"] in STATUSES, s
    assert isinstance(s["vin"], str) and len(s["vin"]) == 17, s
    assert s["sessionId"] is None or (isinstance(s["sessionId"], str) and s["sessionId"]), s
    assert s["dealer"] is None or is_id(s["dealer"]), s
    assert isinstance(s["offeredTo"], list) and all(is_id(d) for d in s["offeredTo"]), s
    assert len(set(s["offeredTo"])) == len(s["offeredTo"]), s
    assert s["note"] is None or (isinstance(s["note"], str) and s["note"]), s
    for k in ("createdAt", "updatedAt", "acceptBy", "acceptedAt", "expiresAt", "stoppedAt",
              "endedAt"):
        if k in ("createdAt", "updatedAt") or s[k] is not None:
            assert_time(s[k])
    assert s["stoppedBy"] in (None, "dealer", "guest"), s
    assert ms(s["updatedAt"]) >= ms(s["createdAt"]), s
    st = s["status"]
    # what each status implies
    assert (s["acceptBy"] is not None) == (st == "requested"), s
    assert (s["expiresAt"] is not None) == (st == "streaming"), s
    assert (s["endedAt"] is not None) == (st in ENDED), s
    assert (s["stoppedAt"] is not None) == (st in ("stopped", "completed")), s
    assert (s["stoppedBy"] is not None) == (st in ("stopped", "completed")), s
    assert (s["note"] is not None) == (st == "completed"), s
    if st in ("requested", "missed", "missed-offline"):
        assert s["dealer"] is None and s["acceptedAt"] is None, s
    if st in ("streaming", "expired"):
        assert s["dealer"] is not None and s["acceptedAt"] is not None, s
    if st == "missed-offline":
        assert s["offeredTo"] == [] and s["endedAt"] == s["createdAt"], s
    if st in ("requested", "missed"):
        assert s["offeredTo"], s
    if st in ("stopped", "completed"):
        assert s["endedAt"] == s["stoppedAt"], s
        assert (s["acceptedAt"] is None) == (s["dealer"] is None), s
    for k, v in expected.items():
        if k == "offeredTo":
            assert sorted(s[k]) == sorted(v), f"offeredTo {s[k]} != {v}: {s}"
        else:
            assert s[k] == v, f"stream[{k!r}] = {s[k]!r}, expected {v!r}: {s}"
    return s


def expect_stream(resp, code=200, **expected):
    v = expect(resp, code)
    assert isinstance(v, dict) and set(v) == {"stream"}, resp
    return assert_stream(v["stream"], **expected)


# --------------------------------------------------------------------------
# organizations, dealers, streams


class Org:
    """An organization (owned by a fresh user account) and its dealers."""

    def __init__(self, env, api=None):
        self.env = env
        api = api or env.a
        self.owner = api.create_account(type="user")
        self.data = api.create_org(self.owner.token)
        self.id, self.code = self.data["id"], self.data["code"]

    def dealer(self, online=True, ping=True, api=None):
        """A dealer of this organization made by the admin; online and
        pinged unless told otherwise."""
        api = api or self.env.a
        d = api.create_account(token=self.env.admin_token, type="dealer", organization=self.id)
        assert d.account["type"] == "dealer" and d.account["organization"] == self.id, d.account
        assert d.account["status"] == "active" and d.token, d.account
        if online:
            go_online(api, d)
        if ping:
            ping_ok(api, d)
        return d

    def dealers(self, n, **kw):
        """n dealers made a few at a time (each hashes a password, and the
        hashing queue is bounded), on A and B.  When they ping, they ping
        again once all are made, so that a short ping timeout counts from
        then."""
        out = []
        for start in range(0, n, 8):
            made = run_threads([lambda i=i: self.dealer(api=self.env.a if i % 2 else self.env.b,
                                                        **kw)
                                for i in range(start, min(n, start + 8))], timeout=120)
            for d in made:
                assert not isinstance(d, Exception), d
            out.extend(made)
        if kw.get("ping", True) and n > 1:
            for i, d in enumerate(out):
                ping_ok(self.env.a if i % 2 else self.env.b, d)
        return out

    def member(self, type_):
        """A non-dealer account of this organization (admin-made)."""
        m = self.env.a.create_account(token=self.env.admin_token, type=type_,
                                      organization=self.id)
        assert m.account["organization"] == self.id, m.account
        return m


def go_online(api, c):
    v = expect(api.post("/accounts/status/online", token=c.token), 200)
    assert v["account"]["online"] is True, v


def go_offline(api, c):
    v = expect(api.post("/accounts/status/offline", token=c.token), 200)
    assert v["account"]["online"] is False, v


def ping(api, c):
    return api.post("/ping", token=c.token)


def ping_ok(api, c, timeout_ms=None):
    """POST /ping; asserts 200 {"status": "ok", "expiresAt"} with expiresAt
    within the request's span + the instance's ping timeout.  Returns
    expiresAt in ms."""
    if timeout_ms is None:
        timeout_ms = setting_ms(api, "ONAIR_PING_TIMEOUT_MS", PING_MS)
    t0 = int(time.time() * 1000)
    r = ping(api, c)
    t1 = int(time.time() * 1000) + 1
    v = expect(r, 200)
    assert isinstance(v, dict) and set(v) == {"status", "expiresAt"} and v["status"] == "ok", r
    exp = ms(v["expiresAt"])
    assert t0 + timeout_ms <= exp <= t1 + timeout_ms, (t0, exp - timeout_ms, t1, r)
    return exp


def request_raw(api, code, body):
    return api.post(f"/streams/request/{code}", body)


def request_stream(api, code, vin=VIN, session=DROP, **expected):
    """POST /streams/request/<code>; asserts 201 {"stream", "token"} and the
    guest token's claims.  Returns (stream, token)."""
    body = {"vin": vin}
    if session is not DROP:
        body["sessionId"] = session
    t0 = now_ms()
    r = request_raw(api, code, body)
    t1 = now_ms() + 1
    v = expect(r, 201)
    assert isinstance(v, dict) and set(v) == {"stream", "token"}, r
    s = assert_stream(v["stream"], vin=vin, sessionId=None if session is DROP else session,
                      dealer=None, note=None, acceptedAt=None, expiresAt=None, stoppedAt=None,
                      stoppedBy=None, **expected)
    assert s["status"] in ("requested", "missed-offline"), s
    assert s["createdAt"] == s["updatedAt"], s
    assert t0 <= ms(s["createdAt"]) <= t1, (t0, s["createdAt"], t1)
    if s["status"] == "requested":
        # acceptBy and createdAt are read from the clock one after the other
        d = ms(s["acceptBy"]) - ms(s["createdAt"])
        t = setting_ms(api, "ONAIR_STREAM_ACCEPT_TIMEOUT_MS", ACCEPT_MS)
        assert t <= d <= t + 2, s
    assert_guest_token(v["token"], s)
    return s, v["token"]


def setting_ms(api, name, default):
    """An instance's setting, as the test started it (else the default)."""
    v = api.srv.extra_env.get(name)
    return int(v) if v else default


def assert_guest_token(token, s):
    """A guest token: HS256 signed with the servers' secret, typ guest, sub
    the stream's guest, str the stream, a 24 h life."""
    assert isinstance(token, str) and token.count(".") == 2, token
    header, payload, sig = jwt_decode(token)
    assert header.get("alg") == "HS256", header
    signing_input = token.rsplit(".", 1)[0].encode()
    assert hmac.compare_digest(b64u_decode(sig), hmac.new(SECRET, signing_input,
                                                          hashlib.sha256).digest()), token
    assert payload["typ"] == "guest", payload
    assert payload["sub"] == s["guest"] and payload["str"] == s["id"], (payload, s)
    assert isinstance(payload["iat"], int) and isinstance(payload["exp"], int), payload
    assert abs(payload["iat"] - time.time()) < 60, payload
    assert payload["exp"] - payload["iat"] == GUEST_TTL_S, payload
    assert isinstance(payload["jti"], str) and UUID_RE.match(payload["jti"]), payload
    assert "gen" not in payload, payload
    return payload


def get_stream(api, token, sid, **expected):
    return expect_stream(api.get(f"/streams/{sid}", token=token), 200, **expected)


def act(api, action, sid, token, body=DROP):
    if body is DROP:
        return api.post(f"/streams/{action}/{sid}", token=token)
    return api.post(f"/streams/{action}/{sid}", body, token=token)


def accept_ok(api, sid, dealer, **expected):
    t0 = now_ms()
    s = expect_stream(act(api, "accept", sid, dealer.token), 200, status="streaming",
                      dealer=dealer.id, **expected)
    t1 = now_ms() + 1
    assert t0 <= ms(s["acceptedAt"]) <= t1, s
    assert s["updatedAt"] == s["acceptedAt"], s
    # the first expiry is the accept plus the ping timeout (two clock reads)
    d = ms(s["expiresAt"]) - ms(s["acceptedAt"])
    t = setting_ms(api, "ONAIR_PING_TIMEOUT_MS", PING_MS)
    assert t - 2 <= d <= t, s
    return s


def stop_ok(api, sid, token, by, **expected):
    t0 = now_ms()
    s = expect_stream(act(api, "stop", sid, token), 200, status="stopped", stoppedBy=by,
                      **expected)
    t1 = now_ms() + 1
    assert t0 <= ms(s["stoppedAt"]) <= t1, s
    assert s["updatedAt"] == s["stoppedAt"] == s["endedAt"], s
    return s


def note_ok(api, sid, token, note, **expected):
    return expect_stream(act(api, "note", sid, token, {"note": note}), 200, status="completed",
                         note=note, **expected)


def unchanged(env, s, token):
    """The stream reads exactly as s on both instances (a refused call
    changed nothing)."""
    for api in (env.a, env.b):
        got = get_stream(api, token, s["id"])
        assert got == s, f"the stream changed:\n{got}\n!=\n{s}"


def random_code():
    return uuid.uuid4().hex[:8]


# --------------------------------------------------------------------------
# events


def stream_event(ev):
    assert ev.event == "stream", ev
    assert ev.data_lines == 1, ev
    d = ev.json()
    assert isinstance(d, dict) and set(d) == {"stream", "action"}, ev
    assert_stream(d["stream"])
    return d["action"], d["stream"]


def next_stream_event(s, timeout=LIVE):
    return stream_event(s.next_event(timeout))


def stream_events(s, duration=QUIET):
    """Every stream event arriving within duration: [(action, stream)]."""
    out = []
    deadline = time.monotonic() + duration
    while True:
        ev = s.poll_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            return out
        out.append(stream_event(ev))


def expect_one_event(s, action, stream, timeout=LIVE):
    """Exactly one event arrives (within timeout, then nothing for QUIET): the
    given action with exactly this stream object."""
    a, got = next_stream_event(s, timeout)
    assert (a, got) == (action, stream), f"expected {action} {stream}, got {a} {got}"
    more = stream_events(s, QUIET)
    assert more == [], more
    return got


# ==========================================================================
# 1. requesting


def test_request_shape_token_and_reads(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    s, tok = request_stream(env.b, org.code, session="sess-42", status="requested",
                            organization=org.id, offeredTo=[d1.id, d2.id])
    assert s["guest"] != s["id"], s
    # the same object from either instance, for the guest, a dealer and the admin
    for api in (env.a, env.b):
        for t in (tok, d1.token, d2.token, env.admin_token):
            assert get_stream(api, t, s["id"]) == s
    # a trailing slash is ignored
    assert get_stream(env.a, tok, s["id"] + "/") == s
    # without sessionId, or with null: null
    s2, tok2 = request_stream(env.a, org.code, status="requested", offeredTo=[d1.id, d2.id])
    s3, _ = request_stream(env.a, org.code, session=None, status="requested",
                           offeredTo=[d1.id, d2.id])
    assert s2["sessionId"] is None and s3["sessionId"] is None
    # every request is a new stream with a new guest
    assert len({s["id"], s2["id"], s3["id"]}) == 3
    assert len({s["guest"], s2["guest"], s3["guest"]}) == 3
    assert tok != tok2


def test_request_vin_only_needs_the_alphabet(env):
    """vin: 17 of [A-HJ-NPR-Z0-9]; the check digit does not matter."""
    org = Org(env)
    org.dealer()
    for vin in ("11111111111111111", "ABCDEFGHJKLMNPRST", "ZZZZZZZZZZZZZZZZ9", "1HGCM82633A004353"):
        s, _ = request_stream(env.a, org.code, vin=vin, status="requested")
        assert s["vin"] == vin


def test_request_validation(env):
    org = Org(env)
    d = org.dealer()
    ok = {"vin": VIN, "sessionId": "abc"}
    cases = [
        ({}, "vin"),
        ({"sessionId": "abc"}, "vin"),
        (dict(ok, vin=None), "vin"),
        (dict(ok, vin=12345678901234567), "vin"),
        (dict(ok, vin=["1HGCM82633A004352"]), "vin"),
        (dict(ok, vin=True), "vin"),
        (dict(ok, vin=VIN[:16]), "vin"),
        (dict(ok, vin=VIN + "1"), "vin"),
        (dict(ok, vin=""), "vin"),
        (dict(ok, vin="1HGCM82633A00435I"), "vin"),
        (dict(ok, vin="1HGCM82633A00435O"), "vin"),
        (dict(ok, vin="1HGCM82633A00435Q"), "vin"),
        (dict(ok, vin=VIN.lower()), "vin"),
        (dict(ok, vin="1HGCM82633A00435 "), "vin"),
        (dict(ok, vin="1HGCM82633A00435-"), "vin"),
        (dict(ok, vin="1HGCM82633A00435\u00c9"), "vin"),
        (dict(ok, sessionId=5), "sessionId"),
        (dict(ok, sessionId=True), "sessionId"),
        (dict(ok, sessionId={"a": 1}), "sessionId"),
        (dict(ok, sessionId=""), "sessionId"),
        (dict(ok, sessionId="x" * 129), "sessionId"),
    ]
    for body, field in cases:
        expect_invalid(request_raw(env.a, org.code, body), field)
    # not an object
    for raw in (b"[1, 2]", b'"1HGCM82633A004352"', b"17", b"null"):
        expect_error(env.b.post(f"/streams/request/{org.code}", raw=raw), 422, "invalid")
    # not JSON
    for raw in (b"{nope", b'{"vin": "1HGCM82633A004352"', b"", b"\xff\xfe"):
        expect_error(env.b.post(f"/streams/request/{org.code}", raw=raw), 400, "bad-json")
    # nothing was created by any of those
    assert expect(env.a.get("/streams", token=d.token), 200) == {"streams": [], "count": 0}
    # the edges that are fine
    s, _ = request_stream(env.a, org.code, session="y" * 128, status="requested")
    assert s["sessionId"] == "y" * 128
    s, _ = request_stream(env.a, org.code, session="s", status="requested")
    assert expect(env.a.get("/streams", token=d.token), 200)["count"] == 2


def test_request_session_id_counts_characters(env):
    """sessionId: 1-128 characters; 128 two-byte characters are 128."""
    org = Org(env)
    org.dealer()
    sid = "\u00e9" * 128
    s, _ = request_stream(env.a, org.code, session=sid, status="requested")
    assert s["sessionId"] == sid
    expect_invalid(request_raw(env.a, org.code, {"vin": VIN, "sessionId": "\u00e9" * 129}),
                   "sessionId")


def test_request_unknown_or_deleted_organization_404(env):
    for api in (env.a, env.b):
        expect_not_found(request_raw(api, random_code(), {"vin": VIN}))
        expect_not_found(request_raw(api, "x" * 300, {"vin": VIN}))
    org = Org(env)
    org.dealer()
    # the code is the org's code, not its id or token
    expect_not_found(request_raw(env.a, org.id, {"vin": VIN}))
    expect_not_found(request_raw(env.a, org.data["token"], {"vin": VIN}))
    expect_not_found(request_raw(env.a, org.code.upper(), {"vin": VIN}))
    request_stream(env.a, org.code, status="requested")
    # a deleted organization
    expect(env.a.delete(f"/organizations/{org.id}", token=org.owner.token), 200)
    for api in (env.a, env.b):
        expect_not_found(request_raw(api, org.code, {"vin": VIN}))
    # an unknown code with a bad body: the body is judged first or the code,
    # either way nothing is created and it is an error
    r = request_raw(env.a, random_code(), {"vin": "bad"})
    assert r.status in (404, 422), r


def test_request_needs_no_auth_and_ignores_any(env):
    org = Org(env)
    d = org.dealer()
    # a (bad) Authorization header on this anonymous route does not matter
    r = env.a.post(f"/streams/request/{org.code}", {"vin": VIN}, token="not.a.token")
    v = expect(r, 201)
    assert_stream(v["stream"], status="requested", offeredTo=[d.id])


# --------------------------------------------------------------------------
# 2. who is eligible


def test_missed_offline_when_nobody_is_eligible(env):
    """Offline, never pinged, inactive, archived, streaming dealers and
    non-dealer members are not eligible: the stream is `missed-offline`."""
    org = Org(env)
    tok = env.admin_token
    offline = org.dealer()
    go_offline(env.a, offline)
    never_pinged = org.dealer(ping=False)
    never_online = org.dealer(online=False)            # pinged, never online
    inactive = org.dealer()
    expect(env.a.put(f"/accounts/{inactive.id}", {"status": "inactive"}, token=tok), 200)
    archived = org.dealer()
    expect(env.a.put(f"/accounts/{archived.id}", {"archive": True}, token=tok), 200)
    busy = org.dealer()
    # the owner (a user) and an operator member, online
    go_online(env.a, org.owner)
    op = org.member("operator")
    go_online(env.a, op)
    expect_forbidden(ping(env.a, op))
    expect_forbidden(ping(env.a, org.owner))
    # a dealer of another organization, eligible there
    other = Org(env)
    stranger = other.dealer()

    # `busy` is the only eligible one: it takes a first stream
    s0, _ = request_stream(env.a, org.code, status="requested", offeredTo=[busy.id])
    accept_ok(env.b, s0["id"], busy)

    for api in (env.a, env.b):
        s, g = request_stream(api, org.code, status="missed-offline", organization=org.id,
                              offeredTo=[], acceptBy=None)
        assert s["endedAt"] == s["createdAt"] == s["updatedAt"], s
        assert get_stream(env.b, g, s["id"]) == s
        # nothing can be done with it but read it
        for d in (busy, offline, never_pinged):
            expect_error(act(env.a, "accept", s["id"], d.token), 409, "conflict")
        expect_error(act(env.a, "stop", s["id"], g), 409, "conflict")
        expect_error(act(env.a, "note", s["id"], offline.token, {"note": "x"}), 409, "conflict")
        unchanged(env, s, g)

    # one becomes eligible: offered to it alone
    go_online(env.b, offline)
    s, _ = request_stream(env.a, org.code, status="requested", offeredTo=[offline.id])
    # the stranger's organization is unaffected
    request_stream(env.a, other.code, status="requested", offeredTo=[stranger.id])
    # never_pinged pings: eligible too; never_online comes online: eligible
    ping_ok(env.a, never_pinged)
    go_online(env.b, never_online)
    request_stream(env.b, org.code, status="requested",
                   offeredTo=[offline.id, never_pinged.id, never_online.id])
    # reactivated and unarchived: eligible again (their last ping still counts)
    expect(env.a.put(f"/accounts/{inactive.id}", {"status": "active"}, token=tok), 200)
    expect(env.a.put(f"/accounts/{archived.id}", {"archive": False}, token=tok), 200)
    request_stream(env.b, org.code, status="requested",
                   offeredTo=[offline.id, never_pinged.id, never_online.id, inactive.id,
                              archived.id])
    # busy stops its stream: eligible again
    stop_ok(env.a, s0["id"], busy.token, "dealer")
    request_stream(env.b, org.code, status="requested",
                   offeredTo=[offline.id, never_pinged.id, never_online.id, inactive.id,
                              archived.id, busy.id])


def test_offered_to_is_exactly_the_eligible_dealers(env):
    org = Org(env)
    eligible = org.dealers(4)
    org.dealer(ping=False)
    off = org.dealer()
    go_offline(env.b, off)
    other = Org(env)
    other.dealer()
    s, _ = request_stream(env.b, org.code, status="requested",
                          offeredTo=[d.id for d in eligible])
    # a dealer moved to another organization by the admin is no longer offered
    moved = eligible[0]
    expect(env.a.put(f"/accounts/{moved.id}", {"organization": other.id},
                     token=env.admin_token), 200)
    request_stream(env.a, org.code, status="requested", offeredTo=[d.id for d in eligible[1:]])
    # ...nor is one whose type the admin changed
    expect(env.a.put(f"/accounts/{eligible[1].id}", {"type": "operator"},
                     token=env.admin_token), 200)
    request_stream(env.a, org.code, status="requested", offeredTo=[d.id for d in eligible[2:]])


def test_offered_to_lists_every_eligible_dealer_beyond_256(env, sse):
    """All eligible dealers are offered (and told), however many."""
    org = Org(env)
    dealers = org.dealers(260)
    last = dealers[-1]
    ev = sse.ok(env.a.port, token=last.token)
    ids = sorted(d.id for d in dealers)
    s, _ = request_stream(env.b, org.code, status="requested")
    assert sorted(s["offeredTo"]) == ids, (len(s["offeredTo"]), len(ids))
    assert sorted(get_stream(env.a, last.token, s["id"])["offeredTo"]) == ids
    # each offered dealer is told; the last one made is one of them
    offered_last = [a for a, st in stream_events(ev, LIVE) if st["id"] == s["id"]]
    assert offered_last == ["requested"], offered_last


def test_every_offered_dealer_is_told(env, sse):
    """A request offered to 48 dealers: each of them gets its `requested`
    event (the 48 events go out together)."""
    org = Org(env)
    dealers = org.dealers(48)
    evs = [sse.ok((env.srv_a if i % 2 else env.srv_b).port, token=d.token)
           for i, d in enumerate(dealers)]
    s, _ = request_stream(env.a, org.code, status="requested", offeredTo=[d.id for d in dealers])
    missing = []
    for i, (d, e) in enumerate(zip(dealers, evs)):
        got = stream_events(e, LIVE if i == 0 else 0.3)   # they all go out at once
        if got != [("requested", s)]:
            missing.append((d.id, got))
    assert not missing, f"{len(missing)} of 48 dealers were not told: {missing[:3]}"


def test_ping_timeout_makes_a_dealer_ineligible(make_onair, redis_server):
    e = pair(make_onair, redis_server, ONAIR_PING_TIMEOUT_MS=1500)
    org = Org(e)
    d = org.dealer(ping=False)
    ping_ok(e.a, d, timeout_ms=1500)
    s, _ = request_stream(e.a, org.code, status="requested", offeredTo=[d.id])
    time.sleep(0.5)
    request_stream(e.b, org.code, status="requested", offeredTo=[d.id])
    time.sleep(1.2)  # 1.7 s since the ping
    request_stream(e.a, org.code, status="missed-offline", offeredTo=[])
    request_stream(e.b, org.code, status="missed-offline", offeredTo=[])
    ping_ok(e.b, d, timeout_ms=1500)
    request_stream(e.a, org.code, status="requested", offeredTo=[d.id])


# --------------------------------------------------------------------------
# 3. the guest token


def test_guest_token_scope(env):
    org = Org(env)
    d = org.dealer()
    s1, g1 = request_stream(env.a, org.code, status="requested")
    s2, g2 = request_stream(env.a, org.code, status="requested")
    # its own stream: read
    assert get_stream(env.b, g1, s1["id"]) == s1
    # another stream: as if it did not exist
    for api in (env.a, env.b):
        expect_not_found(api.get(f"/streams/{s2['id']}", token=g1))
        expect_not_found(api.post(f"/streams/stop/{s2['id']}", token=g1))
        expect_not_found(api.get(f"/streams/{uuid.uuid4()}", token=g1))
    unchanged(env, s2, g2)
    # account routes refuse it (401 "Not an account token"), stream routes
    # that are a dealer's too
    for method, path in (("GET", "/accounts/me"), ("POST", "/ping"), ("GET", "/streams"),
                         ("POST", "/accounts/status/online"), ("GET", "/organizations"),
                         ("POST", f"/streams/accept/{s1['id']}"),
                         ("POST", f"/streams/note/{s1['id']}"),
                         ("POST", "/auth/logout")):
        for api in (env.a, env.b):
            v = expect_unauthorized(api.call(method, path, token=g1))
            assert v["message"] == "Not an account token", (method, path, v)
    # with a body too
    expect_unauthorized(env.a.post(f"/streams/note/{s1['id']}", {"note": "hi"}, token=g1))
    unchanged(env, s1, g1)
    # stop works on its own stream only
    stop_ok(env.b, s1["id"], g1, "guest", dealer=None, offeredTo=[d.id])
    expect_stream(env.a.post(f"/streams/stop/{s2['id']}", token=g2), 200, stoppedBy="guest")


def test_forged_expired_and_odd_guest_tokens_are_refused(env):
    org = Org(env)
    org.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    _, payload, _ = jwt_decode(g)
    path = f"/streams/{s['id']}"
    # the same claims, another key
    expect_unauthorized(env.a.get(path, token=jwt_sign({"alg": "HS256", "typ": "JWT"}, payload,
                                                       key=b"k" * 32)))
    # expired (well past any leeway)
    old = dict(payload, iat=int(time.time()) - 2 * GUEST_TTL_S,
               exp=int(time.time()) - GUEST_TTL_S)
    expect_unauthorized(env.a.get(path, token=jwt_sign({"alg": "HS256", "typ": "JWT"}, old)))
    # typ guest without the stream claim
    nostr = {k: v for k, v in payload.items() if k != "str"}
    expect_unauthorized(env.a.get(path, token=jwt_sign({"alg": "HS256", "typ": "JWT"}, nostr)))
    # a tampered signature
    expect_unauthorized(env.a.get(path, token=g[:-3] + ("AAA" if not g.endswith("AAA") else "BBB")))
    # the genuine one still works
    assert get_stream(env.a, g, s["id"]) == s


# --------------------------------------------------------------------------
# 4. accepting


def test_accept_shape_and_reads(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    s, g = request_stream(env.a, org.code, session="x1", status="requested",
                          offeredTo=[d1.id, d2.id])
    a = accept_ok(env.b, s["id"], d1, offeredTo=[d1.id, d2.id], sessionId="x1", guest=s["guest"],
                  vin=VIN, organization=org.id, createdAt=s["createdAt"], acceptBy=None,
                  stoppedAt=None, stoppedBy=None, endedAt=None, note=None)
    for api in (env.a, env.b):
        for t in (g, d1.token, d2.token, env.admin_token):
            assert get_stream(api, t, s["id"]) == a


def test_accept_refused_for_those_not_of_the_organization(env):
    org = Org(env)
    d = org.dealer()
    other = Org(env)
    foreign = other.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    op = org.member("operator")
    nobody = env.b.create_account(type="user")
    for api in (env.a, env.b):
        expect_not_found(act(api, "accept", s["id"], foreign.token))   # another org's dealer
        expect_not_found(act(api, "accept", s["id"], org.owner.token))  # the owner, a user
        expect_not_found(act(api, "accept", s["id"], op.token))         # a member, not a dealer
        expect_not_found(act(api, "accept", s["id"], nobody.token))
        expect_not_found(act(api, "accept", s["id"], env.admin_token))
        expect_unauthorized(act(api, "accept", s["id"], g))             # the guest: no account
        expect_unauthorized(act(api, "accept", s["id"], None))
        # unknown or malformed ids
        expect_not_found(act(api, "accept", str(uuid.uuid4()), d.token))
        expect_not_found(act(api, "accept", "not-a-uuid", d.token))
        expect_not_found(act(api, "accept", s["id"].upper(), d.token))
    unchanged(env, s, g)
    # an inactive dealer's token no longer works at all
    lazy = org.dealer()
    expect(env.a.put(f"/accounts/{lazy.id}", {"status": "inactive"}, token=env.admin_token), 200)
    expect_forbidden(act(env.a, "accept", s["id"], lazy.token))
    unchanged(env, s, g)
    accept_ok(env.a, s["id"], d)


def test_accept_need_not_have_been_offered(env):
    org = Org(env)
    d1 = org.dealer()
    s, _ = request_stream(env.a, org.code, status="requested", offeredTo=[d1.id])
    late = org.dealer(online=False, ping=False)   # came after the request; not even online
    accept_ok(env.b, s["id"], late, offeredTo=[d1.id])


def test_accept_busy(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    s1, g1 = request_stream(env.a, org.code, status="requested", offeredTo=[d1.id, d2.id])
    accept_ok(env.a, s1["id"], d1)
    s2, g2 = request_stream(env.b, org.code, status="requested", offeredTo=[d2.id])
    for api in (env.a, env.b):
        expect_error(act(api, "accept", s2["id"], d1.token), 409, "busy")
    unchanged(env, s2, g2)
    # still busy after a ping
    ping_ok(env.a, d1)
    expect_error(act(env.b, "accept", s2["id"], d1.token), 409, "busy")
    # free again once its stream is stopped (by the guest here)
    stop_ok(env.b, s1["id"], g1, "guest", dealer=d1.id)
    accept_ok(env.a, s2["id"], d1, offeredTo=[d2.id])
    # and busy again; d2 takes a third one
    s3, _ = request_stream(env.a, org.code, status="requested", offeredTo=[d2.id])
    expect_error(act(env.a, "accept", s3["id"], d1.token), 409, "busy")
    accept_ok(env.b, s3["id"], d2)


def test_accept_occupied_and_conflict(env):
    org = Org(env)
    d1, d2, d3 = org.dealers(3)
    s, g = request_stream(env.a, org.code, status="requested")
    a = accept_ok(env.a, s["id"], d1)
    for api in (env.a, env.b):
        expect_error(act(api, "accept", s["id"], d2.token), 409, "occupied")
        expect_error(act(api, "accept", s["id"], d3.token), 409, "occupied")
        # accepting one's own stream again: not a valid transition
        expect_error(act(api, "accept", s["id"], d1.token), 409, "conflict")
    unchanged(env, a, g)
    # stopped, completed: conflict
    st = stop_ok(env.b, s["id"], d1.token, "dealer")
    for d in (d1, d2):
        expect_error(act(env.a, "accept", s["id"], d.token), 409, "conflict")
    unchanged(env, st, g)
    c = note_ok(env.a, s["id"], d1.token, "done")
    expect_error(act(env.b, "accept", s["id"], d2.token), 409, "conflict")
    unchanged(env, c, g)
    # a requested stream the guest stopped: conflict
    s2, g2 = request_stream(env.a, org.code, status="requested")
    st2 = stop_ok(env.a, s2["id"], g2, "guest")
    expect_error(act(env.b, "accept", s2["id"], d2.token), 409, "conflict")
    unchanged(env, st2, g2)


def test_accept_after_the_window(make_onair, redis_server):
    """Past acceptBy an accept is refused even though the reaper (here: once
    a minute) has not marked the stream missed yet."""
    e = pair(make_onair, redis_server, ONAIR_STREAM_ACCEPT_TIMEOUT_MS=800,
             ONAIR_REAPER_INTERVAL_MS=60000)
    org = Org(e)
    d = org.dealer()
    s, g = request_stream(e.a, org.code, status="requested", offeredTo=[d.id])
    wait_until(lambda: now_ms() > ms(s["acceptBy"]) + 20, 3, message="the window to pass")
    for api in (e.a, e.b):
        expect_error(act(api, "accept", s["id"], d.token), 409, "conflict")
    assert get_stream(e.a, g, s["id"]) == s   # still `requested`: the reaper has not run
    # inside the window it works
    s2, _ = request_stream(e.b, org.code, status="requested", offeredTo=[d.id])
    accept_ok(e.a, s2["id"], d)


def test_concurrent_accepts_one_winner(env):
    org = Org(env)
    dealers = org.dealers(6)
    winners = set()
    for _ in range(5):
        s, g = request_stream(env.a, org.code, status="requested",
                              offeredTo=[d.id for d in dealers])
        results = run_threads([lambda d=d, i=i: act(env.a if i % 2 else env.b, "accept", s["id"],
                                                    d.token)
                               for i, d in enumerate(dealers)])
        for r in results:
            assert not isinstance(r, Exception), r
        ok = [(d, r) for d, r in zip(dealers, results) if r.status == 200]
        assert len(ok) == 1, [r.status for r in results]
        winner, r = ok[0]
        won = expect_stream(r, 200, status="streaming", dealer=winner.id)
        for d, r in zip(dealers, results):
            if d is not winner:
                expect_error(r, 409, "occupied")
        assert get_stream(env.b, g, s["id"]) == won
        winners.add(winner.id)
        # the winner is streaming only this one; free everybody again
        stop_ok(env.a, s["id"], g, "guest", dealer=winner.id)


def test_one_dealer_cannot_accept_two_streams_at_once(env):
    """The same dealer accepting two streams at the same moment on A and B:
    one accept wins, the other is `busy`."""
    org = Org(env)
    d, other = org.dealers(2)
    for _ in range(4):
        s1, g1 = request_stream(env.a, org.code, status="requested")
        s2, g2 = request_stream(env.b, org.code, status="requested")
        r1, r2 = run_threads([lambda: act(env.a, "accept", s1["id"], d.token),
                              lambda: act(env.b, "accept", s2["id"], d.token)])
        assert sorted([r1.status, r2.status]) == [200, 409], (r1, r2)
        won, lost, gw, gl = (s1, s2, g1, g2) if r1.status == 200 else (s2, s1, g2, g1)
        expect_error(r2 if r1.status == 200 else r1, 409, "busy")
        unchanged(env, lost, gl)
        assert get_stream(env.a, gw, won["id"])["dealer"] == d.id
        stop_ok(env.a, won["id"], gw, "guest")
        stop_ok(env.b, lost["id"], gl, "guest")


def test_concurrent_stop_and_accepts(env):
    """The guest stops while dealers accept: either the stop came first
    (every accept 409 conflict) or one accept did (the stop then stops the
    accepted stream); the end state says which."""
    org = Org(env)
    dealers = org.dealers(3)
    for _ in range(4):
        s, g = request_stream(env.a, org.code, status="requested")
        calls = [lambda: act(env.b, "stop", s["id"], g)] + \
            [lambda d=d, i=i: act(env.a if i % 2 else env.b, "accept", s["id"], d.token)
             for i, d in enumerate(dealers)]
        results = run_threads(calls)
        stop_r, accepts = results[0], results[1:]
        end = expect_stream(stop_r, 200, status="stopped", stoppedBy="guest")
        won = [d for d, r in zip(dealers, accepts) if r.status == 200]
        assert len(won) <= 1, [r.status for r in accepts]
        assert end["dealer"] == (won[0].id if won else None), (end, won)
        for d, r in zip(dealers, accepts):
            if r.status != 200:
                # after the winner: occupied (still streaming) or conflict
                # (stopped by then); without a winner: conflict
                v = expect(r, 409)
                assert v["status"] in (("occupied", "conflict") if won else ("conflict",)), r
        assert get_stream(env.a, g, s["id"]) == end
    # nobody is left busy
    s, _ = request_stream(env.a, org.code, status="requested", offeredTo=[d.id for d in dealers])


# --------------------------------------------------------------------------
# 5. stopping


def test_stop_by_guest_while_streaming(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    s, g = request_stream(env.a, org.code, status="requested")
    a = accept_ok(env.b, s["id"], d1)
    st = stop_ok(env.a, s["id"], g, "guest", dealer=d1.id, acceptedAt=a["acceptedAt"],
                 createdAt=s["createdAt"], offeredTo=s["offeredTo"], expiresAt=None, note=None)
    for api in (env.a, env.b):
        for t in (g, d1.token, d2.token, env.admin_token):
            assert get_stream(api, t, s["id"]) == st
    # twice: conflict, by either side
    for t in (g, d1.token):
        for api in (env.a, env.b):
            expect_error(act(api, "stop", s["id"], t), 409, "conflict")
    unchanged(env, st, g)
    # the dealer is free and eligible again
    request_stream(env.a, org.code, status="requested", offeredTo=[d1.id, d2.id])


def test_stop_by_the_accepting_dealer(env):
    org = Org(env)
    d1 = org.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    accept_ok(env.a, s["id"], d1)
    st = stop_ok(env.b, s["id"], d1.token, "dealer", dealer=d1.id)
    expect_error(act(env.a, "stop", s["id"], g), 409, "conflict")
    expect_error(act(env.b, "stop", s["id"], d1.token), 409, "conflict")
    unchanged(env, st, g)


def test_stop_refusals(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    other = Org(env)
    foreign = other.dealer()
    op = org.member("operator")
    s, g = request_stream(env.a, org.code, status="requested")
    _, g_other = request_stream(env.a, org.code, status="requested")
    # requested: only the guest may stop it (no dealer accepted it yet)
    for api in (env.a, env.b):
        expect_forbidden(act(api, "stop", s["id"], d1.token))
        expect_not_found(act(api, "stop", s["id"], foreign.token))
        expect_not_found(act(api, "stop", s["id"], org.owner.token))
        expect_not_found(act(api, "stop", s["id"], op.token))
        expect_not_found(act(api, "stop", s["id"], env.admin_token))
        expect_not_found(act(api, "stop", s["id"], g_other))
        expect_unauthorized(act(api, "stop", s["id"], None))
        expect_not_found(act(api, "stop", str(uuid.uuid4()), g))
    unchanged(env, s, g)
    # streaming: another dealer of the org is refused
    a = accept_ok(env.a, s["id"], d1)
    for api in (env.a, env.b):
        expect_forbidden(act(api, "stop", s["id"], d2.token))
        expect_not_found(act(api, "stop", s["id"], foreign.token))
        expect_not_found(act(api, "stop", s["id"], env.admin_token))
        expect_not_found(act(api, "stop", s["id"], g_other))
    unchanged(env, a, g)


def test_stop_a_requested_stream(env):
    org = Org(env)
    d = org.dealer()
    s, g = request_stream(env.a, org.code, status="requested", offeredTo=[d.id])
    st = stop_ok(env.b, s["id"], g, "guest", dealer=None, acceptedAt=None, offeredTo=[d.id],
                 acceptBy=None)
    expect_error(act(env.a, "stop", s["id"], g), 409, "conflict")
    expect_error(act(env.a, "accept", s["id"], d.token), 409, "conflict")
    unchanged(env, st, g)
    # the dealer was never busy
    request_stream(env.a, org.code, status="requested", offeredTo=[d.id])


# --------------------------------------------------------------------------
# 6. notes


def test_note_only_after_stop(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    s, g = request_stream(env.a, org.code, status="requested")
    expect_error(act(env.a, "note", s["id"], d1.token, {"note": "early"}), 409, "conflict")
    unchanged(env, s, g)
    a = accept_ok(env.b, s["id"], d1)
    expect_error(act(env.a, "note", s["id"], d1.token, {"note": "early"}), 409, "conflict")
    expect_error(act(env.b, "note", s["id"], d2.token, {"note": "early"}), 409, "conflict")
    unchanged(env, a, g)
    st = stop_ok(env.a, s["id"], g, "guest", dealer=d1.id)
    t0 = now_ms()
    c = note_ok(env.b, s["id"], d1.token, "Walked round the car; buyer keen.", dealer=d1.id,
                stoppedAt=st["stoppedAt"], stoppedBy="guest", endedAt=st["endedAt"],
                acceptedAt=a["acceptedAt"])
    assert t0 <= ms(c["updatedAt"]) <= now_ms() + 1, c
    for api in (env.a, env.b):
        assert get_stream(api, g, s["id"]) == c
    # completed: a note replaces the note (another dealer of the org may write it)
    time.sleep(0.005)
    c2 = note_ok(env.a, s["id"], d2.token, "Second thoughts \u00e9\u00e8 \"quoted\"",
                 dealer=d1.id, stoppedAt=st["stoppedAt"], endedAt=st["endedAt"])
    assert ms(c2["updatedAt"]) > ms(c["updatedAt"]), (c, c2)
    assert get_stream(env.b, d1.token, s["id"]) == c2
    # still not stoppable or acceptable
    expect_error(act(env.a, "stop", s["id"], g), 409, "conflict")
    expect_error(act(env.a, "stop", s["id"], d1.token), 409, "conflict")
    unchanged(env, c2, g)


def test_note_validation_and_refusals(env):
    org = Org(env)
    d = org.dealer()
    other = Org(env)
    foreign = other.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    accept_ok(env.a, s["id"], d)
    st = stop_ok(env.a, s["id"], d.token, "dealer")
    path = f"/streams/note/{s['id']}"
    for body in ({}, {"note": ""}, {"note": None}, {"note": 5}, {"note": ["x"]},
                 {"note": "x" * 4001}, {"notes": "x"}):
        expect_invalid(env.a.post(path, body, token=d.token), "note")
    expect_error(env.b.post(path, raw=b"{nope", token=d.token), 400, "bad-json")
    expect_error(env.b.post(path, raw=b"[1]", token=d.token), 422, "invalid")
    expect_not_found(env.a.post(path, {"note": "x"}, token=foreign.token))
    expect_not_found(env.a.post(path, {"note": "x"}, token=org.owner.token))
    expect_not_found(env.a.post(path, {"note": "x"}, token=env.admin_token))
    expect_unauthorized(env.a.post(path, {"note": "x"}, token=g))
    expect_unauthorized(env.a.post(path, {"note": "x"}))
    expect_not_found(env.a.post(f"/streams/note/{uuid.uuid4()}", {"note": "x"}, token=d.token))
    unchanged(env, st, g)
    note_ok(env.a, s["id"], d.token, "n" * 4000)
    note_ok(env.b, s["id"], d.token, "n")


def test_note_counts_characters(env):
    """1-4000 characters: 4000 two-byte characters are a valid note."""
    org = Org(env)
    d = org.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    stop_ok(env.a, s["id"], g, "guest")
    note_ok(env.a, s["id"], d.token, "\u00e9" * 4000)
    expect_invalid(act(env.a, "note", s["id"], d.token, {"note": "\u00e9" * 4001}), "note")


def test_note_on_missed_offline_is_409(env):
    org = Org(env)
    d = org.dealer(ping=False)
    s, g = request_stream(env.a, org.code, status="missed-offline")
    expect_error(act(env.a, "note", s["id"], d.token, {"note": "x"}), 409, "conflict")
    unchanged(env, s, g)


# --------------------------------------------------------------------------
# 7. reading and listing


def test_get_visibility(env):
    org = Org(env)
    d = org.dealer()
    idle = org.dealer(online=False, ping=False)   # any dealer of the org sees it
    other = Org(env)
    foreign = other.dealer()
    op = org.member("operator")
    s, g = request_stream(env.a, org.code, status="requested")
    _, g2 = request_stream(env.a, org.code, status="requested")
    for t in (g, d.token, idle.token, env.admin_token):
        assert get_stream(env.b, t, s["id"]) == s
    for t in (foreign.token, org.owner.token, op.token, g2,
              env.a.create_account(type="user").token):
        for api in (env.a, env.b):
            expect_not_found(api.get(f"/streams/{s['id']}", token=t))
    expect_unauthorized(env.a.get(f"/streams/{s['id']}"))
    for bad in (str(uuid.uuid4()), "nope", s["id"][:-1], s["id"] + "0"):
        expect_not_found(env.a.get(f"/streams/{bad}", token=env.admin_token))


def test_list_newest_first_filters_and_paging(env):
    org = Org(env)
    d1, d2 = org.dealers(2)
    other = Org(env)
    od = other.dealer()
    request_stream(env.a, other.code, status="requested", offeredTo=[od.id])
    made = []
    for i in range(6):
        s, g = request_stream(env.a if i % 2 else env.b, org.code, status="requested")
        made.append([s, g])
        time.sleep(0.003)  # distinct creation milliseconds
    # streaming, stopped, completed, requested x3
    made[0][0] = accept_ok(env.a, made[0][0]["id"], d1)
    made[1][0] = stop_ok(env.a, made[1][0]["id"], made[1][1], "guest")
    made[2][0] = stop_ok(env.a, made[2][0]["id"], made[2][1], "guest")
    made[2][0] = note_ok(env.a, made[2][0]["id"], d2.token, "ok")
    newest = [s for s, _ in reversed(made)]
    for api in (env.a, env.b):
        for t in (d1.token, d2.token):
            v = expect(api.get("/streams", token=t), 200)
            assert set(v) == {"streams", "count"} and v["count"] == 6, v
            assert v["streams"] == newest, [x["id"] for x in v["streams"]]
    # a missed-offline one
    go_offline(env.a, d1)
    go_offline(env.a, d2)
    mo, _ = request_stream(env.a, org.code, status="missed-offline")
    newest.insert(0, mo)

    def lst(q, t=d1.token):
        v = expect(env.a.get("/streams" + q, token=t), 200)
        assert set(v) == {"streams", "count"}, v
        for x in v["streams"]:
            assert_stream(x)
        return v

    def by(*sts):
        return [s for s in newest if s["status"] in sts]

    assert lst("") == {"streams": newest, "count": 7}
    for st in STATUSES:
        assert lst(f"?status={st}") == {"streams": by(st), "count": len(by(st))}, st
    assert lst("?status=requested,completed") == {"streams": by("requested", "completed"),
                                                  "count": 4}
    assert lst("?status=missed-offline,streaming,stopped") == \
        {"streams": by("missed-offline", "streaming", "stopped"), "count": 3}
    for bad in ("bogus", "REQUESTED", "requested,", ",requested", "requested,bogus",
                "missed_offline"):
        expect_invalid(env.a.get(f"/streams?status={bad}", token=d1.token), "status")
    # paging
    assert lst("?limit=2") == {"streams": newest[:2], "count": 7}
    assert lst("?limit=2&offset=2") == {"streams": newest[2:4], "count": 7}
    assert lst("?limit=3&offset=6") == {"streams": newest[6:], "count": 7}
    assert lst("?offset=7") == {"streams": [], "count": 7}
    assert lst("?offset=100&limit=200") == {"streams": [], "count": 7}
    assert lst("?status=requested&limit=1&offset=1") == {"streams": by("requested")[1:2],
                                                         "count": 3}
    for q, field in (("limit=0", "limit"), ("limit=201", "limit"), ("limit=-1", "limit"),
                     ("limit=x", "limit"), ("offset=-1", "offset"), ("offset=1x", "offset")):
        expect_invalid(env.a.get(f"/streams?{q}", token=d1.token), field)
    # the other organization's dealer sees only its own
    v = expect(env.b.get("/streams", token=od.token), 200)
    assert v["count"] == 1 and v["streams"][0]["organization"] == other.id, v


def test_list_default_limit_is_50(env):
    org = Org(env)
    d = org.dealer(ping=False)
    ids = [request_stream(env.a, org.code, status="missed-offline")[0]["id"] for _ in range(52)]
    v = expect(env.a.get("/streams", token=d.token), 200)
    assert v["count"] == 52 and len(v["streams"]) == 50, (v["count"], len(v["streams"]))
    got = [x["id"] for x in v["streams"]]
    assert set(got) <= set(ids) and len(set(got)) == 50
    v = expect(env.a.get("/streams?limit=200", token=d.token), 200)
    assert sorted(x["id"] for x in v["streams"]) == sorted(ids)


def test_list_who_may(env):
    org = Org(env)
    org.dealer()
    _, g = request_stream(env.a, org.code, status="requested")
    op = org.member("operator")
    for t in (org.owner.token, op.token, env.a.create_account(type="user").token):
        expect_forbidden(env.a.get("/streams", token=t))
    # a dealer without an organization
    lone = env.a.create_account(token=env.admin_token, type="dealer")
    expect_forbidden(env.b.get("/streams", token=lone.token))
    expect_unauthorized(env.a.get("/streams", token=g))
    expect_unauthorized(env.a.get("/streams"))


def test_admin_lists_every_organization(make_onair, redis_server):
    e = pair(make_onair, redis_server)
    o1, o2 = Org(e), Org(e)
    d1 = o1.dealer()
    d2 = o2.dealer()
    made = []
    for i in range(4):
        made.append(request_stream(e.a, (o1 if i % 2 else o2).code, status="requested")[0])
        time.sleep(0.003)
    v = expect(e.b.get("/streams", token=e.admin_token), 200)
    assert v == {"streams": list(reversed(made)), "count": 4}, v
    v = expect(e.b.get("/streams?limit=1&offset=1", token=e.admin_token), 200)
    assert v == {"streams": [made[2]], "count": 4}, v
    assert expect(e.a.get("/streams", token=d1.token), 200)["count"] == 2
    assert expect(e.a.get("/streams", token=d2.token), 200)["count"] == 2


# --------------------------------------------------------------------------
# 8. pings


def test_ping_who_may(env):
    org = Org(env)
    op = org.member("operator")
    for t in (org.owner.token, op.token, env.admin_token):
        for api in (env.a, env.b):
            expect_forbidden(api.post("/ping", token=t))
    expect_unauthorized(env.a.post("/ping"))
    expect_unauthorized(env.a.post("/ping", token="a.b.c"))
    # a dealer with no organization may ping (and is eligible nowhere)
    lone = env.a.create_account(token=env.admin_token, type="dealer")
    ping_ok(env.b, lone)
    # GET is not the method
    r = env.a.get("/ping", token=lone.token)
    assert r.status == 405, r


def test_ping_moves_the_streams_expiry(env):
    org = Org(env)
    d = org.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    a = accept_ok(env.a, s["id"], d)
    prev = ms(a["expiresAt"])
    for api in (env.b, env.a, env.b):
        time.sleep(0.01)
        exp = ping_ok(api, d)
        assert exp > prev, (exp, prev)
        got = get_stream(env.a, g, s["id"])
        assert ms(got["expiresAt"]) == exp, (got, exp)
        # the ping changes nothing else (not even updatedAt)
        assert {k: v for k, v in got.items() if k != "expiresAt"} == \
            {k: v for k, v in a.items() if k != "expiresAt"}, (got, a)
        prev = exp
    # another dealer's ping does not touch it
    other = org.dealer(ping=False)
    ping_ok(env.a, other)
    assert ms(get_stream(env.b, g, s["id"])["expiresAt"]) == prev
    # once stopped, pings do not resurrect an expiry
    st = stop_ok(env.a, s["id"], g, "guest")
    ping_ok(env.b, d)
    assert get_stream(env.a, g, s["id"]) == st


# --------------------------------------------------------------------------
# 9. expiry


def test_missed_exactly_once_with_events(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server, ONAIR_STREAM_ACCEPT_TIMEOUT_MS=1000)
    org = Org(e)
    d1, d2 = org.dealers(2)
    outsider = org.dealer(online=False)
    ev1 = sse.ok(e.srv_a.port, token=d1.token)
    ev2 = sse.ok(e.srv_b.port, token=d2.token)
    evx = sse.ok(e.srv_a.port, token=outsider.token)
    s, g = request_stream(e.b, org.code, status="requested", offeredTo=[d1.id, d2.id])
    evg = sse.ok(e.srv_b.port, token=g)
    assert next_stream_event(ev1) == ("requested", s)
    assert next_stream_event(ev2) == ("requested", s)
    # missed once the window has passed, on both instances' reapers' watch
    m = wait_until(lambda: (lambda x: x if x["status"] == "missed" else None)(
        get_stream(e.a, g, s["id"])), 4, interval=0.05, message="missed")
    assert_stream(m, status="missed", dealer=None, offeredTo=[d1.id, d2.id], acceptBy=None,
                  createdAt=s["createdAt"])
    assert m["updatedAt"] == m["endedAt"], m
    late = ms(m["endedAt"]) - ms(s["acceptBy"])
    assert 0 <= late < 1000, (late, s, m)
    # exactly one `missed` to each offered dealer and to the guest; nothing
    # to the dealer it was not offered to
    assert stream_events(ev1, 2.0) == [("missed", m)]
    assert stream_events(ev2, 0.2) == [("missed", m)]
    assert stream_events(evg, 0.2) == [("missed", m)]
    assert stream_events(evx, 0.2) == []
    # nothing can be done with it now
    expect_error(act(e.a, "accept", s["id"], d1.token), 409, "conflict")
    expect_error(act(e.b, "stop", s["id"], g), 409, "conflict")
    expect_error(act(e.a, "note", s["id"], d1.token, {"note": "x"}), 409, "conflict")
    unchanged(e, m, g)
    # a stream the guest stopped, or a dealer accepted, is never `missed`
    s2, g2 = request_stream(e.a, org.code, status="requested")
    st2 = stop_ok(e.a, s2["id"], g2, "guest")
    s3, g3 = request_stream(e.a, org.code, status="requested")
    a3 = accept_ok(e.b, s3["id"], d1)
    time.sleep(1.6)
    assert get_stream(e.b, g2, s2["id"]) == st2
    assert get_stream(e.b, g3, s3["id"]) == a3


def test_expired_when_the_dealer_goes_silent(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server, ONAIR_PING_TIMEOUT_MS=1500)
    org = Org(e)
    d, d2 = org.dealers(2)
    s, g = request_stream(e.a, org.code, status="requested", offeredTo=[d.id, d2.id])
    evd = sse.ok(e.srv_b.port, token=d.token)
    evd2 = sse.ok(e.srv_a.port, token=d2.token)
    evg = sse.ok(e.srv_a.port, token=g)
    a = accept_ok(e.a, s["id"], d)
    assert next_stream_event(evd2) == ("accepted", a)
    assert next_stream_event(evg) == ("accepted", a)
    x = wait_until(lambda: (lambda v: v if v["status"] == "expired" else None)(
        get_stream(e.b, g, s["id"])), 4, interval=0.05, message="expired")
    assert_stream(x, status="expired", dealer=d.id, acceptedAt=a["acceptedAt"], expiresAt=None,
                  stoppedAt=None, stoppedBy=None, createdAt=s["createdAt"])
    assert x["updatedAt"] == x["endedAt"], x
    late = ms(x["endedAt"]) - ms(a["expiresAt"])
    assert 0 <= late < 1000, (late, a, x)
    # dealer and guest are told once; the other dealer is not
    assert stream_events(evd, 2.0) == [("expired", x)]
    assert stream_events(evg, 0.2) == [("expired", x)]
    assert stream_events(evd2, 0.2) == []
    # refusals; a late ping does not bring it back
    ping_ok(e.a, d, timeout_ms=1500)
    expect_error(act(e.a, "stop", s["id"], g), 409, "conflict")
    expect_error(act(e.a, "stop", s["id"], d.token), 409, "conflict")
    expect_error(act(e.b, "note", s["id"], d.token, {"note": "x"}), 409, "conflict")
    expect_error(act(e.b, "accept", s["id"], d.token), 409, "conflict")
    unchanged(e, x, g)
    # the dealer is free: eligible (it just pinged) and may accept again
    ping_ok(e.b, d2)
    s2, _ = request_stream(e.b, org.code, status="requested", offeredTo=[d.id, d2.id])
    accept_ok(e.b, s2["id"], d)


def test_many_streams_expiring_together_each_tell_their_dealer(make_onair, redis_server, sse):
    """30 streams whose dealers fall silent together: every one expires and
    every dealer is told once, although the reaper fires them in one go."""
    e = pair(make_onair, redis_server, ONAIR_PING_TIMEOUT_MS=1500)
    org = Org(e)
    sentinel = org.dealer()
    dealers = org.dealers(30, online=False, ping=False)
    evs = [sse.ok(e.srv_a.port, token=d.token) for d in dealers]
    accepted = []
    for d in dealers:
        ping_ok(e.b, sentinel)
        s, g = request_stream(e.b, org.code, status="requested", offeredTo=[sentinel.id])
        accepted.append(accept_ok(e.a, s["id"], d))
    # one ping each, back to back: the expiries fall within a few ms
    for d in dealers:
        ping_ok(e.b, d)
    seen = {}
    for i, (d, ev) in enumerate(zip(dealers, evs)):
        seen[d.id] = stream_events(ev, 4.0 if i == 0 else 0.3)   # they expire together
    bad = {k: [x[0] for x in v] for k, v in seen.items() if [x[0] for x in v] != ["expired"]}
    assert not bad, f"{len(bad)} of 30 dealers did not get exactly one `expired`: {bad}"
    for a in accepted:
        assert get_stream(e.a, sentinel.token, a["id"])["status"] == "expired"


def test_pinging_keeps_a_stream_alive(make_onair, redis_server, sse):
    e = pair(make_onair, redis_server, ONAIR_PING_TIMEOUT_MS=1500)
    org = Org(e)
    d = org.dealer()
    s, g = request_stream(e.a, org.code, status="requested")
    evd = sse.ok(e.srv_b.port, token=d.token)
    a = accept_ok(e.a, s["id"], d)
    start = time.monotonic()
    last = ms(a["expiresAt"])
    while time.monotonic() - start < 5.0:          # more than three timeouts
        time.sleep(0.4)
        exp = ping_ok(e.a if int(time.monotonic() * 10) % 2 else e.b, d, timeout_ms=1500)
        assert exp > last
        last = exp
        cur = get_stream(e.b, g, s["id"])
        assert cur["status"] == "streaming" and ms(cur["expiresAt"]) == exp, cur
    assert stream_events(evd, 0.1) == []
    # silence: expired about a timeout after the last ping
    x = wait_until(lambda: (lambda v: v if v["status"] == "expired" else None)(
        get_stream(e.a, g, s["id"])), 4, interval=0.05, message="expired")
    assert 0 <= ms(x["endedAt"]) - last < 1000, (x, last)
    assert stream_events(evd, 1.0) == [("expired", x)]


def test_a_late_ping_does_not_revive_an_expired_stream(make_onair, redis_server):
    """Once expiresAt has passed the stream is over, even if no reaper has
    marked it `expired` yet (here the reapers run once a minute): a ping then
    does not move its expiry, and the ping answers the dealer's own
    eligibility."""
    e = pair(make_onair, redis_server, ONAIR_PING_TIMEOUT_MS=800, ONAIR_REAPER_INTERVAL_MS=60000)
    org = Org(e)
    d = org.dealer()
    s, g = request_stream(e.a, org.code, status="requested")
    a = accept_ok(e.a, s["id"], d)
    wait_until(lambda: now_ms() > ms(a["expiresAt"]) + 50, 3, message="expiresAt to pass")
    ping_ok(e.b, d)
    cur = get_stream(e.a, g, s["id"])
    assert cur["expiresAt"] == a["expiresAt"], (a, cur)


# --------------------------------------------------------------------------
# 10. events to dealers and guests


def test_events_requested_accepted_stopped(env, sse):
    org = Org(env)
    d1, d2, d3 = org.dealers(3)
    offline = org.dealer()
    go_offline(env.a, offline)
    other = Org(env)
    foreign = other.dealer()
    e1 = sse.ok(env.srv_a.port, token=d1.token)
    e2 = sse.ok(env.srv_b.port, token=d2.token)
    e3 = sse.ok(env.srv_a.port, token=d3.token)
    eoff = sse.ok(env.srv_b.port, token=offline.token)
    efor = sse.ok(env.srv_a.port, token=foreign.token)
    eown = sse.ok(env.srv_b.port, token=org.owner.token)
    s, g = request_stream(env.b, org.code, status="requested", offeredTo=[d1.id, d2.id, d3.id])
    eg = sse.ok(env.srv_a.port, token=g)
    for e in (e1, e2, e3):
        expect_one_event(e, "requested", s)
    # the guest opened its events after the request: nothing yet
    for e in (eoff, efor, eown, eg):
        assert stream_events(e, 0.1) == []
    # d2 accepts: the others it was offered to and the guest are told
    a = accept_ok(env.a, s["id"], d2)
    for e in (e1, e3, eg):
        expect_one_event(e, "accepted", a)
    assert stream_events(e2, 0.1) == []       # not the one who did it
    # the guest stops: the accepting dealer alone is told
    st = stop_ok(env.b, s["id"], g, "guest")
    expect_one_event(e2, "stopped", st)
    for e in (e1, e3, eg, eoff, efor, eown):
        assert stream_events(e, 0.1) == [], e

    # a requested stream the guest stops: every offered dealer is told
    s2, g2 = request_stream(env.a, org.code, status="requested",
                            offeredTo=[d1.id, d2.id, d3.id])
    for e in (e1, e2, e3):
        expect_one_event(e, "requested", s2)
    st2 = stop_ok(env.a, s2["id"], g2, "guest")
    for e in (e1, e2, e3):
        expect_one_event(e, "stopped", st2)

    # the dealer stops: the guest is told, no dealer is
    s3, g3 = request_stream(env.a, org.code, status="requested")
    eg3 = sse.ok(env.srv_b.port, token=g3)
    for e in (e1, e2, e3):
        assert next_stream_event(e)[0] == "requested"
    a3 = accept_ok(env.b, s3["id"], d1)
    for e in (e2, e3, eg3):
        expect_one_event(e, "accepted", a3)
    st3 = stop_ok(env.a, s3["id"], d1.token, "dealer")
    expect_one_event(eg3, "stopped", st3)
    for e in (e1, e2, e3, eoff, efor, eown, eg):
        assert stream_events(e, 0.1) == [], e
    # a missed-offline request tells nobody
    for d in (d1, d2, d3):
        go_offline(env.a, d)
    request_stream(env.a, org.code, status="missed-offline")
    for e in (e1, e2, e3, eoff, efor, eown):
        assert stream_events(e, 0.2) == [], e


def test_events_completed_to_the_guest(env, sse):
    """A note completes the stream: the other party (the guest) is told."""
    org = Org(env)
    d = org.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    eg = sse.ok(env.srv_b.port, token=g)
    accept_ok(env.a, s["id"], d)
    assert next_stream_event(eg)[0] == "accepted"
    stop_ok(env.a, s["id"], d.token, "dealer")
    assert next_stream_event(eg)[0] == "stopped"
    c = note_ok(env.b, s["id"], d.token, "Thanks!")
    expect_one_event(eg, "completed", c)


def test_guest_events_replay_after_last_event_id(env, sse):
    org = Org(env)
    d = org.dealer()
    s, g = request_stream(env.a, org.code, status="requested")
    eg = sse.ok(env.srv_a.port, token=g)
    a = accept_ok(env.b, s["id"], d)
    assert next_stream_event(eg) == ("accepted", a)
    first_id = eg.last_id
    eg.close()
    st = stop_ok(env.a, s["id"], d.token, "dealer")
    again = sse.ok(env.srv_b.port, token=g, last_event_id=first_id)
    assert next_stream_event(again) == ("stopped", st)


# --------------------------------------------------------------------------
# 11. Redis down


def test_redis_down_503(make_onair, redis_server):
    e = pair(make_onair, redis_server)
    org = Org(e)
    d1, d2 = org.dealers(2)
    s, g = request_stream(e.a, org.code, status="requested")
    redis_server.stop()
    wait_until(lambda: e.srv_a.get("/ready").status == 503 and e.srv_b.get("/ready").status == 503,
               2, message="/ready 503")

    def unavailable(r):
        expect_error(r, 503, "unavailable")
        ra = r.header("Retry-After")
        assert ra is not None and ra.strip().isdigit(), r
        assert r.elapsed < 1.0, r.elapsed

    for api in (e.a, e.b):
        unavailable(request_raw(api, org.code, {"vin": VIN}))
        unavailable(act(api, "accept", s["id"], d1.token))
        unavailable(ping(api, d1))
        unavailable(act(api, "stop", s["id"], g))
        unavailable(api.get(f"/streams/{s['id']}", token=g))
        unavailable(api.get("/streams", token=d1.token))
    redis_server.start()
    wait_until(lambda: e.srv_a.get("/ready").status == 200 and e.srv_b.get("/ready").status == 200,
               5, message="/ready 200")
    # the restarted Redis is empty: the organization is gone
    expect_not_found(request_raw(e.a, org.code, {"vin": VIN}))


def test_redis_paused_503_within_the_deadline(make_onair, redis_server):
    e = pair(make_onair, redis_server)
    org = Org(e)
    d = org.dealer()
    s, g = request_stream(e.a, org.code, status="requested")
    redis_server.pause()
    try:
        for r in (request_raw(e.a, org.code, {"vin": VIN}), act(e.b, "accept", s["id"], d.token),
                  ping(e.a, d)):
            expect_error(r, 503, "unavailable")
            assert r.elapsed < 1.5, r.elapsed
    finally:
        redis_server.resume()
    wait_until(lambda: e.srv_a.get("/ready").status == 200 and e.srv_b.get("/ready").status == 200,
               5, message="/ready 200")
    # the accept sent during the pause may have run when Redis woke up: either
    # way the stream is consistent and a dealer may still act on it
    cur = get_stream(e.a, g, s["id"])
    assert cur["status"] in ("requested", "streaming"), cur
    if cur["status"] == "requested":
        accept_ok(e.b, s["id"], d)
    else:
        assert_stream(cur, dealer=d.id)
    ping_ok(e.a, d)
