"""Two-person chat rooms with camera state (API.md §8, docs/chatrooms.md):
POST /room/add, GET /room/list, POST /room/message (and POST /room/list),
GET /room/select/:id, GET /room/stop/:id, GET /webrtc/cameraOn|Off, the
idle deadline, and the `room` and `camera` events.

"Instance A/B" is two onair processes on one redis-server."""

import re
import time
import uuid

import pytest

from accounts_util import acct  # noqa: F401 (a fixture)
from accounts_util import (AcctEnv, expect, expect_error, expect_forbidden,
                           expect_invalid, expect_not_found, expect_unauthorized, post_announcing,
                           ready, run_threads, server_env, start_server)
from chatleads_util import PREFIX, events_of
from events_util import sse  # noqa: F401 (a fixture)
from harness import assert_error, wait_until

DETAIL_KEYS = {"abonent_id", "id", "is_current", "is_active", "is_low_account", "activity",
               "is_abonent_camera", "messages"}
MESSAGE_KEYS = {"id", "message", "author_id", "created", "is_readed"}
LIST_KEYS = {"room_ids", "rooms", "contacts_ids", "online_ids", "contact_users", "current_room"}
USER_KEYS = {"id", "username", "firstName", "lastName", "is_online", "is_camera"}
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def assert_detail(d, **expected):
    """A room's detail: exact keys and JSON types, then the expected values."""
    assert isinstance(d, dict) and set(d) == DETAIL_KEYS, f"detail keys {d!r}"
    assert isinstance(d["abonent_id"], str) and uuid.UUID(d["abonent_id"]), d
    assert is_int(d["id"]) and d["id"] >= 1, d
    for k in ("is_current", "is_active", "is_low_account", "is_abonent_camera"):
        assert isinstance(d[k], bool), (k, d)
    assert isinstance(d["activity"], float) and abs(d["activity"] - time.time()) < 3600, d
    assert isinstance(d["messages"], dict) and len(d["messages"]) <= 5, d
    for k, m in d["messages"].items():
        assert isinstance(m, dict) and set(m) == MESSAGE_KEYS, m
        assert is_int(m["id"]) and k == str(m["id"]), (k, m)
        assert isinstance(m["message"], str) and m["message"], m
        assert isinstance(m["author_id"], str) and uuid.UUID(m["author_id"]), m
        assert isinstance(m["created"], str) and ISO_RE.match(m["created"]), m
        assert isinstance(m["is_readed"], bool), m
    for k, v in expected.items():
        assert d[k] == v, f"detail[{k!r}] = {d[k]!r}, expected {v!r}: {d}"
    return d


def assert_list(v):
    assert isinstance(v, dict) and set(v) == LIST_KEYS, f"list keys {v!r}"
    assert isinstance(v["room_ids"], list) and all(is_int(i) for i in v["room_ids"]), v
    assert [str(i) for i in v["room_ids"]] == list(v["rooms"]), v
    for k, d in v["rooms"].items():
        assert_detail(d, id=int(k))
    assert v["contacts_ids"] == list(v["contact_users"]), v
    assert len(set(v["contacts_ids"])) == len(v["contacts_ids"]), v
    assert set(v["online_ids"]) <= set(v["contacts_ids"]), v
    for k, u in v["contact_users"].items():
        assert isinstance(u, dict) and set(u) == USER_KEYS, u
        assert u["id"] == k, u
        assert u["username"] is None or isinstance(u["username"], str), u
        assert isinstance(u["firstName"], str) and isinstance(u["lastName"], str), u
        assert isinstance(u["is_online"], bool) and isinstance(u["is_camera"], bool), u
        assert u["is_online"] == (k in v["online_ids"]), v
    assert v["current_room"] is None or v["current_room"] in v["room_ids"], v
    return v


def add(api, who, other, status=200):
    r = api.post("/room/add", {"owner": who.id, "abonent": other.id}, token=who.token)
    return assert_detail(expect(r, 200), abonent_id=other.id, is_current=True)


def say(api, who, room, text, path="/room/message"):
    body = {"author": {"id": who.id, "username": "ignored"}, "room_id": room, "message": text,
            "created": "2019-12-02T14:19:34.569Z"}
    return assert_detail(expect(api.post(path, body, token=who.token), 200), id=room)


def listing(api, who):
    return assert_list(expect(api.get("/room/list", token=who.token), 200))


def select(api, who, room):
    v = assert_list(expect(api.get(f"/room/select/{room}", token=who.token), 200))
    assert v["current_room"] == room, v
    return v


def stored(acct):
    """What the chat-room scripts keep, for "nothing changed" checks."""
    r = acct.redis.client()
    keys = sorted(k for k in r.keys(PREFIX + "*")
                  if re.search(r"\{room:|roompair:|rooms:seq|messages:seq|deadlines:room|:rooms$", k))
    return {k: r.dump(k) for k in keys}


def people(acct, n):
    return [acct.a.create_account() for _ in range(n)]


# --------------------------------------------------------------------------
# adding rooms


def test_add_makes_the_pairs_one_room_in_both_orders(acct):
    a, b = people(acct, 2)
    d = add(acct.a, a, b)
    assert_detail(d, is_active=False, is_low_account=False, is_abonent_camera=False, messages={})
    again = add(acct.b, a, b)
    assert again["id"] == d["id"], (d, again)
    other_way = add(acct.a, b, a)
    assert other_way["id"] == d["id"] and other_way["abonent_id"] == a.id, other_way
    for who in (a, b):
        v = listing(acct.b, who)
        assert v["room_ids"] == [d["id"]] and v["current_room"] == d["id"], v
    # a new pair gets a new, later id
    c = acct.a.create_account()
    assert add(acct.b, a, c)["id"] > d["id"]


def test_add_again_makes_it_current(acct):
    a, b, c = people(acct, 3)
    ab = add(acct.a, a, b)["id"]
    ac = add(acct.a, a, c)["id"]
    v = listing(acct.a, a)
    assert v["current_room"] == ac, v
    assert v["rooms"][str(ab)]["is_current"] is False and v["rooms"][str(ac)]["is_current"], v
    add(acct.b, a, b)
    v = listing(acct.a, a)
    assert v["current_room"] == ab and v["rooms"][str(ab)]["is_current"], v
    assert v["rooms"][str(ac)]["is_current"] is False, v
    # is_current is per member: c's current room is still its own choice
    assert listing(acct.a, c)["current_room"] is None


def test_concurrent_adds_on_two_instances_make_one_room(acct):
    for _ in range(3):
        a, b = people(acct, 2)
        results = run_threads([
            lambda: acct.a.post("/room/add", {"owner": a.id, "abonent": b.id}, token=a.token),
            lambda: acct.b.post("/room/add", {"owner": b.id, "abonent": a.id}, token=b.token),
            lambda: acct.b.post("/room/add", {"owner": a.id, "abonent": b.id}, token=a.token),
            lambda: acct.a.post("/room/add", {"owner": b.id, "abonent": a.id}, token=b.token),
        ])
        ids = {expect(r, 200)["id"] for r in results}
        assert len(ids) == 1, results
        assert listing(acct.a, a)["room_ids"] == list(ids) == listing(acct.b, b)["room_ids"]


def test_add_validation_changes_nothing(acct):
    a, b = people(acct, 2)
    before = stored(acct)
    cases = [
        ({"owner": a.id}, "abonent"),
        ({"abonent": b.id}, "owner"),
        ({"owner": 7, "abonent": b.id}, "owner"),
        ({"owner": a.id, "abonent": 26}, "abonent"),
        ({"owner": a.id, "abonent": None}, "abonent"),
        ({"owner": a.id, "abonent": [b.id]}, "abonent"),
        ({"owner": a.id, "abonent": a.id}, "abonent"),
    ]
    for body, field in cases:
        expect_invalid(acct.a.post("/room/add", body, token=a.token), field)
    expect_invalid(acct.a.post("/room/add", [a.id, b.id], token=a.token), "body")
    expect_error(acct.a.post("/room/add", raw=b'{"owner": ', token=a.token), 400, "bad-json")
    expect_error(acct.a.post("/room/add", raw=b'', token=a.token), 400, "bad-json")
    # owner must be the caller, whoever the abonent
    expect_forbidden(acct.a.post("/room/add", {"owner": b.id, "abonent": a.id}, token=acct.admin_token))
    expect_forbidden(acct.a.post("/room/add", {"owner": b.id, "abonent": b.id}, token=a.token))
    # an abonent that is no account
    expect_not_found(acct.a.post("/room/add", {"owner": a.id, "abonent": str(uuid.uuid4())},
                                token=a.token))
    expect_not_found(acct.a.post("/room/add", {"owner": a.id, "abonent": "26"}, token=a.token))
    expect_unauthorized(acct.a.post("/room/add", {"owner": a.id, "abonent": b.id}))
    r = post_announcing(acct.a.port, "/room/add", 70000, token=a.token)
    assert_error(r, 413, "too-large")
    assert stored(acct) == before
    assert listing(acct.b, a)["room_ids"] == []


def test_rooms_per_account_are_capped(acct):
    a, b, c = people(acct, 3)
    ab = add(acct.a, a, b)["id"]
    r = acct.redis.client()
    fake = {str(10**12 + i): 1.0 for i in range(99)}
    r.zadd(PREFIX + "{acct:" + c.id + "}:rooms", fake)  # c is in 99 rooms
    d = acct.a.create_account()
    cd = add(acct.a, c, d)  # its 100th
    before = stored(acct)
    expect_error(acct.a.post("/room/add", {"owner": a.id, "abonent": c.id}, token=a.token), 409,
                 "conflict")
    expect_error(acct.b.post("/room/add", {"owner": c.id, "abonent": a.id}, token=c.token), 409,
                 "conflict")
    assert stored(acct) == before
    # existing rooms are still reused
    assert add(acct.b, a, b)["id"] == ab
    assert add(acct.b, c, d)["id"] == cd["id"]
    # the list reads the 100 newest
    assert len(listing(acct.a, c)["room_ids"]) == 1


# --------------------------------------------------------------------------
# messages


def test_messages_window_ids_and_activity(acct):
    a, b = people(acct, 2)
    room = add(acct.a, a, b)["id"]
    seen, last_activity = [], 0.0
    for i in range(7):
        who, api = (a, acct.a) if i % 2 == 0 else (b, acct.b)
        d = say(api, who, room, f"message {i} \u00e9\u2603")
        assert d["is_active"] is True and d["abonent_id"] == (b.id if who is a else a.id), d
        assert d["activity"] >= last_activity, d
        last_activity = d["activity"]
        ids = sorted(int(k) for k in d["messages"])
        assert len(ids) == min(i + 1, 5), d
        newest = d["messages"][str(ids[-1])]
        assert newest["message"] == f"message {i} \u00e9\u2603" and newest["author_id"] == who.id
        seen.append(ids[-1])
    assert seen == sorted(seen) and len(set(seen)) == 7, seen
    d = listing(acct.b, a)["rooms"][str(room)]
    assert sorted(int(k) for k in d["messages"]) == seen[-5:], d
    assert [d["messages"][str(i)]["message"] for i in seen[-5:]] == \
        [f"message {i} \u00e9\u2603" for i in range(2, 7)]
    # the seed's path for sending works the same
    d = say(acct.a, a, room, "via /room/list", path="/room/list")
    assert d["messages"][str(max(int(k) for k in d["messages"]))]["message"] == "via /room/list"


def test_answer_holds_the_new_message_after_redis_lost_the_scripts(acct):
    """The window is read by a command sent right behind the script; when Redis
    has lost the script (SCRIPT FLUSH, or a restart between reconnects) the
    script is resent as EVAL and the window read again after it, so the
    answer still holds the message just written."""
    a, b = people(acct, 2)
    room = add(acct.a, a, b)["id"]
    for i, (who, api) in enumerate([(a, acct.a), (b, acct.b)]):
        assert acct.redis.client().script_flush() is True
        d = say(api, who, room, f"after flush {i}")
        newest = d["messages"][str(max(int(k) for k in d["messages"]))]
        assert newest["message"] == f"after flush {i}" and newest["author_id"] == who.id, d
        assert len(d["messages"]) == i + 1, d


def test_a_room_keeps_its_newest_100_to_125_messages(acct):
    a, b = people(acct, 2)
    room = add(acct.a, a, b)["id"]
    r = acct.redis.client()
    key = f"{PREFIX}{{room:{room}}}:msgs"
    for i in range(126):
        d = say(acct.a, a, room, f"m{i}")
        assert len(d["messages"]) == min(i + 1, 5), d
        kept = r.lrange(key, 0, -1)
        # trimmed back to the newest 100 when the 126th arrives, not before
        assert len(kept) == (i + 1 if i < 125 else 100), (i, len(kept))
        assert kept[-1].startswith('a{"id":') and f'"message":"m{i}"' in kept[-1]
    assert '"message":"m26"' in kept[0]
    assert [d["messages"][k]["message"] for k in sorted(d["messages"], key=int)] == \
        [f"m{i}" for i in range(121, 126)]


def test_message_characters_not_bytes(acct):
    a, b = people(acct, 2)
    room = add(acct.a, a, b)["id"]
    text = "\U0001F600" * 4000  # 4000 characters, 16000 bytes
    d = say(acct.a, a, room, text)
    assert text in [m["message"] for m in d["messages"].values()]
    say(acct.a, a, room, 'quotes " and \\ and \n newline and \u2028')
    expect_invalid(acct.a.post("/room/message", {"author": {"id": a.id}, "room_id": room,
                                                "message": "x" * 4001}, token=a.token), "message")


def test_message_validation_changes_nothing(acct):
    a, b, c = people(acct, 3)
    room = add(acct.a, a, b)["id"]
    say(acct.a, a, room, "first")
    before = stored(acct)
    good = {"author": {"id": a.id}, "room_id": room, "message": "hi"}
    cases = [
        ({**good, "author": None}, "author"),
        ({**good, "author": a.id}, "author"),
        ({k: v for k, v in good.items() if k != "author"}, "author"),
        ({**good, "author": {}}, "author.id"),
        ({**good, "author": {"id": 7}}, "author.id"),
        ({k: v for k, v in good.items() if k != "room_id"}, "room_id"),
        ({**good, "room_id": str(room)}, "room_id"),
        ({**good, "room_id": room + 0.5}, "room_id"),
        ({**good, "room_id": 0}, "room_id"),
        ({**good, "room_id": -room}, "room_id"),
        ({**good, "room_id": True}, "room_id"),
        ({**good, "room_id": 10**15}, "room_id"),
        ({k: v for k, v in good.items() if k != "message"}, "message"),
        ({**good, "message": ""}, "message"),
        ({**good, "message": 5}, "message"),
        ({**good, "message": "x" * 4001}, "message"),
    ]
    for body, field in cases:
        expect_invalid(acct.a.post("/room/message", body, token=a.token), field)
    expect_invalid(acct.a.post("/room/message", "hi", token=a.token), "body")
    expect_error(acct.a.post("/room/message", raw=b'{"author":{"id":', token=a.token), 400,
                 "bad-json")
    expect_error(acct.a.post("/room/message", raw=b'\xff', token=a.token), 400, "bad-json")
    # author.id must be the caller
    expect_forbidden(acct.a.post("/room/message", {**good, "author": {"id": b.id}}, token=a.token))
    # a room that is not the caller's, or none
    expect_not_found(acct.b.post("/room/message", {**good, "author": {"id": c.id}}, token=c.token))
    expect_not_found(acct.b.post("/room/message", {**good, "room_id": 10**14}, token=a.token))
    expect_unauthorized(acct.a.post("/room/message", good))
    expect_unauthorized(acct.a.post("/room/message", good, token=a.token[:-2] + "xx"))
    r = post_announcing(acct.b.port, "/room/message", 65537, token=a.token)
    assert_error(r, 413, "too-large")
    assert stored(acct) == before


# --------------------------------------------------------------------------
# listing, selecting and read marks


def test_list_of_a_new_account_is_empty(acct):
    (a,) = people(acct, 1)
    assert listing(acct.a, a) == {"room_ids": [], "rooms": {}, "contacts_ids": [],
                                  "online_ids": [], "contact_users": {}, "current_room": None}


def test_list_orders_rooms_by_activity_and_fills_contacts(acct):
    a, b, c = people(acct, 3)
    b_room = add(acct.a, a, b)["id"]
    c_room = add(acct.a, a, c)["id"]
    v = listing(acct.a, a)
    assert v["room_ids"] == [c_room, b_room], v  # newest first
    say(acct.b, b, b_room, "wake up")
    v = listing(acct.a, a)
    assert v["room_ids"] == [b_room, c_room], v
    assert v["contacts_ids"] == [b.id, c.id] and v["online_ids"] == [], v
    assert v["current_room"] == c_room, v
    for who in (b, c):
        assert v["contact_users"][who.id] == {
            "id": who.id, "username": who.account["username"],
            "firstName": who.account["firstName"], "lastName": who.account["lastName"],
            "is_online": False, "is_camera": False}
    assert v["rooms"][str(b_room)]["abonent_id"] == b.id
    assert v["rooms"][str(b_room)]["is_active"] is True
    assert v["rooms"][str(c_room)]["is_active"] is False
    # presence is the account's online status
    expect(acct.b.post("/accounts/status/online", token=c.token), 200)
    v = listing(acct.b, a)
    assert v["online_ids"] == [c.id] and v["contact_users"][c.id]["is_online"] is True, v
    expect(acct.b.post("/accounts/status/offline", token=c.token), 200)
    assert listing(acct.a, a)["online_ids"] == []
    # b sees only its own room
    v = listing(acct.a, b)
    assert v["room_ids"] == [b_room] and v["contacts_ids"] == [a.id], v


def test_select_makes_current_and_marks_the_abonents_messages_read(acct):
    a, b, c, d = people(acct, 4)
    room = add(acct.a, a, b)["id"]
    other = add(acct.a, b, c)["id"]  # b's current room is now another
    add(acct.b, a, d)  # and a's
    say(acct.a, a, room, "one")
    m2 = say(acct.b, a, room, "two")
    unread = [m["is_readed"] for m in m2["messages"].values()]
    assert unread == [False, False], m2
    # b answers without selecting: a's messages stay unread, b's own too
    d = say(acct.b, b, room, "three")
    assert [m["is_readed"] for m in d["messages"].values()] == [False, False, False], d
    v = select(acct.b, b, room)
    d = v["rooms"][str(room)]
    assert d["is_current"] is True and v["rooms"][str(other)]["is_current"] is False, v
    by_author = {m["message"]: m["is_readed"] for m in d["messages"].values()}
    assert by_author == {"one": True, "two": True, "three": False}, d
    # a sees the same marks: its messages read by b, b's not yet by a
    d = listing(acct.a, a)["rooms"][str(room)]
    assert {m["message"]: m["is_readed"] for m in d["messages"].values()} == by_author


def test_a_message_to_the_readers_current_room_is_read_at_once(acct):
    a, b, c = people(acct, 3)
    room = add(acct.a, a, b)["id"]
    select(acct.b, b, room)
    d = say(acct.a, a, room, "seen at once")
    assert [m["is_readed"] for m in d["messages"].values()] == [True], d
    # b moves to another room: the next message waits
    add(acct.b, b, c)
    d = say(acct.a, a, room, "waits")
    assert {m["message"]: m["is_readed"] for m in d["messages"].values()} == {
        "seen at once": True, "waits": False}, d
    # a's current room is this one (it added it): b's messages are read at once
    d = say(acct.b, b, room, "back")
    assert d["messages"][max(d["messages"], key=int)]["is_readed"] is True, d


def test_select_refusals(acct):
    a, b, c = people(acct, 3)
    room = add(acct.a, a, b)["id"]
    before = stored(acct)
    for path in (f"/room/select/{room}", f"/room/stop/{room}"):
        expect_not_found(acct.a.get(path, token=c.token))
        expect_unauthorized(acct.a.get(path))
    for bad in ("0", "abc", f"0{room}", "-1", "1.5", "99999999999999", "1" * 16):
        expect_not_found(acct.b.get(f"/room/select/{bad}", token=a.token))
        expect_not_found(acct.b.get(f"/room/stop/{bad}", token=a.token))
    assert stored(acct) == before
    assert listing(acct.a, c)["current_room"] is None
    # a trailing slash is the same path
    assert expect(acct.a.get(f"/room/select/{room}/", token=b.token), 200)["current_room"] == room


# --------------------------------------------------------------------------
# stop


def test_stop_makes_inactive_and_tells_the_other(acct, sse):
    a, b, c = people(acct, 3)
    room = add(acct.a, a, b)["id"]
    say(acct.a, a, room, "hello")
    r = acct.redis.client()
    assert r.zscore(PREFIX + "deadlines:room", str(room)) is not None
    to_a, to_b = sse.ok(acct.a.port, token=a.token), sse.ok(acct.b.port, token=b.token)
    expect_not_found(acct.a.get(f"/room/stop/{room}", token=c.token))
    r2 = acct.b.get(f"/room/stop/{room}", token=b.token)
    assert expect(r2, 200) == {"status": 0, "message": "Ok"}
    assert r2.text.replace(" ", "") == '{"status":0,"message":"Ok"}'
    assert listing(acct.a, a)["rooms"][str(room)]["is_active"] is False
    assert r.zscore(PREFIX + "deadlines:room", str(room)) is None
    got = events_of(to_a, "room", until=lambda d: d["action"] == "stopped")
    assert got == [{"action": "stopped", "room_id": room}], got
    # stopping an inactive room: Ok, and nobody is told again
    assert expect(acct.a.get(f"/room/stop/{room}", token=a.token), 200) == {"status": 0,
                                                                          "message": "Ok"}
    assert events_of(to_a, "room", timeout=0.5) == []
    assert events_of(to_b, "room", timeout=0.1) == []
    # a message makes it active again
    assert say(acct.b, b, room, "again")["is_active"] is True


# --------------------------------------------------------------------------
# camera and low accounts


def test_camera_state_in_contacts_and_details(acct, sse):
    a, b, c = people(acct, 3)
    room = add(acct.a, a, b)["id"]
    add(acct.a, c, b)
    to_a, to_c = sse.ok(acct.a.port, token=a.token), sse.ok(acct.b.port, token=c.token)
    assert expect(acct.b.get("/webrtc/cameraOn", token=b.token), 200) == {"camera_on": "ok"}
    assert acct.a.me_ok(b.token)["isCamera"] is True
    v = listing(acct.a, a)
    assert v["contact_users"][b.id]["is_camera"] is True, v
    assert v["rooms"][str(room)]["is_abonent_camera"] is True, v
    assert listing(acct.a, b)["rooms"][str(room)]["is_abonent_camera"] is False
    for s in (to_a, to_c):
        got = events_of(s, "camera", until=lambda d: True)
        assert got == [{"account_id": b.id, "is_camera": True}], got
    # on again: no change, no event
    assert expect(acct.a.get("/webrtc/cameraOn", token=b.token), 200) == {"camera_on": "ok"}
    assert events_of(to_a, "camera", timeout=0.4) == []
    assert expect(acct.a.get("/webrtc/cameraOff", token=b.token), 200) == {"camera_off": "ok"}
    assert events_of(to_c, "camera", until=lambda d: True) == [{"account_id": b.id,
                                                               "is_camera": False}]
    v = listing(acct.b, a)
    assert v["contact_users"][b.id]["is_camera"] is False, v
    assert v["rooms"][str(room)]["is_abonent_camera"] is False, v
    expect_unauthorized(acct.a.get("/webrtc/cameraOn"))


def test_low_account_is_an_abonent_that_is_not_active(acct):
    a, b = people(acct, 2)
    room = add(acct.a, a, b)["id"]
    assert listing(acct.a, a)["rooms"][str(room)]["is_low_account"] is False
    expect(acct.a.put(f"/accounts/{b.id}", {"status": "inactive"}, token=acct.admin_token), 200)
    assert listing(acct.a, a)["rooms"][str(room)]["is_low_account"] is True
    assert listing(acct.a, a)["rooms"][str(room)]["is_low_account"] is True
    # b's view of a is unchanged, and b (inactive) cannot act any more
    expect_forbidden(acct.b.post("/room/message", {"author": {"id": b.id}, "room_id": room,
                                                  "message": "x"}, token=b.token))
    expect(acct.a.put(f"/accounts/{b.id}", {"status": "active"}, token=acct.admin_token), 200)
    assert say(acct.b, a, room, "ok")["is_low_account"] is False


# --------------------------------------------------------------------------
# events


def test_message_event_reaches_the_other_member_only(acct, sse):
    a, b, c = people(acct, 3)
    room = add(acct.a, a, b)["id"]
    to_a, to_b, to_c = (sse.ok(acct.a.port, token=a.token), sse.ok(acct.b.port, token=b.token),
                        sse.ok(acct.a.port, token=c.token))
    d = say(acct.a, a, room, "hi b")
    mid = max(d["messages"], key=int)
    got = events_of(to_b, "room", until=lambda e: e["action"] == "message")
    assert got == [{"action": "message", "room_id": room, "message": d["messages"][mid]}], got
    d = say(acct.b, b, room, "hi a")
    mid = max(d["messages"], key=int)
    got = events_of(to_a, "room", until=lambda e: e["action"] == "message")
    assert got == [{"action": "message", "room_id": room, "message": d["messages"][mid]}], got
    assert got[0]["message"]["is_readed"] is True  # a's current room is this one
    assert events_of(to_a, "room", timeout=0.4) == []
    assert events_of(to_b, "room", timeout=0.1) == []
    assert events_of(to_c, "room", timeout=0.1) == []


# --------------------------------------------------------------------------
# idleness: a server deadline, fired once across instances


IDLE_MS = 700


@pytest.fixture
def idle_env(make_onair, redis_server):
    a = ready(make_onair(redis_server, env=server_env(ONAIR_CHAT_IDLE_MS=IDLE_MS)))
    b = ready(make_onair(redis_server, env=server_env(ONAIR_CHAT_IDLE_MS=IDLE_MS)))
    return AcctEnv(a, b, redis_server)


def test_idle_room_becomes_inactive_once_across_instances(idle_env, sse):
    e = idle_env
    a, b = people(e, 2)
    room = add(e.a, a, b)["id"]
    to_a = [sse.ok(e.a.port, token=a.token), sse.ok(e.b.port, token=a.token)]
    to_b = [sse.ok(e.b.port, token=b.token)]
    # messages re-arm the deadline: active throughout
    for i in range(4):
        if i:
            time.sleep(IDLE_MS / 2000)
        d = say(e.a if i % 2 else e.b, a, room, f"keep {i}")
        assert d["is_active"] is True, d
    t0 = time.monotonic()  # the last message
    assert listing(e.a, b)["rooms"][str(room)]["is_active"] is True
    wait_until(lambda: not listing(e.b, a)["rooms"][str(room)]["is_active"], 5,
               message="the room to become inactive")
    assert time.monotonic() - t0 >= IDLE_MS / 1000 - 0.25
    for s in to_a + to_b:
        got = events_of(s, "room", until=lambda d: d["action"] == "idle")
        assert got[-1] == {"action": "idle", "room_id": room}, got
        assert events_of(s, "room", timeout=IDLE_MS / 1000 + 0.5) == [], s
    assert e.redis.client().zscore(PREFIX + "deadlines:room", str(room)) is None
    # a stopped room has no deadline left to fire
    say(e.a, a, room, "again")
    expect(e.a.get(f"/room/stop/{room}", token=b.token), 200)
    events_of(to_a[0], "room", until=lambda d: d["action"] == "stopped")
    assert events_of(to_a[0], "room", timeout=IDLE_MS / 1000 + 0.5) == []


def test_many_rooms_idle_once_each(idle_env, sse):
    e = idle_env
    a = e.a.create_account()
    others = people(e, 6)
    rooms = [add(e.a, a, o)["id"] for o in others]
    stream = sse.ok(e.b.port, token=a.token)
    for i, (o, room) in enumerate(zip(others, rooms)):
        say(e.a if i % 2 else e.b, o, room, "hello")
    got = []
    deadline = time.monotonic() + 5
    while len([d for d in got if d["action"] == "idle"]) < len(rooms) and time.monotonic() < deadline:
        got += events_of(stream, "room", timeout=0.3)
    idle = sorted(d["room_id"] for d in got if d["action"] == "idle")
    assert idle == sorted(rooms), got
    assert [d for d in events_of(stream, "room", timeout=0.5) if d["action"] == "idle"] == []


# --------------------------------------------------------------------------
# Redis down


def test_redis_down_is_503(make_onair, redis_server):
    api = start_server(make_onair, redis_server)
    a, b = api.create_account(), api.create_account()
    room = expect(api.post("/room/add", {"owner": a.id, "abonent": b.id}, token=a.token), 200)["id"]
    redis_server.stop()
    calls = [
        api.post("/room/add", {"owner": a.id, "abonent": b.id}, token=a.token),
        api.post("/room/message", {"author": {"id": a.id}, "room_id": room, "message": "x"},
                 token=a.token),
        api.get("/room/list", token=a.token),
        api.get(f"/room/select/{room}", token=a.token),
        api.get(f"/room/stop/{room}", token=a.token),
        api.get("/webrtc/cameraOn", token=a.token),
    ]
    for r in calls:
        assert r.elapsed < 1.0, r.elapsed
        assert_error(r, 503, "unavailable")
        assert r.header("Retry-After") is not None, r
