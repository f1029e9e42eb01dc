"""Prosody rooms and occupants (API.md §7, seed 003, docs/prosody.md): every
case the seed documents, byte for byte; every validation rule; the service
token; the history of rooms and occupants; concurrent changes on two
instances; Redis down.

"A" and "B" are two onair processes on one redis-server, sharing the
module's Redis.  Every test makes its own rooms and jids, so tests do not see
each other's.  A refused request must change nothing: tests read the room
back with GET before and after."""

import json
import time
import uuid
from urllib.parse import quote

import pytest

from accounts_util import DROP, SECRET_HEX, ready, run_threads, server_env
from accounts_util import Api as AcctApi
from harness import JSON_CT, request, wait_until

TOKEN = "svc-" + uuid.uuid4().hex
BEARER = {"Authorization": f"Bearer {TOKEN}"}
MAX = 255  # characters, for every string the routes take

# seed 003's bodies
ROOM_CREATED = {"status": "success", "message": "room created successfully"}
ROOM_ENDED = {"status": "success", "message": "room ended successfully"}
ROOM_INVALID = {"status": "invalid", "message": "room inputs validation fail"}
ROOM_DUPLICATE = {"status": "duplicate", "message": "room already exist with same session ID"}
NO_ROOM = {"status": "no-room", "message": "room record with session not exist"}
OCC_CREATED = {"status": "success", "message": "occupant created successfully"}
OCC_UPDATED = {"status": "success", "message": "occupant updated successfully"}
OCC_DESTROYED = {"status": "success", "message": "occupant destroyed successfully"}
OCC_INVALID = {"status": "invalid", "message": "occupant inputs validation fail"}
OCC_DUPLICATE = {"status": "duplicate", "message": "occupant already exist with same JID"}
OCC_NO_ROOM = {"status": "no-room", "message": "Cannot find room with roomJid"}
NO_OCCUPANT = {"status": "no-occupant", "message": "Cannot find occupant with jid"}

ROOM_KEYS = {"name", "session", "jid", "createdAt", "endedAt", "occupants"}
OCC_KEYS = {"jid", "roomJid", "nick", "role", "email", "avatar", "userAgent", "ip", "joinedAt",
            "leftAt", "updatedAt"}
ROUTES = [("POST", "/api/v1/rooms"), ("GET", "/api/v1/rooms/s"), ("DELETE", "/api/v1/rooms/s"),
          ("POST", "/api/v1/occupants"), ("PUT", "/api/v1/occupants/u%40x"),
          ("DELETE", "/api/v1/occupants/u%40x")]

_NOBODY = object()


# --------------------------------------------------------------------------
# client


class Api:
    """Requests to one server with the service token (or `headers`)."""

    def __init__(self, srv):
        self.srv = srv

    def call(self, method, path, body=_NOBODY, raw=None, headers=None, timeout=10):
        h = dict(BEARER if headers is None else headers)
        data = raw
        if raw is None and body is not _NOBODY:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        return request(self.srv.port, method, path, body=data, headers=h, timeout=timeout)

    def create_room(self, body, **kw):
        return self.call("POST", "/api/v1/rooms", body, **kw)

    def end_room(self, session, body, **kw):
        return self.call("DELETE", "/api/v1/rooms/" + quote(session, safe=""), body, **kw)

    def get_room(self, session, **kw):
        return self.call("GET", "/api/v1/rooms/" + quote(session, safe=""), **kw)

    def join(self, body, **kw):
        return self.call("POST", "/api/v1/occupants", body, **kw)

    def update(self, jid, body, **kw):
        return self.call("PUT", "/api/v1/occupants/" + quote(jid, safe=""), body, **kw)

    def leave(self, jid, body, **kw):
        return self.call("DELETE", "/api/v1/occupants/" + quote(jid, safe=""), body, **kw)


def exact(resp, status, body):
    """This status and exactly this body, byte for byte as the seed prints
    its JSON values (compact, status then message)."""
    assert resp.status == status, f"expected {status} {body}, got {resp!r}"
    assert resp.header("Content-Type") == JSON_CT, resp
    assert int(resp.header("Content-Length")) == len(resp.body), resp
    assert resp.body == json.dumps(body, separators=(",", ":")).encode(), resp


def expect_error(resp, status, code):
    assert resp.status == status, resp
    assert resp.header("Content-Type") == JSON_CT, resp
    v = resp.json()
    assert v["status"] == code and isinstance(v["message"], str) and v["message"], resp
    return v


TIME_FMT = "%Y-%m-%dT%H:%M:%S"


def assert_time(v):
    assert isinstance(v, str) and len(v) == 24 and v.endswith("Z") and v[19] == ".", v
    t = time.mktime(time.strptime(v[:19], TIME_FMT)) - time.timezone
    assert abs(t - time.time()) < 3600, v


def room_of(resp):
    """The room of a GET's 200 answer, its shape checked."""
    assert resp.status == 200 and resp.header("Content-Type") == JSON_CT, resp
    v = resp.json()
    assert set(v) == {"status", "room"} and v["status"] == "success", v
    room = v["room"]
    assert set(room) == ROOM_KEYS, room
    for k in ("name", "session", "jid"):
        assert isinstance(room[k], str) and room[k], room
    assert_time(room["createdAt"])
    if room["endedAt"] is not None:
        assert_time(room["endedAt"])
        assert room["endedAt"] >= room["createdAt"], room
    assert isinstance(room["occupants"], list), room
    for o in room["occupants"]:
        assert set(o) == OCC_KEYS, o
        for k in ("jid", "roomJid", "nick", "role"):
            assert isinstance(o[k], str) and o[k], o
        assert o["roomJid"] == room["jid"], (o, room)
        assert o["role"] in ("participant", "moderator"), o
        for k in ("email", "avatar", "userAgent", "ip"):
            assert o[k] is None or isinstance(o[k], str), o
        assert_time(o["joinedAt"])
        assert_time(o["updatedAt"])
        assert o["updatedAt"] >= o["joinedAt"], o
        if o["leftAt"] is not None:
            assert_time(o["leftAt"])
            assert o["leftAt"] >= o["joinedAt"] and o["updatedAt"] == o["leftAt"], o
        if room["endedAt"] is not None:
            # no live occupant in an ended room
            assert o["leftAt"] is not None and o["leftAt"] <= room["endedAt"], (o, room)
    return room


# --------------------------------------------------------------------------
# fixtures and makers


def service_env(**extra):
    env = {"ONAIR_SERVICE_TOKEN": TOKEN, "ONAIR_SECRET": SECRET_HEX}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Env:
    def __init__(self, srv_a, srv_b):
        self.srv_a, self.srv_b = srv_a, srv_b
        self.a, self.b = Api(srv_a), Api(srv_b)


@pytest.fixture(scope="module")
def env(make_onair_module, shared_redis):
    return Env(make_onair_module(shared_redis, env=service_env()),
               make_onair_module(shared_redis, env=service_env()))


def uid():
    return uuid.uuid4().hex[:12]


def room_body(**over):
    n = uid()
    body = {"name": f"Room {n}", "session": f"session-{n}", "jid": f"room{n}@conference.meet.test"}
    body.update(over)
    return body


def new_room(api, **over):
    body = room_body(**over)
    exact(api.create_room(body), 200, ROOM_CREATED)
    return body


def occupant_body(room, **over):
    n = uid()
    body = {"jid": f"user{n}@meet.test/res{n}", "roomJid": room["jid"], "nick": f"Nick {n}",
            "role": "participant", "email": f"user{n}@example.com",
            "avatar": f"https://example.com/{n}.png", "userAgent": "Mozilla/5.0 (X11)",
            "ip": "192.0.2.7"}
    return _apply(body, over)


def new_occupant(api, room, **over):
    body = occupant_body(room, **over)
    exact(api.join(body), 200, OCC_CREATED)
    return body


def occupants_by_jid(room, jid):
    return [o for o in room["occupants"] if o["jid"] == jid]


# --------------------------------------------------------------------------
# 1. the service token


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
                                  f"Bearer {TOKEN[:-1]}{'0' if TOKEN[-1] != '0' else '1'}",
                                  f"Bearer {TOKEN.upper()}", f"JWT {TOKEN}", f"Basic {TOKEN}",
                                  TOKEN, "Bearer", "Bearer "],
                         ids=["missing", "wrong", "longer", "shorter", "last-char", "upper-case",
                              "jwt-scheme", "basic-scheme", "no-scheme", "scheme-only",
                              "empty-token"])
def test_service_token_refusals(env, method, path, auth):
    headers = {} if auth is None else {"Authorization": auth}
    r = env.a.call(method, path, {"jid": "u@x", "roomJid": "r@x"}, headers=headers)
    v = expect_error(r, 403, "forbidden")
    assert set(v) == {"status", "message"}, v


def test_refused_calls_change_nothing(env):
    body = room_body()
    wrong = {"Authorization": "Bearer nope"}
    expect_error(env.a.create_room(body, headers=wrong), 403, "forbidden")
    exact(env.a.get_room(body["session"]), 404, NO_ROOM)
    room = new_room(env.a)
    occ = occupant_body(room)
    expect_error(env.a.join(occ, headers=wrong), 403, "forbidden")
    expect_error(env.a.end_room(room["session"], {"jid": room["jid"]}, headers=wrong), 403,
                 "forbidden")
    assert room_of(env.a.get_room(room["session"]))["occupants"] == []
    assert room_of(env.a.get_room(room["session"]))["endedAt"] is None


def test_scheme_is_case_insensitive_and_content_type_ignored(env):
    body = room_body()
    r = env.a.create_room(body, headers={"Authorization": f"bearer {TOKEN}",
                                         "Content-Type": "text/plain"})
    exact(r, 200, ROOM_CREATED)
    r = env.b.get_room(body["session"], headers={"Authorization": f"BEARER  {TOKEN}"})
    assert room_of(r)["name"] == body["name"]


def test_an_account_token_is_not_the_service_token(make_onair, redis_server):
    srv = ready(make_onair(redis_server, env=dict(server_env(), ONAIR_SERVICE_TOKEN=TOKEN)))
    creds = AcctApi(srv).create_account()
    api = Api(srv)
    for method, path in ROUTES:
        r = api.call(method, path, {}, headers={"Authorization": f"Bearer {creds.token}"})
        expect_error(r, 403, "forbidden")


def test_setting_unset_refuses_everyone(make_onair, redis_server):
    srv = make_onair(redis_server, env={"ONAIR_SECRET": SECRET_HEX})
    api = Api(srv)
    for auth in ("Bearer ", f"Bearer {TOKEN}", "Bearer x"):
        for method, path in ROUTES:
            r = api.call(method, path, room_body(), headers={"Authorization": auth})
            expect_error(r, 403, "forbidden")
    assert redis_server.client().keys("*prosody*") == []


# --------------------------------------------------------------------------
# 2. unknown routes and methods are as before


@pytest.mark.parametrize("method,path,allow", [
    ("GET", "/api/v1/rooms", {"POST"}),
    ("PUT", "/api/v1/rooms/s", {"GET", "HEAD", "DELETE"}),
    ("POST", "/api/v1/rooms/s", {"GET", "HEAD", "DELETE"}),
    ("GET", "/api/v1/occupants", {"POST"}),
    ("GET", "/api/v1/occupants/u%40x", {"PUT", "DELETE"}),
    ("POST", "/api/v1/occupants/u%40x", {"PUT", "DELETE"}),
])
@pytest.mark.parametrize("with_token", [True, False])
def test_other_methods_405(env, method, path, allow, with_token):
    r = env.a.call(method, path, headers=BEARER if with_token else {})
    expect_error(r, 405, "method-not-allowed")
    # OPTIONS is answered wherever a route is (core/cors.h)
    assert {m.strip() for m in r.header("Allow").split(",")} == allow | {"OPTIONS"}, r


@pytest.mark.parametrize("path", ["/api/v1/room", "/api/v1/rooms/a/b", "/api/v2/rooms",
                                  "/api/v1/occupant", "/api/v1/occupants/u/x/y", "/api/v1"])
def test_unknown_paths_404(env, path):
    for headers in (BEARER, {}):
        expect_error(env.a.call("GET", path, headers=headers), 404, "not-found")


# --------------------------------------------------------------------------
# 3. rooms


def test_create_room_and_read_it(env):
    body = room_body()
    before = time.time()
    exact(env.a.create_room(body), 200, ROOM_CREATED)
    room = room_of(env.b.get_room(body["session"]))
    assert {k: room[k] for k in ("name", "session", "jid")} == body
    assert room["endedAt"] is None and room["occupants"] == []
    created = time.mktime(time.strptime(room["createdAt"][:19], TIME_FMT)) - time.timezone
    assert before - 2 <= created <= time.time() + 1
    # a trailing slash is the same path
    assert room_of(env.a.call("GET", f"/api/v1/rooms/{body['session']}/")) == room


def test_duplicate_session(env):
    body = new_room(env.a)
    before = room_of(env.a.get_room(body["session"]))
    for api, over in ((env.a, {}), (env.b, {"name": "Other", "jid": f"x{uid()}@conf.test"})):
        exact(api.create_room(dict(body, **over)), 400, ROOM_DUPLICATE)
    assert room_of(env.a.get_room(body["session"])) == before
    # the other jid was not taken by the refused call
    exact(env.a.join(occupant_body({"jid": f"x{uid()}@conf.test"})), 400, OCC_NO_ROOM)


def test_session_is_unique_forever(env):
    body = new_room(env.a)
    exact(env.a.end_room(body["session"], {"jid": body["jid"]}), 200, ROOM_ENDED)
    ended = room_of(env.a.get_room(body["session"]))
    exact(env.b.create_room(body), 400, ROOM_DUPLICATE)
    exact(env.b.create_room(dict(body, jid=f"n{uid()}@conf.test")), 400, ROOM_DUPLICATE)
    assert room_of(env.a.get_room(body["session"])) == ended


def test_get_unknown_room_404(env):
    exact(env.a.get_room("no-such-" + uid()), 404, NO_ROOM)


def test_end_room(env):
    room = new_room(env.a)
    occ = [new_occupant(env.a, room) for _ in range(3)]
    exact(env.b.leave(occ[0]["jid"], {"roomJid": room["jid"]}), 200, OCC_DESTROYED)
    left = occupants_by_jid(room_of(env.a.get_room(room["session"])), occ[0]["jid"])[0]
    exact(env.b.end_room(room["session"], {"jid": room["jid"]}), 200, ROOM_ENDED)
    got = room_of(env.a.get_room(room["session"]))
    assert got["endedAt"] is not None
    assert [o["jid"] for o in got["occupants"]] == [o["jid"] for o in occ]
    # the one that had left keeps its leftAt; the others left as the room ended
    assert got["occupants"][0] == left
    for o in got["occupants"][1:]:
        assert o["leftAt"] == got["endedAt"] == o["updatedAt"], o
    # the occupants are gone: updating or destroying them finds nobody
    for o in occ:
        exact(env.a.update(o["jid"], {"roomJid": room["jid"], "nick": "x"}), 400, NO_OCCUPANT)
        exact(env.a.leave(o["jid"], {"roomJid": room["jid"]}), 400, NO_OCCUPANT)
    # and nobody joins the ended room
    exact(env.a.join(occupant_body(room)), 400, OCC_NO_ROOM)
    assert room_of(env.a.get_room(room["session"])) == got


def test_end_room_already_ended_is_duplicate(env):
    room = new_room(env.a)
    exact(env.a.end_room(room["session"], {"jid": room["jid"]}), 200, ROOM_ENDED)
    ended = room_of(env.a.get_room(room["session"]))
    exact(env.b.end_room(room["session"], {"jid": room["jid"]}), 400, ROOM_DUPLICATE)
    assert room_of(env.a.get_room(room["session"])) == ended


def test_end_unknown_room_404(env):
    exact(env.a.end_room("no-such-" + uid(), {"jid": "r@conf.test"}), 404, NO_ROOM)


def test_end_room_with_another_jid_404_changes_nothing(env):
    room = new_room(env.a)
    new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    exact(env.a.end_room(room["session"], {"jid": f"other{uid()}@conf.test"}), 404, NO_ROOM)
    assert room_of(env.a.get_room(room["session"])) == before


def test_ended_room_frees_its_jid(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    exact(env.a.end_room(room["session"], {"jid": room["jid"]}), 200, ROOM_ENDED)
    again = new_room(env.b, jid=room["jid"])
    # the same occupant joins the new room of that jid
    exact(env.b.join(occ), 200, OCC_CREATED)
    live = room_of(env.a.get_room(again["session"]))
    assert [(o["jid"], o["leftAt"]) for o in live["occupants"]] == [(occ["jid"], None)]
    old = room_of(env.a.get_room(room["session"]))
    assert len(old["occupants"]) == 1 and old["occupants"][0]["leftAt"] is not None


def test_new_room_with_a_live_rooms_jid_ends_the_stale_one(env):
    """Prosody lost the destroy of the first room: creating another with its
    jid ends it (and its occupants), and the new one holds the jid."""
    stale = new_room(env.a)
    occ = new_occupant(env.a, stale)
    fresh = new_room(env.b, jid=stale["jid"])
    old = room_of(env.a.get_room(stale["session"]))
    assert old["endedAt"] is not None
    assert old["occupants"][0]["leftAt"] == old["endedAt"]
    assert room_of(env.a.get_room(fresh["session"]))["endedAt"] is None
    # ending the stale one now: already ended
    exact(env.a.end_room(stale["session"], {"jid": stale["jid"]}), 400, ROOM_DUPLICATE)
    # its occupant is free to join the new room, which is the jid's room now
    exact(env.a.join(occ), 200, OCC_CREATED)
    got = room_of(env.a.get_room(fresh["session"]))
    assert [o["jid"] for o in got["occupants"]] == [occ["jid"]]
    assert room_of(env.a.get_room(stale["session"])) == old


def test_room_strings_count_characters(env):
    """255 characters are valid whatever their UTF-8 length (a session of 255
    four-byte characters is 1020 bytes), and round-trip."""
    for ch in ("é", "😀", "a"):
        body = room_body(name=ch * MAX, session=ch * (MAX - 12) + uid(),
                         jid=ch * 100 + f"{uid()}@conference.meet.test")
        exact(env.a.create_room(body), 200, ROOM_CREATED)
        room = room_of(env.b.get_room(body["session"]))
        assert {k: room[k] for k in ("name", "session", "jid")} == body
        occ = new_occupant(env.a, body, nick=ch * MAX, avatar=ch * MAX)
        exact(env.b.update(occ["jid"], {"roomJid": body["jid"], "nick": ch * 3}), 200,
              OCC_UPDATED)
        exact(env.b.end_room(body["session"], {"jid": body["jid"]}), 200, ROOM_ENDED)
        assert room_of(env.a.get_room(body["session"]))["occupants"][0]["nick"] == ch * 3


@pytest.mark.parametrize("session", ["with space", "a/b", "br{ace}s", "}", "{", "q?x=1#f",
                                     "per%cent", "ünï", "a+b", "+"])
def test_sessions_with_any_characters_round_trip(env, session):
    session = session + "-" + uid()
    body = new_room(env.a, session=session)
    assert room_of(env.b.get_room(session))["session"] == session
    exact(env.b.end_room(session, {"jid": body["jid"]}), 200, ROOM_ENDED)
    assert room_of(env.a.get_room(session))["endedAt"] is not None


def test_sessions_that_differ_by_key_syntax_are_different_rooms(env):
    """A session holding '}' or ':occupants' cannot reach another room's keys."""
    base = "s" + uid()
    a = new_room(env.a, session=base)
    b = new_room(env.a, session=base + "}:occupants")
    c = new_room(env.a, session=base + "}")
    new_occupant(env.a, a)
    for r in (b, c):
        assert room_of(env.a.get_room(r["session"]))["occupants"] == []
    assert len(room_of(env.a.get_room(a["session"]))["occupants"]) == 1


# --------------------------------------------------------------------------
# 4. room validation


def _not_strings(field):
    return [(f"{field}-{name}", {field: v}) for name, v in
            (("null", None), ("number", 7), ("bool", True), ("list", ["x"]), ("object", {}))]


def _room_cases():
    cases = []
    for f in ("name", "session", "jid"):
        cases.append((f"{f}-missing", {f: DROP}))
        cases.extend(_not_strings(f))
        cases.append((f"{f}-empty", {f: ""}))
        cases.append((f"{f}-too-long", {f: "x" * (MAX + 1)} if f != "jid"
                      else {f: "x" * (MAX - 9) + "@conf.test"}))
        cases.append((f"{f}-too-long-2byte", {f: "é" * (MAX + 1)} if f != "jid"
                      else {f: "é" * (MAX - 9) + "@conf.test"}))
    for bad in ("conference.meet.test", "@conf.test", "room@", "room@/x", "room@conf.test/",
                "a@b@c", "ro om@conf.test", "room@conf..test", "room@conf.test.", "room@con f",
                "ro:om@conf.test", "room@conf\x01.test", "room\x00@conf.test",
                "r\u0085@conf.test", "room@[abc]"):
        cases.append((f"jid-shape-{bad!r}", {"jid": bad}))
    cases.append(("session-nul", {"session": "a\x00b"}))
    cases.append(("name-nul", {"name": "a\x00b"}))
    return cases


ROOM_CASES = _room_cases()


def _apply(body, over):
    """body with over's members (DROP: left out)."""
    return {k: v for k, v in {**body, **over}.items() if v is not DROP}


@pytest.mark.parametrize("over", [c[1] for c in ROOM_CASES], ids=[c[0] for c in ROOM_CASES])
def test_create_room_validation(env, over):
    body = room_body()
    bad = _apply(body, over)
    exact(env.a.create_room(bad), 422, ROOM_INVALID)
    # nothing stored: not the room, not its jid
    for s in (body["session"], bad.get("session")):
        if isinstance(s, str) and s and "\x00" not in s and len(s) <= MAX:
            exact(env.a.get_room(s), 404, NO_ROOM)
    exact(env.a.join(occupant_body(body)), 400, OCC_NO_ROOM)


@pytest.mark.parametrize("raw,status,expected", [
    (b"", 422, ROOM_INVALID),                 # no body: its fields are missing
    (b"[]", 422, ROOM_INVALID),
    (b'"room"', 422, ROOM_INVALID),
    (b"7", 422, ROOM_INVALID),
    (b"null", 422, ROOM_INVALID),
    (b"{", 400, None),                        # not JSON: API.md §1's bad-json
    (b'{"name": "a",}', 400, None),
    (b'{"name": "\xff"}', 400, None),         # not UTF-8
], ids=["empty", "array", "string", "number", "null", "truncated", "trailing-comma", "latin1"])
def test_create_room_bodies_that_are_not_objects(env, raw, status, expected):
    r = env.a.call("POST", "/api/v1/rooms", raw=raw)
    if expected:
        exact(r, status, expected)
    else:
        expect_error(r, 400, "bad-json")


def test_oversized_body_413(env):
    body = room_body(padding="x" * 70000)
    expect_error(env.a.create_room(body), 413, "too-large")
    exact(env.a.get_room(body["session"]), 404, NO_ROOM)


def test_unknown_fields_are_ignored(env):
    body = room_body(extra={"a": [1, 2]}, name2="x")
    exact(env.a.create_room(body), 200, ROOM_CREATED)
    assert set(room_of(env.a.get_room(body["session"]))) == ROOM_KEYS


ROOM_END_CASES = [("jid-missing", {"jid": DROP})] + _not_strings("jid") + [
    ("jid-empty", {"jid": ""}), ("jid-shape", {"jid": "no-at-sign"}),
    ("jid-too-long", {"jid": "x" * (MAX - 9) + "@conf.test"})]


@pytest.mark.parametrize("over", [c[1] for c in ROOM_END_CASES],
                         ids=[c[0] for c in ROOM_END_CASES])
def test_end_room_validation(env, over):
    room = new_room(env.a)
    new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    exact(env.a.end_room(room["session"], _apply({"jid": room["jid"]}, over)), 422, ROOM_INVALID)
    assert room_of(env.a.get_room(room["session"])) == before


def test_end_room_without_a_body_422(env):
    room = new_room(env.a)
    exact(env.a.call("DELETE", f"/api/v1/rooms/{room['session']}"), 422, ROOM_INVALID)
    expect_error(env.a.call("DELETE", f"/api/v1/rooms/{room['session']}", raw=b"{"), 400,
                 "bad-json")
    assert room_of(env.a.get_room(room["session"]))["endedAt"] is None


@pytest.mark.parametrize("path", ["x" * (MAX + 1), "%C3%A9" * (MAX + 1), "%zz", "a%00b",
                                  "%ff%fe"],
                         ids=["too-long", "too-long-2byte", "bad-escape", "nul", "not-utf8"])
def test_bad_session_in_the_path_422(env, path):
    exact(env.a.call("GET", "/api/v1/rooms/" + path), 422, ROOM_INVALID)
    exact(env.a.call("DELETE", "/api/v1/rooms/" + path, {"jid": "r@conf.test"}), 422,
          ROOM_INVALID)


def test_session_of_255_characters_in_the_path(env):
    session = "é" * (MAX - 12) + uid()
    room = new_room(env.a, session=session)
    assert room_of(env.a.call("GET", "/api/v1/rooms/" + quote(session)))["session"] == session
    exact(env.a.end_room(session, {"jid": room["jid"]}), 200, ROOM_ENDED)


# --------------------------------------------------------------------------
# 5. occupants


def test_create_occupant_and_read_it(env):
    room = new_room(env.a)
    body = occupant_body(room, role="moderator")
    exact(env.b.join(body), 200, OCC_CREATED)
    got = room_of(env.a.get_room(room["session"]))
    [o] = got["occupants"]
    assert {k: o[k] for k in body} == body
    assert o["leftAt"] is None and o["updatedAt"] == o["joinedAt"]


def test_occupant_optional_fields(env):
    room = new_room(env.a)
    bare = new_occupant(env.a, room, email=DROP, avatar=DROP, userAgent=DROP, ip=DROP)
    nulls = new_occupant(env.a, room, email=None, avatar=None, userAgent=None, ip=None)
    empty = new_occupant(env.a, room, avatar="", userAgent="", ip="")
    got = room_of(env.a.get_room(room["session"]))
    for body in (bare, nulls):
        [o] = occupants_by_jid(got, body["jid"])
        assert (o["email"], o["avatar"], o["userAgent"], o["ip"]) == (None, None, None, None), o
    [o] = occupants_by_jid(got, empty["jid"])
    assert (o["email"], o["avatar"], o["userAgent"], o["ip"]) == (empty["email"], None, None,
                                                                   None), o


def test_occupant_duplicate_in_the_same_room(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    exact(env.b.join(dict(occ, nick="Other")), 400, OCC_DUPLICATE)
    assert room_of(env.a.get_room(room["session"])) == before


def test_occupant_duplicate_across_live_rooms(env):
    """A live occupant with that jid in any live room (docs/prosody.md)."""
    r1, r2 = new_room(env.a), new_room(env.a)
    occ = new_occupant(env.a, r1)
    exact(env.b.join(dict(occ, roomJid=r2["jid"])), 400, OCC_DUPLICATE)
    assert room_of(env.a.get_room(r2["session"]))["occupants"] == []
    # once it left r1 it may join r2
    exact(env.a.leave(occ["jid"], {"roomJid": r1["jid"]}), 200, OCC_DESTROYED)
    exact(env.b.join(dict(occ, roomJid=r2["jid"])), 200, OCC_CREATED)


def test_occupant_no_room(env):
    exact(env.a.join(occupant_body({"jid": f"none{uid()}@conf.test"})), 400, OCC_NO_ROOM)
    room = new_room(env.a)
    exact(env.a.end_room(room["session"], {"jid": room["jid"]}), 200, ROOM_ENDED)
    exact(env.a.join(occupant_body(room)), 400, OCC_NO_ROOM)
    assert room_of(env.a.get_room(room["session"]))["occupants"] == []


def test_no_room_is_checked_before_duplicate(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    exact(env.a.join(dict(occ, roomJid=f"none{uid()}@conf.test")), 400, OCC_NO_ROOM)


def test_rejoin_keeps_history(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    other = new_occupant(env.a, room)
    exact(env.b.leave(occ["jid"], {"roomJid": room["jid"]}), 200, OCC_DESTROYED)
    exact(env.a.join(dict(occ, nick="Back")), 200, OCC_CREATED)
    got = room_of(env.a.get_room(room["session"]))
    assert [o["jid"] for o in got["occupants"]] == [occ["jid"], other["jid"], occ["jid"]]
    first, _, second = got["occupants"]
    assert first["leftAt"] is not None and first["nick"] == occ["nick"]
    assert second["leftAt"] is None and second["nick"] == "Back"
    assert second["joinedAt"] >= first["leftAt"]


def _occupant_cases():
    cases = []
    for f in ("jid", "roomJid", "nick", "role"):
        cases.append((f"{f}-missing", {f: DROP}))
        cases.extend(_not_strings(f))
        cases.append((f"{f}-empty", {f: ""}))
    cases += [("nick-too-long", {"nick": "n" * (MAX + 1)}),
              ("nick-too-long-4byte", {"nick": "😀" * (MAX + 1)}),
              ("nick-nul", {"nick": "a\x00b"}),
              ("jid-too-long", {"jid": "u" * (MAX - 6) + "@x.test"}),
              ("roomJid-too-long", {"roomJid": "r" * (MAX - 6) + "@x.test"})]
    for bad in ("user", "@meet.test", "user@", "user@meet.test/", "a@b@c", "us er@meet.test",
                "user@meet..test", "<u>@meet.test", "user@meet.test/a\nb",
                # C1 controls (U+0080..U+009F) and bracketed text that is no IPv6 address
                "a\u0085b@meet.test", "a\u009f@meet.test", "ab@meet.test/r\u0085",
                "ab@meet.test/\u0080", "ab@[...]", "ab@[1.2]", "ab@[abc]", "ab@[:::::]"):
        cases.append((f"jid-shape-{bad!r}", {"jid": bad}))
        cases.append((f"roomJid-shape-{bad!r}", {"roomJid": bad}))
    for bad in ("admin", "Moderator", "PARTICIPANT", "owner", " participant"):
        cases.append((f"role-{bad!r}", {"role": bad}))
    for bad in ("", "not-an-email", "a@b", "@example.com", "a b@example.com", "a@@example.com",
                "a@example.com" + "m" * MAX):
        cases.append((f"email-{bad!r}", {"email": bad}))
    for f in ("email", "avatar", "userAgent", "ip"):
        cases.extend(c for c in _not_strings(f) if not c[0].endswith("-null"))
        if f != "email":
            cases.append((f"{f}-too-long", {f: "x" * (MAX + 1)}))
            cases.append((f"{f}-too-long-2byte", {f: "é" * (MAX + 1)}))
    return cases


OCC_CASES = _occupant_cases()


@pytest.mark.parametrize("over", [c[1] for c in OCC_CASES], ids=[c[0] for c in OCC_CASES])
def test_create_occupant_validation(env, over):
    room = new_room(env.a)
    exact(env.a.join(_apply(occupant_body(room), over)), 422, OCC_INVALID)
    assert room_of(env.a.get_room(room["session"]))["occupants"] == []


@pytest.mark.parametrize("raw,status", [(b"", 422), (b"[]", 422), (b"{", 400)],
                         ids=["empty", "array", "bad-json"])
def test_create_occupant_bodies_that_are_not_objects(env, raw, status):
    r = env.a.call("POST", "/api/v1/occupants", raw=raw)
    if status == 422:
        exact(r, 422, OCC_INVALID)
    else:
        expect_error(r, 400, "bad-json")


def test_update_occupant(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    other = new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    time.sleep(0.005)
    exact(env.b.update(occ["jid"], {"roomJid": room["jid"], "nick": "Renamed",
                                    "role": "moderator", "email": "new@example.org"}),
          200, OCC_UPDATED)
    got = room_of(env.a.get_room(room["session"]))
    [o] = occupants_by_jid(got, occ["jid"])
    [was] = occupants_by_jid(before, occ["jid"])
    assert (o["nick"], o["role"], o["email"]) == ("Renamed", "moderator", "new@example.org")
    assert o["updatedAt"] > was["updatedAt"] and o["joinedAt"] == was["joinedAt"]
    for k in ("jid", "roomJid", "avatar", "userAgent", "ip", "leftAt"):
        assert o[k] == was[k], k
    assert occupants_by_jid(got, other["jid"]) == occupants_by_jid(before, other["jid"])


def test_update_occupant_partially(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room, role="moderator")
    for change in ({"nick": "Only nick"}, {"role": "participant"}, {"email": "e@example.net"},
                   {"nick": None, "role": None, "email": None}, {}):
        before = occupants_by_jid(room_of(env.a.get_room(room["session"])), occ["jid"])[0]
        exact(env.a.update(occ["jid"], dict(change, roomJid=room["jid"])), 200, OCC_UPDATED)
        after = occupants_by_jid(room_of(env.a.get_room(room["session"])), occ["jid"])[0]
        for k in OCC_KEYS - {"updatedAt"}:
            want = change[k] if change.get(k) is not None else before[k]
            assert after[k] == want, (k, change, after)


def test_update_no_occupant(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    elsewhere = new_room(env.a)
    before = room_of(env.a.get_room(room["session"]))
    body = {"roomJid": room["jid"], "nick": "X"}
    exact(env.a.update(f"nobody{uid()}@meet.test", body), 400, NO_OCCUPANT)
    exact(env.a.update(occ["jid"], dict(body, roomJid=elsewhere["jid"])), 400, NO_OCCUPANT)
    exact(env.a.update(occ["jid"], dict(body, roomJid=f"none{uid()}@conf.test")), 400,
          NO_OCCUPANT)
    # the bare jid is another jid than the full one
    exact(env.a.update(occ["jid"].split("/")[0], body), 400, NO_OCCUPANT)
    assert room_of(env.a.get_room(room["session"])) == before
    exact(env.a.leave(occ["jid"], {"roomJid": room["jid"]}), 200, OCC_DESTROYED)
    gone = room_of(env.a.get_room(room["session"]))
    exact(env.a.update(occ["jid"], body), 400, NO_OCCUPANT)
    assert room_of(env.a.get_room(room["session"])) == gone


UPDATE_CASES = [("roomJid-missing", {"roomJid": DROP})] + _not_strings("roomJid") + [
    ("roomJid-empty", {"roomJid": ""}), ("roomJid-shape", {"roomJid": "room"}),
    ("roomJid-too-long", {"roomJid": "r" * (MAX - 6) + "@x.test"}),
    ("nick-empty", {"nick": ""}), ("nick-too-long", {"nick": "n" * (MAX + 1)}),
    ("nick-number", {"nick": 1}), ("role-bad", {"role": "admin"}), ("role-number", {"role": 1}),
    ("email-bad", {"email": "nope"}), ("email-empty", {"email": ""}),
    ("email-list", {"email": ["a@b.co"]})]


@pytest.mark.parametrize("over", [c[1] for c in UPDATE_CASES], ids=[c[0] for c in UPDATE_CASES])
def test_update_occupant_validation(env, over):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    body = _apply({"roomJid": room["jid"], "nick": "Changed"}, over)
    exact(env.a.update(occ["jid"], body), 422, OCC_INVALID)
    assert room_of(env.a.get_room(room["session"])) == before


BAD_JID_PATHS = [("no-at", "user"), ("empty-resource", "user%40meet.test%2F"),
                 ("too-long", "u" * (MAX - 6) + "%40x.test"), ("bad-escape", "u%zz%40x"),
                 ("nul", "u%00%40x.test"), ("two-at", "a%40b%40c"), ("not-utf8", "%ff%40x.test")]


@pytest.mark.parametrize("path", [c[1] for c in BAD_JID_PATHS], ids=[c[0] for c in BAD_JID_PATHS])
def test_bad_jid_in_the_path_422(env, path):
    room = new_room(env.a)
    new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    exact(env.a.call("PUT", "/api/v1/occupants/" + path, {"roomJid": room["jid"], "nick": "x"}),
          422, OCC_INVALID)
    exact(env.a.call("DELETE", "/api/v1/occupants/" + path, {"roomJid": room["jid"]}), 422,
          OCC_INVALID)
    assert room_of(env.a.get_room(room["session"])) == before


def test_jid_in_the_path_is_percent_decoded(env):
    """'@' may come as %40 or as itself; a resource's '/' must come as %2F
    (a raw '/' is another path segment); spaces and '@' in the resource."""
    room = new_room(env.a)
    occ = new_occupant(env.a, room, jid=f"u{uid()}@meet.test/my res@x/y")
    enc = quote(occ["jid"], safe="")
    assert "%40" in enc and "%2F" in enc
    exact(env.a.call("PUT", "/api/v1/occupants/" + enc, {"roomJid": room["jid"], "nick": "P"}),
          200, OCC_UPDATED)
    bare = new_occupant(env.a, room, jid=f"v{uid()}@meet.test")
    exact(env.a.call("PUT", "/api/v1/occupants/" + bare["jid"], {"roomJid": room["jid"],
                                                                 "nick": "Q"}), 200, OCC_UPDATED)
    exact(env.a.call("DELETE", "/api/v1/occupants/" + bare["jid"].replace("@", "%40"),
                     {"roomJid": room["jid"]}), 200, OCC_DESTROYED)
    got = room_of(env.a.get_room(room["session"]))
    assert occupants_by_jid(got, occ["jid"])[0]["nick"] == "P"
    assert occupants_by_jid(got, bare["jid"])[0]["nick"] == "Q"
    assert occupants_by_jid(got, bare["jid"])[0]["leftAt"] is not None


def test_destroy_occupant(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    other = new_occupant(env.a, room)
    exact(env.b.leave(occ["jid"], {"roomJid": room["jid"]}), 200, OCC_DESTROYED)
    got = room_of(env.a.get_room(room["session"]))
    [o] = occupants_by_jid(got, occ["jid"])
    assert o["leftAt"] is not None and o["updatedAt"] == o["leftAt"]
    assert occupants_by_jid(got, other["jid"])[0]["leftAt"] is None
    assert got["endedAt"] is None
    # twice: nobody is there any more
    exact(env.a.leave(occ["jid"], {"roomJid": room["jid"]}), 400, NO_OCCUPANT)
    assert room_of(env.a.get_room(room["session"])) == got


def test_destroy_no_occupant(env):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    elsewhere = new_room(env.a)
    before = room_of(env.a.get_room(room["session"]))
    exact(env.a.leave(f"nobody{uid()}@meet.test", {"roomJid": room["jid"]}), 400, NO_OCCUPANT)
    exact(env.a.leave(occ["jid"], {"roomJid": elsewhere["jid"]}), 400, NO_OCCUPANT)
    exact(env.a.leave(occ["jid"], {"roomJid": f"none{uid()}@conf.test"}), 400, NO_OCCUPANT)
    assert room_of(env.a.get_room(room["session"])) == before


DESTROY_CASES = [("roomJid-missing", {"roomJid": DROP})] + _not_strings("roomJid") + [
    ("roomJid-empty", {"roomJid": ""}), ("roomJid-shape", {"roomJid": "room@"}),
    ("roomJid-too-long", {"roomJid": "r" * (MAX - 6) + "@x.test"})]


@pytest.mark.parametrize("over", [c[1] for c in DESTROY_CASES], ids=[c[0] for c in DESTROY_CASES])
def test_destroy_occupant_validation(env, over):
    room = new_room(env.a)
    occ = new_occupant(env.a, room)
    before = room_of(env.a.get_room(room["session"]))
    exact(env.a.leave(occ["jid"], _apply({"roomJid": room["jid"]}, over)), 422, OCC_INVALID)
    exact(env.a.call("DELETE", "/api/v1/occupants/" + quote(occ["jid"], safe="")), 422,
          OCC_INVALID)
    assert room_of(env.a.get_room(room["session"])) == before


# --------------------------------------------------------------------------
# 6. races across two instances


def test_same_room_created_concurrently_one_winner(env):
    for _ in range(12):
        body = room_body()
        names = [f"{body['name']} #{i}" for i in range(8)]
        results = run_threads([lambda i=i: (env.a if i % 2 else env.b).create_room(
            dict(body, name=names[i])) for i in range(8)])
        assert not any(isinstance(r, Exception) for r in results), results
        won = [i for i, r in enumerate(results) if r.status == 200]
        assert len(won) == 1, [r.status for r in results]
        for i, r in enumerate(results):
            exact(r, 200, ROOM_CREATED) if i in won else exact(r, 400, ROOM_DUPLICATE)
        assert room_of(env.a.get_room(body["session"]))["name"] == names[won[0]]


def test_same_jid_rooms_created_concurrently_leave_one_live(env):
    """Different sessions with one jid at once: each is created, each later one
    ends the one before; exactly one stays live and holds the jid."""
    for _ in range(6):
        jid = f"r{uid()}@conference.meet.test"
        bodies = [room_body(jid=jid) for _ in range(6)]
        results = run_threads([lambda i=i: (env.a if i % 2 else env.b).create_room(bodies[i])
                               for i in range(6)])
        for r in results:
            exact(r, 200, ROOM_CREATED)
        rooms = [room_of(env.a.get_room(b["session"])) for b in bodies]
        live = [r for r in rooms if r["endedAt"] is None]
        assert len(live) == 1, rooms
        occ = new_occupant(env.b, {"jid": jid})
        assert occupants_by_jid(room_of(env.a.get_room(live[0]["session"])), occ["jid"])


def test_same_occupant_created_concurrently_one_winner(env):
    for _ in range(12):
        room = new_room(env.a)
        body = occupant_body(room)
        results = run_threads([lambda i=i: (env.a if i % 2 else env.b).join(
            dict(body, nick=f"Nick {i}")) for i in range(8)])
        assert not any(isinstance(r, Exception) for r in results), results
        won = [i for i, r in enumerate(results) if r.status == 200]
        assert len(won) == 1, [r.status for r in results]
        for i, r in enumerate(results):
            exact(r, 200, OCC_CREATED) if i in won else exact(r, 400, OCC_DUPLICATE)
        [o] = room_of(env.a.get_room(room["session"]))["occupants"]
        assert o["nick"] == f"Nick {won[0]}"


def test_same_occupant_into_two_rooms_concurrently_one_winner(env):
    for _ in range(8):
        r1, r2 = new_room(env.a), new_room(env.b)
        body = occupant_body(r1)
        results = run_threads([lambda i=i: (env.a if i % 2 else env.b).join(
            dict(body, roomJid=(r1, r2)[i % 2]["jid"])) for i in range(6)])
        assert sorted(r.status for r in results) == [200] + [400] * 5, results
        total = sum(len(room_of(env.a.get_room(r["session"]))["occupants"]) for r in (r1, r2))
        assert total == 1


def test_end_room_and_add_occupants_never_interleave(env):
    """Ending a room on A while occupants join it on A and B: every join
    either came first (200; its occupant left when the room ended) or after
    (400 no-room; absent).  No live occupant is ever left in the ended room,
    and every jid is free again."""
    for _ in range(12):
        room = new_room(env.a)
        bodies = [occupant_body(room) for _ in range(7)]
        calls = [lambda: env.a.end_room(room["session"], {"jid": room["jid"]})] + \
            [lambda i=i: (env.b if i % 2 else env.a).join(bodies[i]) for i in range(7)]
        results = run_threads(calls)
        assert not any(isinstance(r, Exception) for r in results), results
        exact(results[0], 200, ROOM_ENDED)
        got = room_of(env.a.get_room(room["session"]))  # checks none is live
        assert got["endedAt"] is not None
        joined = set()
        for body, r in zip(bodies, results[1:]):
            if r.status == 200:
                exact(r, 200, OCC_CREATED)
                joined.add(body["jid"])
            else:
                exact(r, 400, OCC_NO_ROOM)
        assert {o["jid"] for o in got["occupants"]} == joined
        assert len(got["occupants"]) == len(joined)
        for o in got["occupants"]:
            assert o["leftAt"] == got["endedAt"], o
        fresh = new_room(env.b)
        for body in bodies:
            exact(env.a.join(dict(body, roomJid=fresh["jid"])), 200, OCC_CREATED)


def test_leave_and_end_concurrently(env):
    for _ in range(8):
        room = new_room(env.a)
        occ = [new_occupant(env.a, room) for _ in range(4)]
        calls = [lambda: env.b.end_room(room["session"], {"jid": room["jid"]})] + \
            [lambda o=o, i=i: (env.a if i % 2 else env.b).leave(o["jid"], {"roomJid": room["jid"]})
             for i, o in enumerate(occ)]
        results = run_threads(calls)
        exact(results[0], 200, ROOM_ENDED)
        for r in results[1:]:
            assert r.status in (200, 400), r
            exact(r, 200, OCC_DESTROYED) if r.status == 200 else exact(r, 400, NO_OCCUPANT)
        got = room_of(env.a.get_room(room["session"]))
        assert all(o["leftAt"] for o in got["occupants"])


# --------------------------------------------------------------------------
# 7. Redis down


def test_redis_down_503(make_onair, redis_server):
    a = Api(make_onair(redis_server, env=service_env()))
    room = new_room(a)
    occ = new_occupant(a, room)
    redis_server.stop()
    wait_until(lambda: a.srv.get("/ready").status == 503, 2, message="/ready 503")
    calls = [lambda: a.create_room(room_body()),
             lambda: a.get_room(room["session"]),
             lambda: a.end_room(room["session"], {"jid": room["jid"]}),
             lambda: a.join(occupant_body(room)),
             lambda: a.update(occ["jid"], {"roomJid": room["jid"], "nick": "x"}),
             lambda: a.leave(occ["jid"], {"roomJid": room["jid"]})]
    for call in calls:
        r = call()
        expect_error(r, 503, "unavailable")
        assert r.header("Retry-After") is not None and r.header("Retry-After").isdigit(), r
        assert r.elapsed < 1.0, r.elapsed
    # refusals that need no store still answer as before
    expect_error(a.create_room(room_body(), headers={}), 403, "forbidden")
    exact(a.create_room({"name": "x"}), 422, ROOM_INVALID)
    redis_server.start()
    wait_until(lambda: a.srv.get("/ready").status == 200, 5, message="/ready 200")
    new_room(a)
