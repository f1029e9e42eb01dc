"""Gigs (issue 5): GET /map, POST /gigs, every transition, the lock-out,
ratings, the Jitsi handshake, GET /gigs and the `gig` events on GET /events.

Contract: API.md §4 and docs/gigs.md.  Every test works in its own random
area, so tests sharing a module's servers do not see each other's operators.
"Instance A/B" is two onair processes on one redis-server."""

import hashlib
import hmac
import json
import time
import uuid

import pytest

from accounts_util import (SECRET_HEX, AcctEnv, Api, b64u, b64u_decode, expect, expect_error,
                           expect_forbidden, expect_invalid, expect_not_found,
                           expect_unauthorized, ready, run_threads, server_env)
from events_util import Streams
from harness import wait_until
from gigs_util import (ACTIONS, JITSI, NO_OPERATORS_MESSAGE, PATH, act, act_ok,
                       assert_gig, assert_map_entry, build_gig, customer, expect_423,
                       expect_gig, get_gig, gig_env, gig_events, go_online, is_num,
                       map_at, map_ids, north, operator, rand_point, request_gig,
                       set_location, wait_action)

RADIUS = 5000


@pytest.fixture(scope="module")
def env(make_onair_module, shared_redis):
    """A and B with long deadlines and a 5 km radius."""
    return gig_env(make_onair_module, shared_redis, ONAIR_GEO_RADIUS_M=RADIUS,
                   ONAIR_GIG_CLAIM_TIMEOUT_MS=120000, ONAIR_GIG_CONFIRM_TIMEOUT_MS=120000)


@pytest.fixture
def sse():
    s = Streams()
    yield s
    s.close_all()


# --------------------------------------------------------------------------
# 1. the map


def test_map_shape_order_and_distance(env):
    p = rand_point()
    near = operator(env.a, north(p, 100), first="Near")
    far = operator(env.b, north(p, 3000), first="Far")
    mid = operator(env.a, north(p, 800), first="Mid")
    cust = customer(env.b)
    for api in (env.a, env.b):
        m = map_at(api, cust.token, p)
        assert [e["account"]["id"] for e in m] == [near.id, mid.id, far.id], m
        for e, (op, metres) in zip(m, [(near, 100), (mid, 800), (far, 3000)]):
            assert_map_entry(e, op=op, point=north(p, metres), centre=p)
            assert e["account"]["rating"] is None, e
            assert abs(e["distance"] - metres) < 0.01 * metres + 2, e
    # an operator can search too; the map needs a token
    assert map_ids(env.a, near.token, p) == [near.id, mid.id, far.id]
    expect_unauthorized(env.a.get(f"/map/{p[0]}/{p[1]}"))
    # trailing slash
    assert [e["account"]["id"] for e in expect(env.a.get(f"/map/{p[0]}/{p[1]}/",
                                                         token=cust.token), 200)] == \
        [near.id, mid.id, far.id]


def test_map_excludes_offline_far_inactive_archived_and_users(env):
    p = rand_point()
    tok = env.admin_token
    shown = operator(env.a, north(p, 50))
    edge = operator(env.a, north(p, RADIUS - 100))
    operator(env.a, north(p, RADIUS + 200))   # too far
    offline = operator(env.a, north(p, 60))
    expect(env.a.post("/accounts/status/offline", token=offline.token), 200)
    never_online = operator(env.a)            # no location at all
    expect(env.a.post("/accounts/status/online", token=never_online.token), 200)  # no location
    inactive = operator(env.b, north(p, 70))
    expect(env.a.put(f"/accounts/{inactive.id}", {"status": "inactive"}, token=tok), 200)
    archived = operator(env.b, north(p, 80))
    expect(env.a.put(f"/accounts/{archived.id}", {"archive": True}, token=tok), 200)
    user = customer(env.a)                    # a user online at the point: not an operator
    go_online(env.a, user, north(p, 20))
    ids = map_ids(env.b, user.token, p)
    assert ids == [shown.id, edge.id], ids
    # back online: listed again (its location is kept)
    expect(env.b.post("/accounts/status/online", token=offline.token), 200)
    assert map_ids(env.a, user.token, p) == [shown.id, offline.id, edge.id]
    # reactivated: listed again
    expect(env.a.put(f"/accounts/{inactive.id}", {"status": "active"}, token=tok), 200)
    assert inactive.id in map_ids(env.a, user.token, p)
    # moved away with POST /accounts/location: gone from here, listed there
    set_location(env.b, shown, north(p, RADIUS + 5000))
    assert shown.id not in map_ids(env.a, user.token, p)
    assert shown.id in map_ids(env.a, user.token, north(p, RADIUS + 5000))


def test_map_stale_location(make_onair, redis_server):
    e = gig_env(make_onair, redis_server, ONAIR_GIG_LOCATION_MAX_AGE_S=1)
    p = rand_point()
    cust = customer(e.a)  # first: an account costs a password hash, the location ages
    op = operator(e.a, north(p, 100))
    assert map_ids(e.a, cust.token, p) == [op.id]
    time.sleep(1.6)
    assert map_ids(e.a, cust.token, p) == []
    assert map_ids(e.b, cust.token, p) == []
    # and it is not offered a gig either
    expect_error(e.a.post("/gigs", {"latitude": p[0], "longitude": p[1], "deviceId": "d"},
                          token=cust.token), 404, "no-operators")
    # a fresh location (either route) makes it visible again
    set_location(e.b, op, north(p, 100))
    assert map_ids(e.a, cust.token, p) == [op.id]
    time.sleep(1.6)
    assert map_ids(e.a, cust.token, p) == []
    go_online(e.a, op, north(p, 100))
    assert map_ids(e.b, cust.token, p) == [op.id]


def test_map_at_most_50_nearest(env):
    p = rand_point()
    ops = run_threads([lambda i=i: operator(env.a if i % 2 else env.b, north(p, 20 * (i + 1)))
                       for i in range(55)], timeout=120)
    for o in ops:
        assert not isinstance(o, Exception), o
    cust = customer(env.a)
    m = map_at(env.a, cust.token, p)
    assert [e["account"]["id"] for e in m] == [o.id for o in ops[:50]], m
    d = [e["distance"] for e in m]
    assert d == sorted(d), d
    # and a gig is offered to those 50
    g = request_gig(env.b, cust, p)
    assert sorted(g["offeredTo"]) == sorted(o.id for o in ops[:50]), g


@pytest.mark.parametrize("lat,lon", [("91", "0"), ("-90.0001", "0"), ("0", "180.5"),
                                     ("0", "-181"), ("abc", "0"), ("0", "x1"), ("1e999", "0"),
                                     ("nan", "0"), ("0", "inf"), ("10.5abc", "1"), ("", "1")])
def test_map_bad_coordinates_422(env, lat, lon):
    cust = customer(env.a)
    r = env.a.get(f"/map/{lat}/{lon}", token=cust.token)
    if lat == "":
        assert r.status in (404, 422), r   # /map//1: an empty segment
        return
    expect_error(r, 422, "invalid")


def test_map_edges_of_the_range(env):
    cust = customer(env.a)
    for lat, lon in (("90", "180"), ("-90", "-180"), ("89.9", "0"), ("0", "0"), ("-0.5", "-0.5")):
        v = expect(env.a.get(f"/map/{lat}/{lon}", token=cust.token), 200)
        assert isinstance(v, list), v
    assert expect(env.a.get("/map/89/10", token=cust.token), 200) == []


# --------------------------------------------------------------------------
# 2. requesting a gig


def test_request_validation(env):
    p = rand_point()
    operator(env.a, north(p, 10))
    cust = customer(env.a)
    ok = {"latitude": p[0], "longitude": p[1], "deviceId": "d1"}
    cases = [
        ({"longitude": p[1], "deviceId": "d"}, "latitude"),
        ({"latitude": p[0], "deviceId": "d"}, "longitude"),
        (dict(ok, latitude=90.5), "latitude"),
        (dict(ok, latitude=-91), "latitude"),
        (dict(ok, longitude=180.01), "longitude"),
        (dict(ok, longitude=-200), "longitude"),
        (dict(ok, latitude=str(p[0])), "latitude"),
        (dict(ok, longitude=None), "longitude"),
        (dict(ok, latitude=True), "latitude"),
        (dict(ok, deviceId=""), "deviceId"),
        (dict(ok, deviceId="x" * 129), "deviceId"),
        (dict(ok, deviceId=12345), "deviceId"),
    ]
    for body, field in cases:
        expect_invalid(env.a.post("/gigs", body, token=cust.token), field)
    expect_error(env.a.post("/gigs", raw=b"{nope", token=cust.token), 400, "bad-json")
    expect_error(env.a.post("/gigs", [1, 2], token=cust.token), 422, "invalid")
    expect_unauthorized(env.a.post("/gigs", ok))
    # nothing was created by any of those
    assert expect(env.a.get("/gigs", token=cust.token), 200) == {"gigs": [], "count": 0}
    # 128 characters is fine; deviceId may be omitted (token without Platform)
    g = request_gig(env.b, cust, p, device_id="y" * 128)
    assert g["deviceId"] == "y" * 128


def test_request_without_device_id_and_exact_point(env):
    p = rand_point()
    op = operator(env.a, north(p, 10))
    cust = customer(env.a)
    g = request_gig(env.a, cust, p, device_id=None, offeredTo=[op.id])
    assert_gig(g, deviceId=None, latitude=p[0], longitude=p[1], operator=None,
               handshakes_customer=False, handshakes_operator=False, ratings_customer=None,
               ratings_operator=None, startedAt=None, stoppedAt=None, durationMs=None)
    assert g["createdAt"] == g["updatedAt"], g


def test_no_operators(env):
    cust = customer(env.a)
    p = rand_point()
    for api in (env.a, env.b):
        r = api.post("/gigs", {"latitude": p[0], "longitude": p[1], "deviceId": "d"},
                     token=cust.token)
        v = expect_error(r, 404, "no-operators")
        assert v["message"] == NO_OPERATORS_MESSAGE, r
    # an operator just beyond the radius does not count
    operator(env.a, north(p, RADIUS + 300))
    expect_error(env.b.post("/gigs", {"latitude": p[0], "longitude": p[1]}, token=cust.token),
                 404, "no-operators")
    assert expect(env.a.get("/gigs", token=cust.token), 200)["count"] == 0


def test_only_users_request_gigs(env):
    p = rand_point()
    op = operator(env.a, north(p, 10))
    body = {"latitude": p[0], "longitude": p[1], "deviceId": "d"}
    expect_forbidden(env.a.post("/gigs", body, token=op.token))
    expect_forbidden(env.b.post("/gigs", body, token=env.admin_token))


def test_device_id_required_after_platform_login(env):
    p = rand_point()
    operator(env.a, north(p, 10))
    cust = customer(env.a)
    for platform in ("ios", "android"):
        tok = env.a.login_ok(cust.password, email=cust.email, platform=platform)["token"]
        expect_invalid(env.b.post("/gigs", {"latitude": p[0], "longitude": p[1]}, token=tok),
                       "deviceId")
        expect_invalid(env.b.post("/gigs", {"latitude": p[0], "longitude": p[1],
                                            "deviceId": None}, token=tok), "deviceId")
    g = expect_gig(env.a.post("/gigs", {"latitude": p[0], "longitude": p[1],
                                        "deviceId": "iphone-7"}, token=tok), 201)["gig"]
    assert g["deviceId"] == "iphone-7", g
    # the same account with a login without Platform: optional
    web = customer(env.a)
    operator(env.a, north(p, 20))
    tok2 = env.a.login_ok(web.password, email=web.email)["token"]
    g2 = expect_gig(env.b.post("/gigs", {"latitude": p[0], "longitude": p[1]}, token=tok2),
                    201)["gig"]
    assert g2["deviceId"] is None


def test_customer_with_an_active_gig_gets_409(env):
    """requested, claimed, confirmed, handshaked, started: 409; a terminal
    gig does not count."""
    for state in ("requested", "claimed", "confirmed", "handshaked", "started"):
        g = build_gig(env, state, n_ops=2)
        body = {"latitude": g.point[0], "longitude": g.point[1], "deviceId": "d"}
        expect_error(env.a.post("/gigs", body, token=g.cust.token), 409, "conflict")
        r = expect(env.b.get("/gigs", token=g.cust.token), 200)
        assert r["count"] == 1 and r["gigs"][0] == g.get(), (state, r)
    for state in ("unclaimed", "rejected", "cancelled"):
        g = build_gig(env, state, n_ops=1)
        # the operator is free again (not busy); a new gig is offered to it
        g2 = request_gig(env.a, g.cust, g.point)
        assert g.op.id in g2["offeredTo"], (state, g2)


# --------------------------------------------------------------------------
# 3. the happy path, with every event


def test_happy_path(env, sse):
    p = rand_point()
    op = operator(env.a, north(p, 150), first="Olga", last="Stream")
    other = operator(env.b, north(p, 900))
    cust = customer(env.b, firstName="Carl", lastName="Buyer")
    s_op = sse.ok(env.srv_a.port, token=op.token)
    s_other = sse.ok(env.srv_b.port, token=other.token)
    s_cust = sse.ok(env.srv_a.port, token=cust.token)

    # the map
    m = map_at(env.a, cust.token, p)
    assert [e["account"]["id"] for e in m] == [op.id, other.id]

    # request
    t0 = time.time()
    g = request_gig(env.b, cust, p, device_id="dev-42", offeredTo=[op.id, other.id],
                    latitude=p[0], longitude=p[1], deviceId="dev-42", operator=None,
                    handshakes_customer=False, handshakes_operator=False,
                    ratings_customer=None, ratings_operator=None, startedAt=None,
                    stoppedAt=None, durationMs=None)
    gid = g["id"]
    for who in (cust, op, other, env.admin):
        tok = who.token if hasattr(who, "token") else who["token"]
        assert get_gig(env.a, tok, gid) == g
    for s in (s_op, s_other):
        ev = wait_action(s, "offered", gid)
        assert ev == g, ev

    # claim: accept
    g1 = act_ok(env.a, "claim", gid, op.token, {"response": "accept"}, status="claimed",
                operator=op.id, customer=cust.id, offeredTo=[op.id, other.id])
    assert g1["createdAt"] == g["createdAt"] and g1["updatedAt"] >= g["updatedAt"]
    assert wait_action(s_cust, "claimed", gid) == g1
    assert get_gig(env.b, other.token, gid)["status"] == "claimed"   # offered: may read
    # the operator is busy: off the map
    assert map_ids(env.a, cust.token, p) == [other.id]

    # confirm
    g2 = act_ok(env.b, "confirm", gid, cust.token, status="confirmed", operator=op.id)
    assert wait_action(s_op, "confirmed", gid) == g2

    # handshake x2
    h1 = act_ok(env.a, "handshake", gid, cust.token, status="confirmed",
                handshakes_customer=True, handshakes_operator=False)
    assert wait_action(s_op, "handshake", gid) == h1["gig"]
    h2 = act_ok(env.b, "handshake", gid, op.token, status="handshaked",
                handshakes_customer=True, handshakes_operator=True)
    assert wait_action(s_cust, "handshaked", gid)["status"] == "handshaked"
    assert wait_action(s_op, "handshaked", gid)["status"] == "handshaked"
    assert h1["stream"]["sessionId"] == h2["stream"]["sessionId"]
    assert h1["stream"]["provider"] == "jitsi"

    # start (by the operator)
    t_start = time.time()
    g4 = act_ok(env.a, "start", gid, op.token, status="started")
    assert g4["startedAt"] is not None and g4["stoppedAt"] is None and g4["durationMs"] is None
    assert wait_action(s_cust, "started", gid) == g4
    time.sleep(0.2)

    # stop (by the customer)
    g5 = act_ok(env.b, "stop", gid, cust.token, status="stopped", startedAt=g4["startedAt"])
    t_stop = time.time()
    assert g5["stoppedAt"] is not None and g5["stoppedAt"] >= g5["startedAt"]
    assert 150 <= g5["durationMs"] <= (t_stop - t_start) * 1000 + 50, g5
    assert wait_action(s_op, "stopped", gid) == g5

    # rate x2
    g6 = act_ok(env.a, "rate", gid, op.token, {"rating": 4}, status="stopped",
                ratings_operator=4, ratings_customer=None)
    g7 = act_ok(env.b, "rate", gid, cust.token, {"rating": 5}, status="rated",
                ratings_operator=4, ratings_customer=5, durationMs=g5["durationMs"],
                startedAt=g5["startedAt"], stoppedAt=g5["stoppedAt"])
    assert g6["updatedAt"] <= g7["updatedAt"]
    assert wait_action(s_cust, "rated", gid) == g7
    assert wait_action(s_op, "rated", gid) == g7
    for tok in (cust.token, op.token, env.admin_token):
        assert get_gig(env.b, tok, gid) == g7
    assert g7["createdAt"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 2))

    # the operator is free again, with its rating on the map
    m = map_at(env.b, cust.token, p)
    assert [e["account"]["id"] for e in m] == [op.id, other.id], m
    assert m[0]["account"]["rating"] == 5, m
    assert m[1]["account"]["rating"] is None, m
    # the other offered operator heard of the offer only
    assert [a for a, _ in gig_events(s_other, 0.3)] == []


def test_events_of_every_transition(env, sse):
    """The exact gig actions each party receives, in order, over a whole
    lifecycle where the parties alternate; each event's gig has the state
    after the transition."""
    p = rand_point()
    op = operator(env.a, north(p, 10))
    cust = customer(env.a)
    s_op = sse.ok(env.srv_b.port, token=op.token)
    s_cust = sse.ok(env.srv_b.port, token=cust.token)
    g = request_gig(env.a, cust, p)
    gid = g["id"]
    steps = [("claim", op), ("confirm", cust), ("handshake", op), ("handshake", cust),
             ("start", cust), ("stop", op), ("rate", cust), ("rate", op)]
    resp = []
    for action, who in steps:
        v = act_ok(env.a, action, gid, who.token)
        resp.append(v["gig"] if action == "handshake" else v)
    got_op = gig_events(s_op, 1.5)
    got_cust = gig_events(s_cust, 0.3)
    op_actions = [a for a, _ in got_op]
    cust_actions = [a for a, _ in got_cust]
    # docs/gigs.md: "handshake" and "rating" go to the other party when one
    # party has; "handshaked" and "rated" to both
    assert op_actions == ["offered", "confirmed", "handshaked", "started", "rating", "rated"], \
        got_op
    assert cust_actions == ["claimed", "handshake", "handshaked", "stopped", "rated"], got_cust
    # each carries the gig as the transition's answer showed it
    assert [x for _, x in got_op] == [g, resp[1], resp[3], resp[4], resp[6], resp[7]]
    assert [x for _, x in got_cust] == [resp[0], resp[2], resp[3], resp[5], resp[7]]
    status_after = {"offered": "requested", "claimed": "claimed", "confirmed": "confirmed",
                    "handshake": "confirmed", "handshaked": "handshaked", "started": "started",
                    "stopped": "stopped", "rating": "stopped", "rated": "rated"}
    for a, gig in got_op + got_cust:
        assert gig["id"] == gid
        if a in status_after:
            assert gig["status"] == status_after[a], (a, gig)


def test_reject_and_cancel_events(env, sse):
    g = build_gig(env, "claimed")
    s_op = sse.ok(env.srv_b.port, token=g.op.token)
    s_cust = sse.ok(env.srv_a.port, token=g.cust.token)
    r = act_ok(env.a, "reject", g.id, g.cust.token, status="rejected", operator=g.op.id)
    assert wait_action(s_op, "rejected", g.id) == r
    # the operator is not busy any more
    assert g.op.id in map_ids(env.a, g.cust.token, g.point)

    # cancel by the operator (confirmed), by the customer (handshaked)
    g2 = request_gig(env.b, g.cust, g.point)
    act_ok(env.a, "claim", g2["id"], g.op.token)
    act_ok(env.a, "confirm", g2["id"], g.cust.token)
    c = act_ok(env.b, "cancel", g2["id"], g.op.token, status="cancelled")
    assert wait_action(s_cust, "cancelled", g2["id"]) == c
    g3 = request_gig(env.b, g.cust, g.point)
    for step, who in [("claim", g.op), ("confirm", g.cust), ("handshake", g.cust),
                      ("handshake", g.op)]:
        act_ok(env.a, step, g3["id"], who.token)
    c3 = act_ok(env.a, "cancel", g3["id"], g.cust.token, status="cancelled",
                handshakes_customer=True, handshakes_operator=True)
    assert wait_action(s_op, "cancelled", g3["id"]) == c3
    assert g.op.id in map_ids(env.b, g.cust.token, g.point)


# --------------------------------------------------------------------------
# 4. refused transitions and non-parties


# (action, role) allowed from each state; role "op" is the assigned (or, in
# requested, the offered) operator.
ALLOWED = {
    "requested": {("claim", "op")},
    "claimed": {("confirm", "cust"), ("reject", "cust")},
    "confirmed": {("cancel", "cust"), ("cancel", "op"), ("handshake", "cust"),
                  ("handshake", "op")},
    "handshaked": {("cancel", "cust"), ("cancel", "op"), ("start", "cust"), ("start", "op")},
    "started": {("stop", "cust"), ("stop", "op")},
    "stopped": {("rate", "cust"), ("rate", "op")},
    "rated": set(),
    "unclaimed": set(),
    "rejected": set(),
    "cancelled": set(),
}


@pytest.mark.parametrize("state", list(ALLOWED))
def test_refused_transitions_are_409_and_change_nothing(env, state):
    g = build_gig(env, state, n_ops=2)
    before = g.get()
    other_offered = g.others[0]
    for action in ACTIONS:
        for role, who in (("cust", g.cust), ("op", g.op)):
            if (action, role) in ALLOWED[state]:
                continue
            if role == "op" and action != "claim" and before["operator"] != g.op.id:
                # an operator that is only offered is no party to anything but claim
                expect_not_found(act(env.a, action, g.id, who.token))
                continue
            r = act(env.a if action < "m" else env.b, action, g.id, who.token)
            expect_error(r, 409, "conflict")
        # the other offered operator: claim is 409 once somebody claimed (or all
        # rejected); anything else 404 (it is no party)
        if action == "claim" and state == "requested":
            continue    # it may claim
        r = act(env.b, action, g.id, other_offered.token)
        if action == "claim":
            expect_error(r, 409, "conflict")
        else:
            expect_not_found(r)
    after = g.get(env.b)
    assert after == before, (before, after)


def test_answers_hold_the_new_state_after_redis_lost_the_scripts(env):
    """Each gig script is followed by a read of the gig in the same round trip;
    when Redis has lost the scripts (SCRIPT FLUSH), each is resent as EVAL and
    the gig read again after it: every answer shows the state just written."""
    p = rand_point()
    op = operator(env.a, north(p, 10))
    cust = customer(env.b)
    r = env.redis.client()
    assert r.script_flush() is True
    g = request_gig(env.b, cust, p, offeredTo=[op.id])
    steps = [("claim", op, {"status": "claimed", "operator": op.id}),
             ("confirm", cust, {"status": "confirmed"}),
             ("handshake", cust, {"status": "confirmed", "handshakes_customer": True,
                                  "handshakes_operator": False}),
             ("handshake", op, {"status": "handshaked", "handshakes_operator": True}),
             ("start", op, {"status": "started"}),
             ("stop", cust, {"status": "stopped"}),
             ("rate", op, {"status": "stopped", "ratings_operator": 5}),
             ("rate", cust, {"status": "rated", "ratings_customer": 5})]
    for action, who, expected in steps:
        assert r.script_flush() is True
        api = env.a if who is op else env.b
        act_ok(api, action, g["id"], who.token, **expected)


def test_coordinates_are_copied_as_stored_or_rewritten_as_numbers(env):
    """A gig's coordinates are stored as "%.7f" and copied into answers as
    they are; a stored form that is not a plain decimal (written by hand, say)
    is read and written again as a JSON number, never copied."""
    g = build_gig(env, "requested")
    raw = env.a.get(f"/gigs/{g.id}", token=g.cust.token)
    assert f'"latitude":{g.point[0]:.7f},'.encode() in raw.body, raw.body
    r = env.redis.client()
    key = "onair:{gig:%s}" % g.id
    assert r.hget(key, "lat") == f"{g.point[0]:.7f}"
    for stored, shown in [("1e-05", 1e-05), ("05.5", 5.5), ("7.", 7.0), ("-0.25", -0.25)]:
        r.hset(key, "lat", stored)
        v = get_gig(env.a, g.cust.token, g.id)
        assert v["latitude"] == shown and is_num(v["latitude"]), (stored, v)


def test_repeated_handshake_and_rating_are_409(env):
    g = build_gig(env, "confirmed")
    act_ok(env.a, "handshake", g.id, g.cust.token)
    expect_error(act(env.b, "handshake", g.id, g.cust.token), 409, "conflict")
    before = g.get()
    assert before["status"] == "confirmed" and before["handshakes"] == {"customer": True,
                                                                         "operator": False}
    g = build_gig(env, "stopped")
    act_ok(env.a, "rate", g.id, g.cust.token, {"rating": 3})
    before = g.get()
    expect_error(act(env.b, "rate", g.id, g.cust.token, {"rating": 4}), 409, "conflict")
    assert g.get() == before and before["ratings"] == {"customer": 3, "operator": None}


@pytest.mark.parametrize("state", ["requested", "claimed", "confirmed", "handshaked",
                                   "started", "stopped", "rated"])
def test_non_parties_get_404(env, state):
    g = build_gig(env, state)
    before = g.get()
    stranger = customer(env.a)
    stranger_op = operator(env.a, north(g.point, 30))   # near, but not offered this gig
    for who in (stranger.token, stranger_op.token, env.admin_token):
        for action in ACTIONS:
            expect_not_found(act(env.a, action, g.id, who))
            expect_not_found(act(env.b, action, g.id, who,
                                 {"response": "reject"} if action == "claim" else None))
    expect_not_found(env.a.get(f"/gigs/{g.id}", token=stranger.token))
    expect_not_found(env.b.get(f"/gigs/{g.id}", token=stranger_op.token))
    assert get_gig(env.a, env.admin_token, g.id) == before
    assert g.get(env.b) == before
    # no one's list shows it
    assert expect(env.a.get("/gigs", token=stranger.token), 200) == {"gigs": [], "count": 0}
    assert expect(env.a.get("/gigs", token=stranger_op.token), 200) == {"gigs": [], "count": 0}


def test_unknown_and_malformed_ids_are_404(env):
    cust = customer(env.a)
    op = operator(env.a, rand_point())
    for gid in (str(uuid.uuid4()), "not-a-uuid", "12345", "0" * 36,
                str(uuid.uuid4()).upper(), "%20", "a" * 300):
        for tok in (cust.token, op.token, env.admin_token):
            expect_not_found(env.a.get(f"/gigs/{gid}", token=tok))
            for action in ACTIONS:
                expect_not_found(act(env.b, action, gid, tok))
    expect_unauthorized(env.a.get(f"/gigs/{uuid.uuid4()}"))
    expect_unauthorized(env.a.post(f"/gigs/claim/{uuid.uuid4()}", {"response": "accept"}))


def test_claim_response_validation(env):
    g = build_gig(env, "requested")
    for body in ({"response": "maybe"}, {"response": ""}, {"response": None}, {},
                 {"response": True}, {"response": "ACCEPT"}):
        expect_invalid(act(env.a, "claim", g.id, g.op.token, body), "response")
    assert g.get() == g.gig


# --------------------------------------------------------------------------
# 5. claims: all reject, concurrency, busy operators


def test_all_reject_makes_unclaimed(env, sse):
    p = rand_point()
    ops = [operator(env.a, north(p, 10 * (i + 1))) for i in range(3)]
    cust = customer(env.b)
    s_cust = sse.ok(env.srv_a.port, token=cust.token)
    g = request_gig(env.b, cust, p, offeredTo=[o.id for o in ops])
    r1 = act_ok(env.a, "claim", g["id"], ops[0].token, {"response": "reject"},
                status="requested", operator=None)
    # a rejecter cannot change its mind
    expect_error(act(env.b, "claim", g["id"], ops[0].token, {"response": "accept"}), 409,
                 "conflict")
    expect_error(act(env.b, "claim", g["id"], ops[0].token, {"response": "reject"}), 409,
                 "conflict")
    assert get_gig(env.a, cust.token, g["id"]) == r1
    act_ok(env.b, "claim", g["id"], ops[1].token, {"response": "reject"}, status="requested")
    last = act_ok(env.a, "claim", g["id"], ops[2].token, {"response": "reject"},
                  status="unclaimed", operator=None)
    assert wait_action(s_cust, "unclaimed", g["id"]) == last
    assert [a for a, _ in gig_events(s_cust, 0.3)] == []
    # rejecting operators are not busy; the customer may ask again
    g2 = request_gig(env.a, cust, p)
    assert sorted(g2["offeredTo"]) == sorted(o.id for o in ops)
    # a rejecter can still read the gig it was offered
    assert get_gig(env.b, ops[0].token, g["id"])["status"] == "unclaimed"


def test_concurrent_accepts_across_two_instances(env, sse):
    p = rand_point()
    n = 8
    ops = run_threads([lambda i=i: operator(env.a, north(p, 10 * (i + 1))) for i in range(n)],
                      timeout=60)
    cust = customer(env.b)
    s_cust = sse.ok(env.srv_b.port, token=cust.token)
    g = request_gig(env.b, cust, p, offeredTo=[o.id for o in ops])
    results = run_threads([lambda i=i: act(env.a if i % 2 else env.b, "claim", g["id"],
                                           ops[i].token) for i in range(n)])
    for r in results:
        assert not isinstance(r, Exception), results
    wins = [i for i, r in enumerate(results) if r.status == 200]
    assert len(wins) == 1, [r.status for r in results]
    for i, r in enumerate(results):
        if i not in wins:
            expect_error(r, 409, "conflict")
    winner = ops[wins[0]]
    won = expect_gig(results[wins[0]])["gig"]
    assert_gig(won, status="claimed", operator=winner.id)
    assert get_gig(env.a, cust.token, g["id"]) == won
    assert wait_action(s_cust, "claimed", g["id"])["operator"] == winner.id
    assert [a for a, _ in gig_events(s_cust, 0.5)] == []   # once
    # only the winner is off the map
    ids = map_ids(env.a, cust.token, p)
    assert ids == [o.id for o in ops if o is not winner], ids


def test_busy_operator_is_not_offered_and_cannot_claim(env):
    p = rand_point()
    a = operator(env.a, north(p, 10))
    b = operator(env.a, north(p, 20))
    c1, c2, c3 = customer(env.b), customer(env.b), customer(env.b)
    earlier = request_gig(env.a, c1, p, offeredTo=[a.id, b.id])   # offered to both
    g = request_gig(env.a, c2, p, offeredTo=[a.id, b.id])
    act_ok(env.b, "claim", g["id"], a.token, status="claimed")
    # busy from claimed: the earlier offer cannot be accepted
    expect_error(act(env.a, "claim", earlier["id"], a.token), 409, "conflict")
    assert get_gig(env.a, c1.token, earlier["id"]) == earlier
    # not on the map, not offered
    assert map_ids(env.b, c3.token, p) == [b.id]
    g3 = request_gig(env.b, c3, p, offeredTo=[b.id])
    expect_not_found(act(env.a, "claim", g3["id"], a.token))
    # still busy through confirmed ... stopped
    for step, who in [("confirm", c2), ("handshake", c2), ("handshake", a), ("start", a),
                      ("stop", c2)]:
        act_ok(env.a, step, g["id"], who.token)
        assert a.id not in map_ids(env.a, c3.token, p), step
    # stopped and the customer rated: still busy until the operator rated
    act_ok(env.a, "rate", g["id"], c2.token)
    assert a.id not in map_ids(env.a, c3.token, p)
    act_ok(env.a, "rate", g["id"], a.token)
    assert map_ids(env.a, c3.token, p) == [a.id, b.id]
    # and it may claim again
    act_ok(env.b, "claim", earlier["id"], a.token, status="claimed", operator=a.id)


# --------------------------------------------------------------------------
# 6. deadlines


def test_claim_timeout_expires_once(make_onair, redis_server, sse):
    e = gig_env(make_onair, redis_server, ONAIR_GIG_CLAIM_TIMEOUT_MS=700,
                ONAIR_GIG_CONFIRM_TIMEOUT_MS=60000, ONAIR_REAPER_INTERVAL_MS=50)
    p = rand_point()
    ops = [operator(e.a, north(p, 10)), operator(e.b, north(p, 20))]
    cust = customer(e.a)
    streams = [sse.ok(e.srv_a.port, token=cust.token), sse.ok(e.srv_b.port, token=ops[0].token),
               sse.ok(e.srv_a.port, token=ops[1].token)]
    t0 = time.monotonic()
    g = request_gig(e.b, cust, p)
    assert get_gig(e.a, cust.token, g["id"])["status"] == "requested"
    # the server expires it by itself: nobody reads the gig meanwhile
    seen = []
    ev = wait_action(streams[0], "expired", g["id"], timeout=4, seen=seen)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.6, elapsed
    assert seen == [], seen
    got = get_gig(e.a, cust.token, g["id"])
    assert_gig(got, status="expired", operator=None)
    assert ev == got
    assert [a for a, _ in gig_events(streams[0], 1.0)] == []     # once
    for s in streams[1:]:
        actions = gig_events(s, 0.3)
        assert actions == [("offered", g), ("expired", got)], actions
    # transitions on an expired gig: 409; the operators are free; a new gig works
    expect_error(act(e.a, "claim", g["id"], ops[0].token), 409, "conflict")
    g2 = request_gig(e.a, cust, p)
    assert sorted(g2["offeredTo"]) == sorted(o.id for o in ops)


def test_confirm_timeout_expires_once_and_claim_deadline_is_cancelled(make_onair, redis_server,
                                                                     sse):
    e = gig_env(make_onair, redis_server, ONAIR_GIG_CLAIM_TIMEOUT_MS=800,
                ONAIR_GIG_CONFIRM_TIMEOUT_MS=1500, ONAIR_REAPER_INTERVAL_MS=50)
    p = rand_point()
    op, bystander = operator(e.a, north(p, 10)), operator(e.b, north(p, 20))
    cust = customer(e.a)
    s_cust = sse.ok(e.srv_b.port, token=cust.token)
    s_op = sse.ok(e.srv_a.port, token=op.token)
    s_by = sse.ok(e.srv_b.port, token=bystander.token)
    g = request_gig(e.b, cust, p)
    time.sleep(0.3)
    t_claim = time.monotonic()
    act_ok(e.a, "claim", g["id"], op.token, status="claimed")
    # past the claim deadline (0.8 s after the request): still claimed
    time.sleep(0.9)
    assert get_gig(e.b, cust.token, g["id"])["status"] == "claimed"
    ev = wait_action(s_cust, "expired", g["id"], timeout=4)
    assert time.monotonic() - t_claim >= 1.4
    got = get_gig(e.a, cust.token, g["id"])
    assert_gig(got, status="expired", operator=op.id)
    assert ev == got
    assert [a for a, _ in gig_events(s_cust, 1.0)] == []          # once
    actions = gig_events(s_op, 0.3)
    assert [gg for a, gg in actions if a == "expired"] == [got], actions
    assert [a for a, _ in gig_events(s_by, 0.2) if a == "expired"] == []
    # the operator is free again
    assert map_ids(e.a, cust.token, p) == [op.id, bystander.id]
    expect_error(act(e.b, "confirm", g["id"], cust.token), 409, "conflict")


def test_confirmed_gig_does_not_expire(make_onair, redis_server):
    e = gig_env(make_onair, redis_server, ONAIR_GIG_CLAIM_TIMEOUT_MS=400,
                ONAIR_GIG_CONFIRM_TIMEOUT_MS=400, ONAIR_REAPER_INTERVAL_MS=50)
    g = build_gig(e, "confirmed")
    time.sleep(1.2)
    assert g.get()["status"] == "confirmed"
    g2 = build_gig(e, "unclaimed")
    time.sleep(0.8)
    assert g2.get()["status"] == "unclaimed"


# --------------------------------------------------------------------------
# 7. lock-out and ratings


def test_rating_lockout(env, sse):
    p = rand_point()
    op = operator(env.a, north(p, 10))
    op2 = operator(env.a, north(p, 20))
    c1, c2 = customer(env.b), customer(env.b)
    g2 = request_gig(env.a, c2, p, offeredTo=[op.id, op2.id])     # offered to op, waiting
    g1 = request_gig(env.a, c1, p, offeredTo=[op.id, op2.id])
    for step, who in PATH["stopped"]:
        act_ok(env.b, step, g1["id"], (c1 if who == "cust" else op).token)
    body = {"latitude": p[0], "longitude": p[1], "deviceId": "d"}
    # the customer: POST /gigs -> 423 on either instance
    for api in (env.a, env.b):
        expect_423(api.post("/gigs", body, token=c1.token), g1["id"])
    # the operator: claiming another gig -> 423 (not 409)
    before = get_gig(env.a, c2.token, g2["id"])
    expect_423(act(env.a, "claim", g2["id"], op.token), g1["id"])
    expect_423(act(env.b, "claim", g2["id"], op.token, {"response": "reject"}), g1["id"])
    assert get_gig(env.a, c2.token, g2["id"]) == before
    # reading stays allowed
    assert get_gig(env.b, op.token, g2["id"]) == before
    assert get_gig(env.b, c1.token, g1["id"])["status"] == "stopped"
    assert expect(env.a.get("/gigs", token=c1.token), 200)["count"] == 1
    map_at(env.a, c1.token, p)
    # the customer rates: its lock-out ends, the operator's does not
    act_ok(env.a, "rate", g1["id"], c1.token, {"rating": 2}, status="stopped")
    expect_423(act(env.a, "claim", g2["id"], op.token), g1["id"])
    g3 = request_gig(env.b, c1, p, offeredTo=[op2.id])
    # the operator rates: free, and may now claim the waiting gig
    act_ok(env.b, "rate", g1["id"], op.token, {"rating": 5}, status="rated")
    act_ok(env.a, "claim", g2["id"], op.token, status="claimed", operator=op.id)
    # the newly requested gig's customer is not locked
    act_ok(env.a, "claim", g3["id"], op2.token, status="claimed")


def test_lockout_on_transitions_of_another_gig(env):
    """A customer who rated its first gig (still stopped: the operator has
    not) has a second gig stopped and unrated: transitions on the first one
    -> 423 with the second's id; the operator of the first gig is not locked
    by the second."""
    p = rand_point()
    op1 = operator(env.a, north(p, 10))
    cust = customer(env.b)
    g1 = request_gig(env.a, cust, p)
    for step, who in PATH["stopped"]:
        act_ok(env.b, step, g1["id"], (cust if who == "cust" else op1).token)
    act_ok(env.a, "rate", g1["id"], cust.token, status="stopped")
    op2 = operator(env.a, north(p, 20))
    g2 = request_gig(env.a, cust, p, offeredTo=[op2.id])
    for step, who in PATH["stopped"]:
        act_ok(env.b, step, g2["id"], (cust if who == "cust" else op2).token)
    before = get_gig(env.a, cust.token, g1["id"])
    for action in ("confirm", "reject", "cancel", "handshake", "start", "stop"):
        expect_423(act(env.a, action, g1["id"], cust.token), g2["id"])
    assert get_gig(env.a, cust.token, g1["id"]) == before
    # op1 (locked by g1 only) rates g1: allowed; g1 is rated
    act_ok(env.b, "rate", g1["id"], op1.token, status="rated")


@pytest.mark.parametrize("body", [{"rating": 0}, {"rating": 6}, {"rating": 2.5},
                                  {"rating": "5"}, {}, {"rating": None}, {"rating": True},
                                  {"rating": -1}, {"rating": [5]}])
def test_rating_validation(env, body):
    g = build_gig(env, "stopped")
    before = g.get()
    expect_invalid(act(env.a, "rate", g.id, g.cust.token, body), "rating")
    expect_invalid(act(env.b, "rate", g.id, g.op.token, body), "rating")
    assert g.get() == before


def test_rating_averages_on_the_map(env):
    p = rand_point()
    op = operator(env.a, north(p, 10))
    ratings = [5, 4, 4]
    expected = [5, 4.5, 4.3]
    op_ratings = []
    for rating, avg in zip(ratings, expected):
        cust = customer(env.b)
        g = request_gig(env.a, cust, p, offeredTo=[op.id])
        for step, who in PATH["stopped"]:
            act_ok(env.b, step, g["id"], (cust if who == "cust" else op).token)
        act_ok(env.a, "rate", g["id"], cust.token, {"rating": rating})
        op_ratings.append(1)
        act_ok(env.a, "rate", g["id"], op.token, {"rating": 1})   # rates the customer
        m = map_at(env.b, cust.token, p)
        assert len(m) == 1 and m[0]["account"]["id"] == op.id, m
        assert m[0]["account"]["rating"] == avg, (m, avg)
        assert_map_entry(m[0], op=op, point=north(p, 10), centre=p)


# --------------------------------------------------------------------------
# 8. the Jitsi handshake


def verify_jwt(token, key):
    h, p, s = token.split(".")
    want = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(b64u(want), s)


def check_jitsi(stream, gig, who, app_id, domain, key):
    room = f"onair-{gig['id']}"
    assert set(stream) == {"id", "provider", "key", "sessionId", "token"}, stream
    assert stream["provider"] == "jitsi" and stream["key"] == app_id, stream
    assert stream["sessionId"] == room and stream["id"] == room, stream
    tok = stream["token"]
    assert isinstance(tok, str) and tok.count(".") == 2, stream
    h, p, _ = tok.split(".")
    header = json.loads(b64u_decode(h))
    claims = json.loads(b64u_decode(p))
    assert header == {"alg": "HS256", "typ": "JWT"}, header
    assert verify_jwt(tok, key), "the Jitsi token does not verify with the Jitsi secret"
    assert claims["aud"] == "jitsi" and claims["iss"] == app_id, claims
    assert claims["sub"] == domain and claims["room"] == room, claims
    name = f"{who.account['firstName']} {who.account['lastName']}"
    assert claims["context"]["user"] == {"id": who.id, "name": name}, claims
    now = time.time()
    for k in ("iat", "nbf", "exp"):
        assert isinstance(claims[k], int) and not isinstance(claims[k], bool), claims
    assert abs(claims["iat"] - now) < 60 and claims["nbf"] <= now + 1, claims
    assert claims["exp"] - claims["iat"] == 7200, claims
    return claims


def test_jitsi_handshake(env):
    g = build_gig(env, "confirmed")
    h1 = act_ok(env.a, "handshake", g.id, g.op.token, status="confirmed",
                handshakes_operator=True, handshakes_customer=False)
    expect_error(act(env.b, "handshake", g.id, g.op.token), 409, "conflict")
    h2 = act_ok(env.b, "handshake", g.id, g.cust.token, status="handshaked",
                handshakes_operator=True, handshakes_customer=True)
    key = JITSI["ONAIR_JITSI_SECRET"].encode()
    c1 = check_jitsi(h1["stream"], g.gig, g.op, JITSI["ONAIR_JITSI_APP_ID"],
                     JITSI["ONAIR_JITSI_DOMAIN"], key)
    c2 = check_jitsi(h2["stream"], g.gig, g.cust, JITSI["ONAIR_JITSI_APP_ID"],
                     JITSI["ONAIR_JITSI_DOMAIN"], key)
    assert h1["stream"]["sessionId"] == h2["stream"]["sessionId"]
    assert c1["context"]["user"]["id"] != c2["context"]["user"]["id"]
    expect_error(act(env.a, "handshake", g.id, g.cust.token), 409, "conflict")
    expect_error(act(env.a, "handshake", g.id, g.op.token), 409, "conflict")
    assert g.get()["status"] == "handshaked"
    # another gig: another room
    g2 = build_gig(env, "confirmed")
    h3 = act_ok(env.a, "handshake", g2.id, g2.cust.token)
    assert h3["stream"]["sessionId"] != h1["stream"]["sessionId"]


def test_jitsi_defaults_sign_with_the_server_secret(make_onair, redis_server):
    """Without ONAIR_JITSI_*: app id "onair", domain meet.jit.si, signed with
    ONAIR_SECRET (as the hex string it is configured with, or its bytes)."""
    srv = ready(make_onair(redis_server, env=server_env()))
    e = AcctEnv(srv, srv, redis_server)
    g = build_gig(e, "confirmed")
    h = act_ok(e.a, "handshake", g.id, g.cust.token)
    tok = h["stream"]["token"]
    keys = [SECRET_HEX.encode(), bytes.fromhex(SECRET_HEX)]
    assert any(verify_jwt(tok, k) for k in keys), "the token verifies with neither form of the secret"
    key = next(k for k in keys if verify_jwt(tok, k))
    check_jitsi(h["stream"], g.gig, g.cust, "onair", "meet.jit.si", key)


# --------------------------------------------------------------------------
# 9. GET /gigs


def test_list_own_gigs_newest_first_filter_and_paging(env):
    p = rand_point()
    op = operator(env.a, north(p, 10))
    cust = customer(env.b)
    ids = []
    for _ in range(3):   # three unclaimed gigs
        g = request_gig(env.a, cust, p)
        act_ok(env.a, "claim", g["id"], op.token, {"response": "reject"}, status="unclaimed")
        ids.append(g["id"])
        time.sleep(0.01)
    g4 = request_gig(env.b, cust, p)          # requested
    ids.append(g4["id"])
    newest = ids[::-1]

    def listing(query="", tok=cust.token, api=env.a):
        v = expect(api.get("/gigs" + query, token=tok), 200)
        assert isinstance(v, dict) and set(v) == {"gigs", "count"}, v
        for x in v["gigs"]:
            assert_gig(x)
        return [x["id"] for x in v["gigs"]], v["count"]

    assert listing() == (newest, 4)
    assert listing(api=env.b) == (newest, 4)
    full = expect(env.a.get("/gigs", token=cust.token), 200)["gigs"]
    assert full[0] == get_gig(env.a, cust.token, g4["id"])
    assert listing("?status=requested") == ([g4["id"]], 1)
    assert listing("?status=unclaimed") == (newest[1:], 3)
    assert listing("?status=unclaimed,requested") == (newest, 4)
    assert listing("?status=rated") == ([], 0)
    assert listing("?limit=2") == (newest[:2], 4)
    assert listing("?limit=2&offset=2") == (newest[2:], 4)
    assert listing("?limit=1&offset=1&status=unclaimed") == ([newest[2]], 3)
    assert listing("?offset=10") == ([], 4)
    assert listing("?limit=200") == (newest, 4)
    for q in ("?status=bogus", "?status=requested,bogus", "?limit=0", "?limit=201",
              "?limit=abc", "?offset=-1", "?offset=x"):
        expect_error(env.a.get("/gigs" + q, token=cust.token), 422, "invalid")
    # the operator only rejected: not its gigs; once it claims one, it is
    assert listing(tok=op.token) == ([], 0)
    act_ok(env.a, "claim", g4["id"], op.token, status="claimed")
    assert listing(tok=op.token) == ([g4["id"]], 1)
    assert listing("?status=claimed", tok=op.token) == ([g4["id"]], 1)
    # another customer sees none; no token: 401
    assert listing(tok=customer(env.a).token) == ([], 0)
    assert listing(tok=env.admin_token)[0] == [] or cust.id not in \
        [x["customer"] for x in expect(env.a.get("/gigs", token=env.admin_token), 200)["gigs"]]
    expect_unauthorized(env.a.get("/gigs"))


# --------------------------------------------------------------------------
# 10. races: one winner, whatever the instance


def test_concurrent_requests_by_one_customer(env):
    p = rand_point()
    operator(env.a, north(p, 10))
    cust = customer(env.a)
    body = {"latitude": p[0], "longitude": p[1], "deviceId": "d"}
    results = run_threads([lambda i=i: (env.a if i % 2 else env.b).post("/gigs", body,
                                                                         token=cust.token)
                           for i in range(6)])
    for r in results:
        assert not isinstance(r, Exception), results
    assert sorted(r.status for r in results) == [201, 409, 409, 409, 409, 409], results
    for r in results:
        if r.status == 409:
            expect_error(r, 409, "conflict")
    assert expect(env.a.get("/gigs", token=cust.token), 200)["count"] == 1


def test_concurrent_handshakes_and_ratings(env, sse):
    """Both parties at once, on different instances: both recorded, one
    handshaked / rated transition, each party told once."""
    g = build_gig(env, "confirmed")
    s_cust = sse.ok(env.srv_a.port, token=g.cust.token)
    s_op = sse.ok(env.srv_b.port, token=g.op.token)
    hs = run_threads([lambda: act(env.a, "handshake", g.id, g.cust.token),
                      lambda: act(env.b, "handshake", g.id, g.op.token)])
    vs = [expect_gig(r, 200, ("stream",)) for r in hs]
    assert vs[0]["stream"]["sessionId"] == vs[1]["stream"]["sessionId"]
    assert sorted(v["gig"]["status"] for v in vs) == ["confirmed", "handshaked"], vs
    assert_gig(g.get(), status="handshaked", handshakes_customer=True, handshakes_operator=True)
    act_ok(env.a, "start", g.id, g.cust.token)
    act_ok(env.b, "stop", g.id, g.op.token)
    rs = run_threads([lambda: act(env.a, "rate", g.id, g.cust.token, {"rating": 3}),
                      lambda: act(env.b, "rate", g.id, g.op.token, {"rating": 2})])
    gs = [expect_gig(r)["gig"] for r in rs]
    assert sorted(x["status"] for x in gs) == ["rated", "stopped"], gs
    assert_gig(g.get(), status="rated", ratings_customer=3, ratings_operator=2)
    for s in (s_cust, s_op):
        acts = [a for a, _ in gig_events(s, 1.0)]
        assert acts.count("handshaked") == 1 and acts.count("rated") == 1, acts


def test_concurrent_cancel_and_start(env):
    """On a handshaked gig the operator cancels while the customer starts:
    exactly one wins and the gig shows that one."""
    for _ in range(3):
        g = build_gig(env, "handshaked")
        r_cancel, r_start = run_threads([lambda: act(env.a, "cancel", g.id, g.op.token),
                                         lambda: act(env.b, "start", g.id, g.cust.token)])
        assert sorted([r_cancel.status, r_start.status]) == [200, 409], (r_cancel, r_start)
        final = g.get()
        if r_cancel.status == 200:
            expect_error(r_start, 409, "conflict")
            assert final == expect_gig(r_cancel)["gig"] and final["status"] == "cancelled"
            assert final["startedAt"] is None
        else:
            expect_error(r_cancel, 409, "conflict")
            assert final == expect_gig(r_start)["gig"] and final["status"] == "started"


def test_claim_racing_the_claim_deadline(make_onair, redis_server, sse):
    """Accepts sent around the claim deadline: a 200 means the gig is claimed
    (and stays so), a 409 that it expired; the customer hears one of the two,
    once."""
    e = gig_env(make_onair, redis_server, ONAIR_GIG_CLAIM_TIMEOUT_MS=300,
                ONAIR_GIG_CONFIRM_TIMEOUT_MS=60000, ONAIR_REAPER_INTERVAL_MS=10)
    for delay in (0.25, 0.28, 0.30, 0.31, 0.33, 0.36):
        p = rand_point()
        op = operator(e.a, north(p, 10))
        cust = customer(e.b)
        s = sse.ok(e.srv_b.port, token=cust.token)
        g = request_gig(e.a, cust, p)
        time.sleep(delay)
        r = act(e.b, "claim", g["id"], op.token)
        time.sleep(0.4)
        final = get_gig(e.a, cust.token, g["id"])
        acts = [a for a, _ in gig_events(s, 0.3)]
        if r.status == 200:
            assert final["status"] == "claimed" and final["operator"] == op.id, final
            assert acts == ["claimed"], acts
        else:
            expect_error(r, 409, "conflict")
            assert final["status"] == "expired" and final["operator"] is None, final
            assert acts == ["expired"], acts
        s.close()


# --------------------------------------------------------------------------
# 11. methods and bodies


def test_methods_and_bodies(env):
    g = build_gig(env, "requested")
    tok = g.cust.token
    for method, path in (("GET", f"/gigs/claim/{g.id}"), ("PUT", f"/gigs/confirm/{g.id}"),
                         ("DELETE", f"/gigs/{g.id}"), ("POST", f"/gigs/{g.id}"),
                         ("DELETE", "/gigs"), ("POST", f"/map/{g.point[0]}/{g.point[1]}")):
        r = env.a.call(method, path, token=tok)
        expect_error(r, 405, "method-not-allowed")
        assert r.header("Allow"), r
    expect_error(env.a.post(f"/gigs/claim/{g.id}", raw=b"{bad", token=g.op.token), 400,
                 "bad-json")
    expect_error(env.a.post(f"/gigs/claim/{g.id}", raw=b"[]", token=g.op.token), 422,
                 "invalid")
    # trailing slashes
    assert expect_gig(env.a.get(f"/gigs/{g.id}/", token=tok))["gig"] == g.gig
    assert expect(env.a.get("/gigs/", token=tok), 200)["count"] == 1
    act_ok(env.b, "claim", g.id + "/", g.op.token, status="claimed")
    # confirm/reject/cancel/… ignore a body (seed: "Body: null")
    r = env.a.post(f"/gigs/confirm/{g.id}", None, token=tok)
    assert_gig(expect_gig(r)["gig"], status="confirmed")


def test_names_are_escaped_in_map_and_jitsi_token(env):
    p = rand_point()
    first, last = 'Zoë "Z"', "O'Brien\\ \u65e5\u672c"
    op = operator(env.a, north(p, 10), first=first, last=last)
    cust = customer(env.b, firstName="Ann\tTab", lastName="</script>")
    m = map_at(env.a, cust.token, p)
    assert len(m) == 1 and m[0]["account"]["firstName"] == first, m
    assert m[0]["account"]["lastName"] == last, m
    g = request_gig(env.a, cust, p, device_id='dev "quoted" \u00e9')
    assert g["deviceId"] == 'dev "quoted" \u00e9', g
    act_ok(env.b, "claim", g["id"], op.token)
    act_ok(env.b, "confirm", g["id"], cust.token)
    key = JITSI["ONAIR_JITSI_SECRET"].encode()
    h = act_ok(env.a, "handshake", g["id"], op.token)
    c = check_jitsi(h["stream"], g, op, JITSI["ONAIR_JITSI_APP_ID"], JITSI["ONAIR_JITSI_DOMAIN"],
                    key)
    assert c["context"]["user"]["name"] == f"{first} {last}", c
    h = act_ok(env.b, "handshake", g["id"], cust.token)
    c = check_jitsi(h["stream"], g, cust, JITSI["ONAIR_JITSI_APP_ID"],
                    JITSI["ONAIR_JITSI_DOMAIN"], key)


def test_every_offered_operator_is_told_once(env, sse):
    p = rand_point()
    ops = [operator(env.a, north(p, 10 * (i + 1))) for i in range(4)]
    far = operator(env.a, north(p, RADIUS + 500))
    cust = customer(env.b)
    streams = [sse.ok((env.srv_a if i % 2 else env.srv_b).port, token=o.token)
               for i, o in enumerate(ops)]
    s_far = sse.ok(env.srv_a.port, token=far.token)
    s_cust = sse.ok(env.srv_a.port, token=cust.token)
    g = request_gig(env.b, cust, p, offeredTo=[o.id for o in ops])
    for s in streams:
        got = gig_events(s, 0.6)
        assert got == [("offered", g)], got
    assert gig_events(s_far, 0.1) == []
    assert gig_events(s_cust, 0.1) == []


def test_deadline_survives_a_restart(make_onair, redis_server, sse):
    """The deadline lives in the store: the instance that took the request
    stops; another one, started later, expires the gig."""
    e = gig_env(make_onair, redis_server, ONAIR_GIG_CLAIM_TIMEOUT_MS=1200,
                ONAIR_REAPER_INTERVAL_MS=50)
    p = rand_point()
    op = operator(e.a, north(p, 10))
    cust = customer(e.a)
    e.srv_b.stop()
    g = request_gig(e.a, cust, p)
    e.srv_a.stop()
    env_c = dict(e.srv_a.extra_env)
    c = ready(make_onair(redis_server, env=env_c))
    # from the start of the log: C may expire the gig before the stream opens
    s = sse.ok(c.port, token=cust.token, last_event_id="0-0")
    got = wait_action(s, "expired", g["id"], timeout=4)
    assert_gig(got, status="expired")
    assert get_gig(Api(c), op.token, g["id"]) == got


def test_store_down_is_503_not_a_hang(make_onair, redis_server):
    e = gig_env(make_onair, redis_server, ONAIR_REDIS_TIMEOUT_MS=300)
    g = build_gig(e, "requested")
    redis_server.pause()
    try:
        calls = [lambda: e.a.get(f"/map/{g.point[0]}/{g.point[1]}", token=g.cust.token),
                 lambda: e.a.post("/gigs", {"latitude": g.point[0], "longitude": g.point[1]},
                                  token=g.cust.token),
                 lambda: act(e.a, "claim", g.id, g.op.token),
                 lambda: e.a.get(f"/gigs/{g.id}", token=g.cust.token),
                 lambda: e.a.get("/gigs", token=g.cust.token)]
        for call in calls:
            t0 = time.monotonic()
            r = call()
            assert time.monotonic() - t0 < 3, r
            if r.status == 401:
                continue   # the token check itself may need the store
            expect_error(r, 503, "unavailable")
            assert r.header("Retry-After"), r
    finally:
        redis_server.resume()
    wait_until(lambda: e.srv_a.get("/ready").status == 200, 10, message="/ready 200 again")
    wait_until(lambda: e.a.get(f"/gigs/{g.id}", token=g.cust.token).status == 200, 10,
               message="GET /gigs/:id 200 again")
    assert g.get() == g.gig
