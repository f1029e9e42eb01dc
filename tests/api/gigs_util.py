"""Helpers for the gig tests (issue 5, docs/gigs.md, API.md §4).

Points and distances, customers and operators placed on the map, the gig
object's shape, transitions, building a gig in any state, and reading the
`gig` events of GET /events."""

import math
import random
import time
import uuid

from accounts_util import (UUID_RE, AcctEnv, assert_time, expect, expect_error, ready,
                           server_env)

GIG_KEYS = {"id", "status", "latitude", "longitude", "deviceId", "customer", "operator",
            "offeredTo", "handshakes", "ratings", "createdAt", "updatedAt", "startedAt",
            "stoppedAt", "durationMs"}
STATUSES = ("requested", "claimed", "confirmed", "handshaked", "started", "stopped", "rated",
            "unclaimed", "rejected", "cancelled", "expired")
NO_OPERATORS_MESSAGE = "No droperators found to service area."
ACTIONS = ("claim", "confirm", "reject", "cancel", "handshake", "start", "stop", "rate")

# Redis's GEO earth radius (geohelper.c), the one GEOSEARCH's distances use.
EARTH_R = 6372797.560856

JITSI = {"ONAIR_JITSI_APP_ID": "gigtest-app", "ONAIR_JITSI_SECRET": "jitsi-s3cret-for-tests",
         "ONAIR_JITSI_DOMAIN": "meet.example.org"}


# --------------------------------------------------------------------------
# places


def rand_point():
    """A random point, far (most likely) from every other test's."""
    return round(random.uniform(-60, 60), 6), round(random.uniform(-170, 170), 6)


def north(point, metres):
    """The point `metres` north of point."""
    lat, lon = point
    return lat + math.degrees(metres / EARTH_R), lon


def haversine(a, b):
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + \
        math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_R * math.asin(math.sqrt(h))


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --------------------------------------------------------------------------
# environments


def gig_env(factory, redis_server, **extra):
    """Instances A and B on redis_server with the known secret, the admin,
    the Jitsi settings of JITSI and these extra settings.  The map's cache is
    off unless asked for: these tests read the store's view at once (the
    cache has its own, test_map_cache.py)."""
    env = dict(JITSI, ONAIR_MAP_CACHE_MS="0")
    env.update({k: str(v) for k, v in extra.items()})
    e = server_env(**env)
    a = ready(factory(redis_server, env=e))
    b = ready(factory(redis_server, env=e))
    return AcctEnv(a, b, redis_server)


# --------------------------------------------------------------------------
# accounts


def customer(api, **over):
    return api.create_account(type="user", **over)


def operator(api, point=None, first="Op", last=None, online=True):
    """An operator account, online at point (when given)."""
    c = api.create_account(type="operator", firstName=first, lastName=last or uuid.uuid4().hex[:8])
    if point is not None and online:
        go_online(api, c, point)
    return c


def go_online(api, c, point):
    r = api.post("/accounts/status/online", {"latitude": point[0], "longitude": point[1]},
                 token=c.token)
    expect(r, 200)


def set_location(api, c, point):
    expect(api.post("/accounts/location", {"latitude": point[0], "longitude": point[1]},
                    token=c.token), 200)


def map_at(api, token, point):
    r = api.get(f"/map/{point[0]}/{point[1]}", token=token)
    v = expect(r, 200)
    assert isinstance(v, list), r
    return v


def map_ids(api, token, point):
    return [e["account"]["id"] for e in map_at(api, token, point)]


def assert_map_entry(e, op=None, point=None, centre=None):
    """One map entry's exact shape; op: the operator's Creds; point: where it is;
    centre: the searched point (checks the distance)."""
    assert isinstance(e, dict) and set(e) == {"account", "location", "distance"}, e
    acc = e["account"]
    assert isinstance(acc, dict) and set(acc) == {"id", "firstName", "lastName", "rating"}, e
    assert isinstance(acc["id"], str) and UUID_RE.match(acc["id"]), e
    assert isinstance(acc["firstName"], str) and isinstance(acc["lastName"], str), e
    assert acc["rating"] is None or is_num(acc["rating"]), e
    loc = e["location"]
    assert isinstance(loc, dict) and set(loc) == {"latitude", "longitude"}, e
    assert is_num(loc["latitude"]) and is_num(loc["longitude"]), e
    assert is_num(e["distance"]) and e["distance"] >= 0, e
    if op is not None:
        assert acc["id"] == op.id, e
        assert acc["firstName"] == op.account["firstName"], e
        assert acc["lastName"] == op.account["lastName"], e
    if point is not None:
        assert abs(loc["latitude"] - point[0]) < 1e-4, (e, point)
        assert abs(loc["longitude"] - point[1]) < 1e-4, (e, point)
    if point is not None and centre is not None:
        d = haversine(centre, point)
        assert abs(e["distance"] - d) <= 0.005 * d + 2, (e, d)
    return e


# --------------------------------------------------------------------------
# gigs


def assert_gig(g, **expected):
    """The gig object's exact shape and types, then expected values
    (dotted keys reach into handshakes/ratings: handshakes_customer=True)."""
    assert isinstance(g, dict), g
    assert set(g) == GIG_KEYS, f"gig keys {sorted(g)} != {sorted(GIG_KEYS)}"
    assert isinstance(g["id"], str) and UUID_RE.match(g["id"]), g
    assert g["status"] in STATUSES, g
    assert is_num(g["latitude"]) and is_num(g["longitude"]), g
    assert g["deviceId"] is None or isinstance(g["deviceId"], str), g
    assert isinstance(g["customer"], str) and UUID_RE.match(g["customer"]), g
    assert g["operator"] is None or (isinstance(g["operator"], str)
                                     and UUID_RE.match(g["operator"])), g
    assert isinstance(g["offeredTo"], list) and g["offeredTo"], g
    for o in g["offeredTo"]:
        assert isinstance(o, str) and UUID_RE.match(o), g
    assert len(set(g["offeredTo"])) == len(g["offeredTo"]), g
    assert isinstance(g["handshakes"], dict) and set(g["handshakes"]) == {"customer", "operator"}, g
    assert all(isinstance(v, bool) for v in g["handshakes"].values()), g
    assert isinstance(g["ratings"], dict) and set(g["ratings"]) == {"customer", "operator"}, g
    for v in g["ratings"].values():
        assert v is None or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5), g
    assert_time(g["createdAt"])
    assert_time(g["updatedAt"])
    assert g["updatedAt"] >= g["createdAt"], g
    for k in ("startedAt", "stoppedAt"):
        if g[k] is not None:
            assert_time(g[k])
    assert g["durationMs"] is None or (isinstance(g["durationMs"], int)
                                       and not isinstance(g["durationMs"], bool)
                                       and g["durationMs"] >= 0), g
    for k, v in expected.items():
        if "_" in k and k.split("_")[0] in ("handshakes", "ratings"):
            outer, inner = k.split("_", 1)
            assert g[outer][inner] == v, f"gig[{outer}][{inner}] = {g[outer][inner]!r}, expected {v!r}: {g}"
        elif k == "offeredTo":
            assert sorted(g[k]) == sorted(v), f"offeredTo {g[k]} != {v}"
        else:
            assert g[k] == v, f"gig[{k!r}] = {g[k]!r}, expected {v!r}: {g}"
    return g


def expect_gig(resp, status=200, extra_keys=()):
    v = expect(resp, status)
    assert isinstance(v, dict) and set(v) == {"gig"} | set(extra_keys), resp
    assert_gig(v["gig"])
    return v


def request_gig(api, cust, point, device_id="dev-1", **expected):
    body = {"latitude": point[0], "longitude": point[1]}
    if device_id is not None:
        body["deviceId"] = device_id
    v = expect_gig(api.post("/gigs", body, token=cust.token), 201)
    want = {"status": "requested", "customer": cust.id, "operator": None}
    want.update(expected)
    return assert_gig(v["gig"], **want)


def get_gig(api, token, gig_id):
    return expect_gig(api.get(f"/gigs/{gig_id}", token=token))["gig"]


def act(api, action, gig_id, token, body=None):
    """POST /gigs/<action>/<id> (claim: body {"response": "accept"} unless given;
    rate: {"rating": 5} unless given)."""
    if body is None:
        body = {"claim": {"response": "accept"}, "rate": {"rating": 5}}.get(action)
    if body is None:
        return api.post(f"/gigs/{action}/{gig_id}", token=token)
    return api.post(f"/gigs/{action}/{gig_id}", body, token=token)


def act_ok(api, action, gig_id, token, body=None, **expected):
    extra = ("stream",) if action == "handshake" else ()
    v = expect_gig(act(api, action, gig_id, token, body), 200, extra)
    assert_gig(v["gig"], **expected)
    return v if action == "handshake" else v["gig"]


class Gig:
    """A gig built by build_gig: env, customer, operator (assigned, or the
    first offered), others (other offered operators), point, gig (latest)."""

    def __init__(self, env, cust, op, others, point, gig):
        self.env, self.cust, self.op, self.others, self.point, self.gig = \
            env, cust, op, others, point, gig

    @property
    def id(self):
        return self.gig["id"]

    def get(self, api=None):
        return get_gig(api or self.env.a, self.cust.token, self.id)


PATH = {
    "claimed": [("claim", "op")],
    "confirmed": [("claim", "op"), ("confirm", "cust")],
    "handshaked": [("claim", "op"), ("confirm", "cust"), ("handshake", "cust"),
                   ("handshake", "op")],
    "started": [("claim", "op"), ("confirm", "cust"), ("handshake", "cust"),
                ("handshake", "op"), ("start", "op")],
    "stopped": [("claim", "op"), ("confirm", "cust"), ("handshake", "cust"),
                ("handshake", "op"), ("start", "op"), ("stop", "cust")],
    "rated": [("claim", "op"), ("confirm", "cust"), ("handshake", "cust"),
              ("handshake", "op"), ("start", "op"), ("stop", "cust"), ("rate", "op"),
              ("rate", "cust")],
    "rejected": [("claim", "op"), ("reject", "cust")],
    "cancelled": [("claim", "op"), ("confirm", "cust"), ("cancel", "op")],
    "unclaimed": [("claim-reject", "op")],
}


def build_gig(env, state, n_ops=1, point=None):
    """A gig in `state` (not `expired`): a fresh customer and n_ops operators
    at a fresh point; the first operator claims it."""
    point = point or rand_point()
    ops = [operator(env.a, north(point, 10 * (i + 1))) for i in range(n_ops)]
    cust = customer(env.b)
    gig = request_gig(env.b, cust, point, offeredTo=[o.id for o in ops])
    api = env.a
    for step, who in PATH.get(state, []):
        tok = cust.token if who == "cust" else ops[0].token
        if step == "claim-reject":
            for o in ops:
                gig = act_ok(api, "claim", gig["id"], o.token, {"response": "reject"})
            continue
        v = act_ok(api, step, gig["id"], tok)
        gig = v["gig"] if step == "handshake" else v
        api = env.b if api is env.a else env.a
    assert gig["status"] == state, gig
    return Gig(env, cust, ops[0], ops[1:], point, gig)


# --------------------------------------------------------------------------
# events


def gig_events(stream, duration):
    """Every `gig` event arriving within duration: [(action, gig)]; asserts
    each has data {"gig", "action"} on one line."""
    out = []
    deadline = time.monotonic() + duration
    while True:
        ev = stream.poll_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            return out
        out.append(_gig_data(ev))


def _gig_data(ev):
    assert ev.event == "gig", ev
    assert ev.data_lines == 1, ev
    d = ev.json()
    assert isinstance(d, dict) and set(d) == {"gig", "action"}, ev
    assert isinstance(d["action"], str), ev
    assert_gig(d["gig"])
    return d["action"], d["gig"]


def wait_action(stream, action, gig_id, timeout=3.0, seen=None):
    """Reads gig events until one with this action for this gig arrives;
    returns its gig; others are appended to seen."""
    deadline = time.monotonic() + timeout
    while True:
        ev = stream.poll_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            raise AssertionError(f"no {action!r} event for gig {gig_id} within {timeout}s "
                                 f"(events so far: {stream.events!r})")
        a, g = _gig_data(ev)
        if a == action and g["id"] == gig_id:
            return g
        if seen is not None:
            seen.append((a, g))


def expect_423(resp, gig_id):
    v = expect_error(resp, 423, "rating-required")
    assert set(v) == {"status", "message", "gigId"}, resp
    assert v["gigId"] == gig_id, resp
    return v
