"""A dealer stream's chat (docs/streams.md "Chat", API.md §5): POST and GET
/chat/:streamId for the stream's guest and the dealer that accepted it (and
admins, reading), message ids and order, paging, validation, outsiders, and
the `chat` event to the other party.

"Instance A/B" is two onair processes on one redis-server."""

import json
import time
import uuid

import pytest

from accounts_util import (AcctEnv, admin_login, expect, expect_error, expect_forbidden, expect_invalid,
                           expect_not_found, expect_unauthorized, ready, server_env, start_server)
from chatleads_util import (PREFIX, accept, assert_message, dealer, events_of, new_org,
                            request_stream)
from events_util import Streams
from harness import assert_error


@pytest.fixture(scope="module")
def env(make_onair_module, shared_redis):
    a = ready(make_onair_module(shared_redis, env=server_env()))
    b = ready(make_onair_module(shared_redis, env=server_env()))
    return AcctEnv(a, b, shared_redis)


@pytest.fixture
def sse():
    s = Streams()
    yield s
    s.close_all()


class Scene:
    """An organization, its accepting dealer, another dealer of it that did
    not accept, and the stream (accepted unless asked otherwise)."""

    def __init__(self, env, accepted=True):
        self.org = new_org(env.a)
        self.dealer = dealer(env.a, env.admin_token, self.org)
        self.bystander = dealer(env.b, env.admin_token, self.org)
        self.stream = request_stream(env.b, self.org)
        assert self.stream.stream["status"] == "requested", self.stream.stream
        if accepted:
            accept(env.a, self.stream, self.dealer)

    @property
    def id(self):
        return self.stream.id

    @property
    def guest(self):
        return self.stream.guest

    @property
    def guest_token(self):
        return self.stream.token


def say(api, stream_id, token, sender, text):
    """POST /chat as sender (its id); asserts 201 and the message's shape."""
    v = expect(api.post(f"/chat/{stream_id}", {"from": sender, "message": text}, token=token), 201)
    assert set(v) == {"message"}, v
    return assert_message(v["message"], **{"from": sender, "message": text})


def read(api, stream_id, token, query=""):
    v = expect(api.get(f"/chat/{stream_id}{query}", token=token), 200)
    assert set(v) == {"messages", "start", "limit", "total"}, v
    for m in v["messages"]:
        assert_message(m)
    return v


def kept(env, stream_id):
    """The stored chat (parsed) and the stream's chatSeq."""
    r = env.redis.client()
    raw = r.lrange(PREFIX + "{stream:" + stream_id + "}:chat", 0, -1)
    return [json.loads(m) for m in raw], r.hget(PREFIX + "{stream:" + stream_id + "}", "chatSeq")


# --------------------------------------------------------------------------
# parties, ids and order


def test_guest_alone_before_the_accept(env):
    sc = Scene(env, accepted=False)
    m1 = say(env.a, sc.id, sc.guest_token, sc.guest, "Is it still available?")
    assert m1["id"] == 1
    assert read(env.b, sc.id, sc.guest_token) == {"messages": [m1], "start": 0, "limit": 10,
                                                  "total": 1}
    # no dealer is a party yet, not even one it was offered to
    for d in (sc.dealer, sc.bystander):
        expect_not_found(env.a.post(f"/chat/{sc.id}", {"from": d.id, "message": "hi"},
                                    token=d.token))
        expect_not_found(env.b.get(f"/chat/{sc.id}", token=d.token))
    # admins read
    assert read(env.a, sc.id, env.admin_token)["messages"] == [m1]
    # once it accepts, the dealer reads what came before and answers
    accept(env.b, sc.stream, sc.dealer)
    assert read(env.a, sc.id, sc.dealer.token)["messages"] == [m1]
    m2 = say(env.b, sc.id, sc.dealer.token, sc.dealer.id, "Yes!")
    assert m2["id"] == 2
    # the other dealer of the organization is still an outsider
    expect_not_found(env.b.get(f"/chat/{sc.id}", token=sc.bystander.token))
    assert kept(env, sc.id) == ([m1, m2], "2")


def test_missed_offline_stream_guest_may_chat(env):
    org = new_org(env.a)  # no dealer at all
    s = request_stream(env.a, org)
    assert s.stream["status"] == "missed-offline", s.stream
    m = say(env.b, s.id, s.token, s.guest, "Anyone there?")
    assert m["id"] == 1
    assert read(env.a, s.id, s.token)["messages"] == [m]


def test_conversation_ids_and_order(env):
    sc = Scene(env)
    sent = []
    for i in range(6):
        api = env.a if i % 2 else env.b
        if i % 3 == 0:
            sent.append(say(api, sc.id, sc.guest_token, sc.guest, f"guest {i}"))
        else:
            sent.append(say(api, sc.id, sc.dealer.token, sc.dealer.id, f"dealer {i}"))
    assert [m["id"] for m in sent] == [1, 2, 3, 4, 5, 6]
    assert [m["createdAt"] for m in sent] == sorted(m["createdAt"] for m in sent)
    want = {"messages": sent, "start": 0, "limit": 10, "total": 6}
    for api in (env.a, env.b):
        assert read(api, sc.id, sc.guest_token) == want
        assert read(api, sc.id, sc.dealer.token) == want
        assert read(api, sc.id, env.admin_token) == want
    assert kept(env, sc.id) == (sent, "6")
    # another stream counts from 1
    other = Scene(env)
    assert say(env.a, other.id, other.guest_token, other.guest, "first")["id"] == 1


def test_text_round_trips_exactly(env):
    sc = Scene(env)
    texts = ['He said "hi" \\o/', "line\nbreak\ttab\r", "\u2028\u2029",
             "\u00e9t\u00e9 \u20ac \U0001F697", "<script>alert(1)</script>", " ", "{}"]
    sent = [say(env.a, sc.id, sc.guest_token, sc.guest, t) for t in texts]
    got = read(env.b, sc.id, sc.dealer.token)["messages"]
    assert [m["message"] for m in got] == texts
    assert got == sent


# --------------------------------------------------------------------------
# refusals


def test_from_must_be_the_caller(env):
    sc = Scene(env)
    say(env.a, sc.id, sc.guest_token, sc.guest, "ok")
    for token, sender in ((sc.guest_token, sc.dealer.id), (sc.dealer.token, sc.guest),
                          (sc.guest_token, str(uuid.uuid4())), (sc.dealer.token, ""),
                          (sc.guest_token, sc.guest.upper()), (sc.dealer.token, sc.dealer.id + " "),
                          (env.admin_token, sc.guest)):
        expect_forbidden(env.a.post(f"/chat/{sc.id}", {"from": sender, "message": "x"},
                                    token=token))
    assert read(env.b, sc.id, sc.guest_token)["total"] == 1
    assert kept(env, sc.id)[1] == "1"


BAD = [
    ({"message": "hi"}, "from"),
    ({"from": None, "message": "hi"}, "from"),
    ({"from": 5, "message": "hi"}, "from"),
    ({"from": "ME"}, "message"),
    ({"from": "ME", "message": ""}, "message"),
    ({"from": "ME", "message": None}, "message"),
    ({"from": "ME", "message": 7}, "message"),
    ({"from": "ME", "message": ["hi"]}, "message"),
    ({"from": "ME", "message": "m" * 2001}, "message"),
    ({"from": "ME", "message": "\u00e9" * 2001}, "message"),
    ({"from": "ME", "message": "nul\u0000byte"}, "message"),
]


@pytest.mark.parametrize("body,field", BAD)
def test_message_validation_422(env, body, field):
    sc = Scene(env, accepted=False)
    body = {k: (sc.guest if v == "ME" else v) for k, v in body.items()}
    expect_invalid(env.a.post(f"/chat/{sc.id}", body, token=sc.guest_token), field)
    assert kept(env, sc.id) == ([], "0")


def test_message_limits_and_bad_bodies(env):
    sc = Scene(env)
    long_ascii = say(env.a, sc.id, sc.guest_token, sc.guest, "m" * 2000)
    long_wide = say(env.b, sc.id, sc.dealer.token, sc.dealer.id, "\u20ac" * 2000)
    assert [long_ascii["id"], long_wide["id"]] == [1, 2]
    for raw in (b'{"from":', b"", b"[1,"):
        expect_error(env.a.post(f"/chat/{sc.id}", raw=raw, token=sc.guest_token), 400, "bad-json")
    expect_invalid(env.a.post(f"/chat/{sc.id}", [sc.guest, "hi"], token=sc.guest_token), "body")
    assert read(env.a, sc.id, sc.guest_token)["total"] == 2


def test_outsiders_are_404(env):
    sc = Scene(env)
    say(env.a, sc.id, sc.guest_token, sc.guest, "mine")
    elsewhere = Scene(env)
    stranger = new_org(env.a)
    foreign_dealer = dealer(env.a, env.admin_token, stranger)
    user = env.a.create_account()
    outsiders = [
        (elsewhere.guest_token, elsewhere.guest),           # another stream's guest
        (foreign_dealer.token, foreign_dealer.id),          # a dealer of another organization
        (sc.bystander.token, sc.bystander.id),              # a dealer of its own that did not accept
        (elsewhere.dealer.token, elsewhere.dealer.id),      # another stream's accepting dealer
        (user.token, user.id),                              # a user
        (sc.org.owner.token, sc.org.owner.id),              # the organization's owner
        (env.admin_token, env.admin["account"]["id"]),      # an admin reads, does not write
    ]
    for api in (env.a, env.b):
        for token, me in outsiders:
            expect_not_found(api.post(f"/chat/{sc.id}", {"from": me, "message": "x"},
                                      token=token))
            if token != env.admin_token:
                expect_not_found(api.get(f"/chat/{sc.id}", token=token))
    # unknown or malformed stream ids
    for sid in (str(uuid.uuid4()), "nope", sc.id.upper(), sc.id + "0"):
        for token, me in ((sc.guest_token, sc.guest), (sc.dealer.token, sc.dealer.id),
                          (env.admin_token, env.admin["account"]["id"])):
            expect_not_found(env.a.get(f"/chat/{sid}", token=token))
            expect_not_found(env.b.post(f"/chat/{sid}", {"from": me, "message": "x"},
                                        token=token))
    # no token
    expect_unauthorized(env.a.get(f"/chat/{sc.id}"))
    expect_unauthorized(env.a.post(f"/chat/{sc.id}", {"from": sc.guest, "message": "x"}))
    assert kept(env, sc.id)[1] == "1"
    assert kept(env, elsewhere.id) == ([], "0")


# --------------------------------------------------------------------------
# paging


def test_paging(env):
    sc = Scene(env)
    sent = [say(env.a if i % 2 else env.b, sc.id, sc.guest_token, sc.guest, f"m{i + 1}")
            for i in range(25)]
    ids = [m["id"] for m in sent]
    assert ids == list(range(1, 26))

    def page(query):
        return read(env.a, sc.id, sc.dealer.token, query)

    assert page("") == {"messages": sent[:10], "start": 0, "limit": 10, "total": 25}
    assert page("?start=10") == {"messages": sent[10:20], "start": 10, "limit": 10, "total": 25}
    assert page("?start=20&limit=10") == {"messages": sent[20:], "start": 20, "limit": 10,
                                          "total": 25}
    assert page("?start=25") == {"messages": [], "start": 25, "limit": 10, "total": 25}
    assert page("?start=100000") == {"messages": [], "start": 100000, "limit": 10, "total": 25}
    assert page("?limit=100") == {"messages": sent, "start": 0, "limit": 100, "total": 25}
    assert page("?limit=1&start=24") == {"messages": sent[24:], "start": 24, "limit": 1,
                                         "total": 25}
    assert page("?limit=3&start=0") == {"messages": sent[:3], "start": 0, "limit": 3,
                                        "total": 25}
    for q, field in (("?start=-1", "start"), ("?start=x", "start"), ("?start=", "start"),
                     ("?start=1.5", "start"), ("?limit=0", "limit"), ("?limit=101", "limit"),
                     ("?limit=-5", "limit"), ("?limit=ten", "limit"), ("?limit=", "limit"),
                     ("?start=0&limit=1000", "limit")):
        expect_invalid(env.a.get(f"/chat/{sc.id}{q}", token=sc.guest_token), field)


def test_keeps_the_newest_10000(env):
    """The chat is trimmed to its newest 10 000 messages (the store is seeded
    with 10 000 so one more shows it)."""
    sc = Scene(env)
    r = env.redis.client()
    key = PREFIX + "{stream:" + sc.id + "}"
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    seeded = [json.dumps({"id": i, "from": sc.guest, "message": f"old {i}", "createdAt": now},
                         separators=(",", ":"))
              for i in range(1, 10001)]
    r.rpush(key + ":chat", *seeded)
    r.hset(key, "chatSeq", 10000)
    m = say(env.a, sc.id, sc.guest_token, sc.guest, "one more")
    assert m["id"] == 10001
    assert r.llen(key + ":chat") == 10000
    v = read(env.b, sc.id, sc.guest_token, "?limit=2")
    assert [x["id"] for x in v["messages"]] == [2, 3] and v["total"] == 10000, v
    assert read(env.b, sc.id, sc.guest_token, "?start=9999")["messages"] == [m]


# --------------------------------------------------------------------------
# events


def test_the_other_party_gets_a_chat_event(env, sse):
    sc = Scene(env)
    to_dealer = sse.ok(env.b.port, token=sc.dealer.token)
    to_guest = sse.ok(env.a.port, token=sc.guest_token)
    to_bystander = sse.ok(env.a.port, token=sc.bystander.token)
    m1 = say(env.a, sc.id, sc.guest_token, sc.guest, "hello")
    got = events_of(to_dealer, "chat", until=lambda d: d["message"]["id"] == 1)
    assert got == [{"streamId": sc.id, "message": m1}], got
    m2 = say(env.b, sc.id, sc.dealer.token, sc.dealer.id, "hi there")
    got = events_of(to_guest, "chat", until=lambda d: d["message"]["id"] == 2)
    assert got == [{"streamId": sc.id, "message": m2}], got
    # nobody hears their own message, and no one else hears any
    assert events_of(to_dealer, "chat", timeout=0.5) == []
    assert events_of(to_guest, "chat", timeout=0.1) == []
    assert events_of(to_bystander, "chat", timeout=0.1) == []


def test_no_event_before_the_accept(env, sse):
    sc = Scene(env, accepted=False)
    offered = sse.ok(env.a.port, token=sc.dealer.token)
    say(env.b, sc.id, sc.guest_token, sc.guest, "anyone?")
    assert events_of(offered, "chat", timeout=0.5) == []


# --------------------------------------------------------------------------
# Redis down


def test_redis_down_is_503(make_onair, redis_server):
    api = start_server(make_onair, redis_server)
    admin = admin_login(api)["token"]
    org = new_org(api)
    dealer(api, admin, org)
    s = request_stream(api, org)
    redis_server.stop()
    for r in (api.post(f"/chat/{s.id}", {"from": s.guest, "message": "x"}, token=s.token),
              api.get(f"/chat/{s.id}", token=s.token)):
        assert r.elapsed < 1.0, r.elapsed
        assert_error(r, 503, "unavailable")
        assert r.header("Retry-After") is not None, r
