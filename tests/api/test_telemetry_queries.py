"""The dashboard's telemetry queries (issue 9, API.md §6.3, docs/telemetry.md
"Queries"): conferences, events, issues, the quality summary, participants,
sessions and search over data ingested through the real SDK routes; who may
see what; plans, quota and billing."""

import json
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

import pytest

from accounts_util import Api, admin_login, expect, expect_forbidden, expect_unauthorized, ready
from harness import wait_until
from telemetry_util import Sdk, TmEnv, claims_of, expect_tm_error, new_id, stats_body, tm_env

PLANS = "free:conferences=1000;pro:conferences=0;tiny:conferences=1"


@pytest.fixture(scope="module")
def tm(make_onair_module, shared_redis):
    env = tm_env(ONAIR_PLANS=PLANS)
    a = ready(make_onair_module(shared_redis, env=env))
    b = ready(make_onair_module(shared_redis, env=env))
    return TmEnv(a, b, shared_redis)


@pytest.fixture(scope="module")
def admin(tm):
    return admin_login(tm.a)["token"]


def q(path, **params):
    return path + ("?" + urllib.parse.urlencode(params) if params else "")


def get(tm, token, path, srv="a", **params):
    return (tm.a if srv == "a" else tm.b).get(q(path, **params), token=token)


def ok(tm, token, path, **params):
    return expect(get(tm, token, path, **params), 200)


def not_found(resp):
    expect_tm_error(resp, 404, "not-found")


def invalid(resp):
    expect_tm_error(resp, 400, "invalid_parameters")


def join(tm, app, conference=None, user=None, srv=None, **init):
    """A participant joins a conference through the SDK: returns the Sdk and
    its session token's claims."""
    sdk = Sdk(srv or tm.srv_a, app["api_key"])
    sdk.initialize(conference or new_id("conf"), user or new_id("user"), **init)
    body = {"platform": {"name": "Chrome"}, "constraints": {"audio": True}, "devices": [],
            "appVersion": "1.0", "meta": {"room": "a"}, "webrtcSdk": ""}
    sdk.token = expect(sdk.post("/sessions", body), 200)["token"]
    return sdk, claims_of(sdk.token)


def ids(listing):
    return [x["id"] for x in listing["data"]]


# ---------------------------------------------------------------------------
# conferences


def test_conferences_by_app_newest_first_paged(tm):
    owner, _, app = tm.owner_with_app()
    made = []
    for _ in range(5):  # each in its own millisecond: the order is the creation time's
        made.append(join(tm, app)[1]["cnf"])
        time.sleep(0.002)
    v = ok(tm, owner.token, "/conferences", appId=app["id"])
    assert v["count"] == 5 and ids(v) == made[::-1], v
    conf = v["data"][0]
    assert conf["app"] == app["id"] and conf["ongoing"] is True
    assert isinstance(conf["createdMs"], int) and isinstance(conf["conferenceId"], str)
    # pages of 2 cover the list once, in the same order; count stays the total
    pages = [ok(tm, owner.token, "/conferences", appId=app["id"], limit=2, offset=o)
             for o in (0, 2, 4, 6)]
    assert [p["count"] for p in pages] == [5, 5, 5, 5]
    assert sum((ids(p) for p in pages), []) == made[::-1]
    assert pages[3]["data"] == []
    for bad in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"limit": ""}, {"offset": -1},
                {"offset": "1.5"}, {"limit": "-3"}):
        invalid(get(tm, owner.token, "/conferences", appId=app["id"], **bad))
    assert len(ids(ok(tm, owner.token, "/conferences", appId=app["id"], limit=200))) == 5


def test_conferences_filters_and_their_errors(tm):
    owner, _, app = tm.owner_with_app()
    user = new_id("user")
    # each conference in its own millisecond: the bounds below tell them apart
    _, c1 = join(tm, app, user=user)
    time.sleep(0.002)
    _, c2 = join(tm, app)
    time.sleep(0.002)
    _, c3 = join(tm, app, user=user)
    time.sleep(0.002)
    _, c1b = join(tm, app, conference=None, user=user)
    everything = ok(tm, owner.token, "/conferences", appId=app["id"])
    created = {c["id"]: c["createdMs"] for c in everything["data"]}
    # a participant's conferences
    v = ok(tm, owner.token, "/conferences", participantId=c1["par"])
    assert ids(v) == [c1b["cnf"], c3["cnf"], c1["cnf"]] and v["count"] == 3
    v = ok(tm, owner.token, "/conferences", participantId=c1["par"], appId=app["id"])
    assert v["count"] == 3
    _, _, other_app = tm.owner_with_app()
    # time ranges: unix ms and ISO 8601, each bound as the creation times say
    t2 = created[c2["cnf"]]

    def within(test):
        return {cid for cid, ms in created.items() if test(ms)}

    v = ok(tm, owner.token, "/conferences", appId=app["id"], created_at_gte=t2)
    assert set(ids(v)) == within(lambda ms: ms >= t2) and v["count"] == len(v["data"])
    v = ok(tm, owner.token, "/conferences", appId=app["id"], created_at_lt=t2)
    assert set(ids(v)) == within(lambda ms: ms < t2) and c1["cnf"] in ids(v)
    last = created[c1b["cnf"]]
    v = ok(tm, owner.token, "/conferences", appId=app["id"], created_at_gt=t2, created_at_lte=last)
    assert set(ids(v)) == within(lambda ms: t2 < ms <= last) and c2["cnf"] not in ids(v)
    # two bounds on one side: the tighter
    v = ok(tm, owner.token, "/conferences", appId=app["id"], created_at_gte=0, created_at_gt=t2)
    assert set(ids(v)) == within(lambda ms: ms > t2)
    iso = datetime.fromtimestamp(t2 / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert ids(ok(tm, owner.token, "/conferences", appId=app["id"], created_at_gte=iso)) == \
        ids(ok(tm, owner.token, "/conferences", appId=app["id"], created_at_gte=t2))
    assert ok(tm, owner.token, "/conferences", appId=app["id"],
              created_at_gte="2000-01-01")["count"] == 4
    assert ok(tm, owner.token, "/conferences", appId=app["id"],
              created_at_lt="2000-01-01T00:00:00Z")["count"] == 0
    # time filters alone range over every app the caller sees
    v = ok(tm, owner.token, "/conferences", created_at_gte=0)
    assert v["count"] == 4 and set(ids(v)) == set(created)
    # at least one filter
    expect_tm_error(get(tm, owner.token, "/conferences"), 400, "missing_parameters")
    expect_tm_error(get(tm, owner.token, "/conferences", limit=5), 400, "missing_parameters")
    for bad in ({"appId": "nope"}, {"appId": ""}, {"participantId": "x"},
                {"created_at_gte": "yesterday"}, {"created_at_lt": "2026-13-01"},
                {"created_at_gt": "2026-11-23T10:00:00"}, {"created_at_lte": "-5"},
                {"created_at_gte": "2026-11-23T25:00:00Z"}, {"created_at_gte": ""}):
        invalid(get(tm, owner.token, "/conferences", **bad))
    # someone else's app or participant is not found
    not_found(get(tm, owner.token, "/conferences", appId=other_app["id"]))
    not_found(get(tm, owner.token, "/conferences", appId=str(uuid.uuid4())))
    not_found(get(tm, owner.token, "/conferences", participantId=str(uuid.uuid4())))
    # a participant of this app with another app filter: nothing
    assert ok(tm, owner.token, "/conferences", participantId=c1["par"],
              appId=other_app["id"]) == {"data": [], "count": 0}
    expect_unauthorized(tm.a.get(q("/conferences", appId=app["id"])))


def test_one_conference_with_participants_and_issues(tm):
    owner, _, app = tm.owner_with_app()
    cid = new_id("conf")
    sdk, c = join(tm, app, conference=cid, conferenceName="Weekly sync", userName="Ann")
    time.sleep(0.002)  # its own millisecond: participants are listed newest first
    _, c2 = join(tm, app, conference=cid, srv=tm.srv_b)
    sdk.post("/events/get-user-media", {"eventName": "getUserMediaError",
                                        "data": {"error": {"name": "NotAllowedError"}}})
    v = ok(tm, owner.token, f"/conferences/{c['cnf']}")["data"]
    assert v["id"] == c["cnf"] and v["conferenceId"] == cid and v["name"] == "Weekly sync"
    assert v["ongoing"] is True and isinstance(v["startMs"], int)
    assert [p["id"] for p in v["participants"]] == [c2["par"], c["par"]]
    assert v["participants"][1]["name"] == "Ann"
    assert [(i["code"], i["session"], i["participant"], i["connection"]) for i in v["issues"]] == \
        [("getusermedia_error", c["ses"], c["par"], None)]
    issues = ok(tm, owner.token, f"/conferences/{c['cnf']}/issues")
    assert issues["count"] == 1 and issues["data"] == v["issues"]
    assert ok(tm, owner.token, f"/conferences/{c['cnf']}/issues", offset=1) == \
        {"data": [], "count": 1}
    invalid(get(tm, owner.token, f"/conferences/{c['cnf']}/issues", limit=0))
    not_found(get(tm, owner.token, f"/conferences/{uuid.uuid4()}"))
    not_found(get(tm, owner.token, "/conferences/not-a-uuid"))
    not_found(get(tm, owner.token, f"/conferences/{c['par']}"))  # a participant's id


# ---------------------------------------------------------------------------
# events


def test_events_type_filter_and_paging(tm):
    owner, _, app = tm.owner_with_app()
    sdk, c = join(tm, app)
    conn = sdk.add_connection(peer="bob")["connection_id"]
    for i in range(3):
        sdk.post("/events/browser", {"eventName": "tabVisibility", "data": {"i": i}})
        expect(sdk.post("/stats", stats_body(conn)), 200)
    path = f"/conferences/{c['cnf']}/events"
    stored = tm.events(c)
    v = ok(tm, owner.token, path)
    assert v["count"] == len(stored) == 7 and len(v["data"]) == 7
    first = v["data"][0]
    assert first["category"] == "C" and first["type"] == "addConnection"
    assert [e["type"] for e in v["data"][1:]] == ["tabVisibility", "stats"] * 3
    # the data is the SDK's own JSON, and the fields are the stored ones
    assert v["data"][1]["data"] == {"i": 0}
    s = v["data"][2]
    assert (s["session"], s["participant"], s["connection"], s["peerId"]) == \
        (c["ses"], c["par"], conn, "peer")
    assert s["data"] == stats_body(conn)["data"] | {"audio": s["data"]["audio"],
                                                     "video": s["data"]["video"]}
    assert isinstance(s["at"], int) and s["id"].count("-") == 1
    assert v["next"] is None
    only = ok(tm, owner.token, path, type="stats")
    assert only["count"] == 3 and [e["type"] for e in only["data"]] == ["stats"] * 3
    assert [e["id"] for e in only["data"]] == [e["id"] for e in v["data"] if e["type"] == "stats"]
    rest = ok(tm, owner.token, path, type="-stats")
    assert rest["count"] == 4 and "stats" not in [e["type"] for e in rest["data"]]
    assert ok(tm, owner.token, path, type="nothing") == {"data": [], "count": 0, "next": None}
    assert ok(tm, owner.token, path, type="-nothing")["count"] == 7
    # offsets and the cursor, filtered or not
    assert ok(tm, owner.token, path, type="stats", offset=1, limit=1)["data"] == only["data"][1:2]
    page = ok(tm, owner.token, path, limit=3)
    assert page["data"] == v["data"][:3] and page["next"] == v["data"][2]["id"]
    after = ok(tm, owner.token, path, limit=3, after=page["next"])
    assert after["data"] == v["data"][3:6]
    assert ok(tm, owner.token, path, type="-stats", after=v["data"][1]["id"])["data"] == \
        [e for e in v["data"][2:] if e["type"] != "stats"]
    for bad in ({"type": ""}, {"type": "-"}, {"after": "x"}, {"after": "1-"}, {"limit": 500},
                {"offset": "a"}):
        invalid(get(tm, owner.token, path, **bad))


def test_events_pages_at_any_offset_across_marks(tm):
    """250 events: pages that start before, on and after the stored marks
    (every 10th event) are exactly the stream's entries at those offsets."""
    owner, _, app = tm.owner_with_app()
    sdk, c = join(tm, app)
    for b in range(5):
        items = [{"eventName": "onicecandidate", "peerId": "p", "data": {"n": b * 50 + i}}
                 for i in range(50)]
        expect(sdk.post("/connection/batch", {"data": items}), 200)
    stored = tm.events(c)
    assert len(stored) == 250
    path = f"/conferences/{c['cnf']}/events"
    for offset in (0, 1, 9, 10, 11, 99, 100, 101, 150, 199, 200, 201, 230, 249, 250, 400):
        v = ok(tm, owner.token, path, offset=offset, limit=50, srv="b" if offset % 2 else "a")
        assert v["count"] == 250
        want = [json.loads(e[b"d"])["n"] for e in stored[offset:offset + 50]]
        assert [e["data"]["n"] for e in v["data"]] == want, offset
    # filtered pages scan from the start: same answer
    v = ok(tm, owner.token, path, type="onicecandidate", offset=180, limit=10)
    assert [e["data"]["n"] for e in v["data"]] == list(range(180, 190)) and v["count"] == 250


# ---------------------------------------------------------------------------
# the quality summary

T0 = 1_700_000_000_000


def sample(t, a_in, v_in, a_out, v_out, pair, remote):
    """A /stats `data` whose every report has timestamp t.  a_in/v_in:
    (packetsReceived, bytesReceived, packetsLost, jitter); a_out/v_out:
    (packetsSent, bytesSent); pair: (rtt, availableOutgoingBitrate,
    bytesSent, bytesReceived); remote: per kind (packetsLost, roundTripTime)."""
    def inbound(kind, v):
        return {"timestamp": t, "kind": kind, "ssrc": 1, "packetsReceived": v[0],
                "bytesReceived": v[1], "packetsLost": v[2], "jitter": v[3]}

    def outbound(kind, v):
        return {"timestamp": t, "kind": kind, "ssrc": 2, "packetsSent": v[0], "bytesSent": v[1]}

    data = {"audio": {"inbound": [inbound("audio", a_in)], "outbound": [outbound("audio", a_out)]},
            "video": {"inbound": [], "outbound": []},
            "connection": {"timestamp": t, "state": "succeeded", "currentRoundTripTime": pair[0],
                           "availableOutgoingBitrate": pair[1], "bytesSent": pair[2],
                           "bytesReceived": pair[3],
                           "local": {"candidateType": "host", "protocol": "udp"},
                           "remote": {"candidateType": "srflx", "protocol": "udp"}},
            "remote": {"audio": {"inbound": [{"timestamp": t, "kind": "audio",
                                              "packetsLost": remote["audio"][0],
                                              "roundTripTime": remote["audio"][1]}]},
                       "video": {"inbound": []}}}
    if v_in:
        data["video"]["inbound"] = [inbound("video", v_in)]
        data["video"]["outbound"] = [outbound("video", v_out)]
        data["remote"]["video"]["inbound"] = [{"timestamp": t, "kind": "video",
                                               "packetsLost": remote["video"][0],
                                               "roundTripTime": remote["video"][1]}]
    return data


def post_stats(sdk, conn, data):
    expect(sdk.post("/stats", {"peerId": "bob", "connectionId": conn, "timeTaken": 2,
                               "data": data}), 200)


def approx(x):
    return pytest.approx(x, rel=1e-12, abs=0)


def test_summary_figures_from_known_samples(tm):
    owner, _, app = tm.owner_with_app()
    sdk, c = join(tm, app)
    conn1 = sdk.add_connection(peer="bob")["connection_id"]
    conn2 = sdk.add_connection(peer="carol")["connection_id"]
    path = f"/conferences/{c['cnf']}/summary"
    # before any sample: the connections, with nothing to say yet
    v = ok(tm, owner.token, path)["data"]
    assert v["conference"] == c["cnf"] and len(v["connections"]) == 2
    assert v["connections"][0]["duration"] is None
    assert v["connections"][0]["packetLoss"] == {"in": None, "out": None}
    assert v["connections"][0]["bitrate"] == {"in": None, "out": None}
    # conn1: two samples 10 s apart, audio and video
    post_stats(sdk, conn1, sample(T0, (1000, 100000, 10, 0.01), (4000, 2_000_000, 40, 0.02),
                                  (1000, 100000), (3000, 1_500_000),
                                  (0.1, 2_000_000, 1_600_000, 2_100_000),
                                  {"audio": (5, 0.1), "video": (30, 0.12)}))
    post_stats(sdk, conn1, sample(T0 + 10000, (2000, 200000, 20, 0.03), (8000, 4_500_000, 200, 0.04),
                                  (2000, 200000), (6000, 3_000_000),
                                  (0.3, 1_000_000, 3_200_000, 4_700_000),
                                  {"audio": (15, 0.2), "video": (90, 0.16)}))
    # conn2: audio only, two samples 4 s apart, starting 2 s after conn1's first
    post_stats(sdk, conn2, sample(T0 + 2000, (500, 40000, 0, 0.05), None, (500, 40000), None,
                                  (0.2, 500_000, 100_000, 150_000), {"audio": (0, 0.3)}))
    post_stats(sdk, conn2, sample(T0 + 6000, (700, 60000, 50, 0.02), None, (800, 70000), None,
                                  (0.4, 700_000, 130_000, 190_000), {"audio": (8, 0.1)}))
    v = ok(tm, owner.token, path)["data"]
    one = {x["id"]: x for x in v["connections"]}[conn1]
    assert (one["participant"], one["session"], one["peerId"]) == (c["par"], c["ses"], "bob")
    assert one["samples"] == 2 and one["duration"] == approx(10.0)
    assert one["packetLoss"]["in"] == approx(220 / 10220)
    assert one["packetLoss"]["out"] == approx(105 / 8000)
    assert one["audio"]["packetLoss"] == {"in": approx(20 / 2020), "out": approx(15 / 2000)}
    assert one["video"]["packetLoss"] == {"in": approx(200 / 8200), "out": approx(90 / 6000)}
    assert one["audio"]["jitter"] == {"mean": approx(0.02), "max": approx(0.03)}
    assert one["video"]["jitter"] == {"mean": approx(0.03), "max": approx(0.04)}
    assert one["rtt"] == {"mean": approx(0.2), "max": approx(0.3)}
    assert one["audio"]["rtt"] == {"mean": approx(0.15), "max": approx(0.2)}
    assert one["video"]["rtt"] == {"mean": approx(0.14), "max": approx(0.16)}
    assert one["bitrate"] == {"in": approx(2_600_000 * 8 / 10), "out": approx(1_600_000 * 8 / 10)}
    assert one["audio"]["bitrate"] == {"in": approx(80_000), "out": approx(80_000)}
    assert one["video"]["bitrate"] == {"in": approx(2_000_000), "out": approx(1_200_000)}
    assert one["availableBandwidth"]["out"] == {"mean": approx(1_500_000), "max": approx(2_000_000)}
    assert one["availableBandwidth"]["in"] == {"mean": None, "max": None}
    two = {x["id"]: x for x in v["connections"]}[conn2]
    assert two["duration"] == approx(4.0) and two["video"]["packetLoss"] == {"in": None, "out": None}
    assert two["packetLoss"] == {"in": approx(50 / 750), "out": approx(8 / 800)}
    assert two["bitrate"] == {"in": approx(40_000 * 8 / 4), "out": approx(30_000 * 8 / 4)}
    # the participant: counters, sums and counts added before dividing
    [par] = v["participants"]
    assert par["participant"] == c["par"] and par["connections"] == 2 and par["samples"] == 4
    assert par["duration"] == approx(10.0)
    assert par["packetLoss"]["in"] == approx(270 / (270 + 10700))
    assert par["packetLoss"]["out"] == approx(113 / 8800)
    assert par["audio"]["jitter"] == {"mean": approx(0.11 / 4), "max": approx(0.05)}
    assert par["rtt"] == {"mean": approx(1.0 / 4), "max": approx(0.4)}
    assert par["audio"]["rtt"] == {"mean": approx(0.7 / 4), "max": approx(0.3)}
    # bytes of both connections over the span from the earliest to the latest sample
    assert par["bitrate"] == {"in": approx((2_600_000 + 40_000) * 8 / 10),
                              "out": approx((1_600_000 + 30_000) * 8 / 10)}
    assert par["availableBandwidth"]["out"] == {"mean": approx(4_200_000 / 4),
                                                "max": approx(2_000_000)}
    not_found(get(tm, owner.token, f"/conferences/{uuid.uuid4()}/summary"))


# ---------------------------------------------------------------------------
# participants and sessions


def test_participants_and_sessions(tm):
    owner, _, app = tm.owner_with_app()
    cid = new_id("conf")
    ann_user = new_id("ann")
    # each joins in its own millisecond: the lists' order is the creation time's
    _, a1 = join(tm, app, conference=cid, user=ann_user, userName="Ann")
    time.sleep(0.002)
    _, b1 = join(tm, app, conference=cid)
    time.sleep(0.002)
    _, a2 = join(tm, app, user=ann_user)  # Ann in another conference
    v = ok(tm, owner.token, "/participants", appId=app["id"])
    assert ids(v) == [b1["par"], a1["par"]] and v["count"] == 2
    assert v["data"][1]["participantId"] == ann_user and v["data"][1]["name"] == "Ann"
    v = ok(tm, owner.token, "/participants", conferenceId=a2["cnf"])
    assert ids(v) == [a1["par"]]
    v = ok(tm, owner.token, "/participants", conferenceId=a1["cnf"], appId=app["id"], limit=1,
           offset=1)
    assert ids(v) == [a1["par"]] and v["count"] == 2
    one = ok(tm, owner.token, f"/participants/{a1['par']}")["data"]
    assert one["id"] == a1["par"] and one["app"] == app["id"]
    expect_tm_error(get(tm, owner.token, "/participants"), 400, "missing_parameters")
    invalid(get(tm, owner.token, "/participants", appId="x"))
    # sessions, by every filter and by combinations
    s = ok(tm, owner.token, "/sessions", appId=app["id"])
    assert ids(s) == [a2["ses"], b1["ses"], a1["ses"]] and s["count"] == 3
    assert ids(ok(tm, owner.token, "/sessions", conferenceId=a1["cnf"])) == [b1["ses"], a1["ses"]]
    assert ids(ok(tm, owner.token, "/sessions", participantId=a1["par"])) == [a2["ses"], a1["ses"]]
    both = ok(tm, owner.token, "/sessions", conferenceId=a1["cnf"], participantId=a1["par"])
    assert ids(both) == [a1["ses"]] and both["count"] == 1
    assert ok(tm, owner.token, "/sessions", participantId=a1["par"], limit=1, offset=1,
              appId=app["id"]) == {"data": [ok(tm, owner.token, f"/sessions/{a1['ses']}")["data"]],
                                   "count": 2}
    ses = ok(tm, owner.token, f"/sessions/{a1['ses']}")["data"]
    assert (ses["conference"], ses["participant"], ses["ongoing"]) == (a1["cnf"], a1["par"], True)
    assert ses["platform"] == {"name": "Chrome"} and ses["meta"] == {"room": "a"}
    expect_tm_error(get(tm, owner.token, "/sessions"), 400, "missing_parameters")
    invalid(get(tm, owner.token, "/sessions", conferenceId="nope"))
    not_found(get(tm, owner.token, f"/sessions/{uuid.uuid4()}"))
    not_found(get(tm, owner.token, f"/participants/{a1['ses']}"))


# ---------------------------------------------------------------------------
# visibility


def test_visibility(tm, admin):
    owner, org, app = tm.owner_with_app()
    sdk, c = join(tm, app)
    member = tm.a.create_account(token=owner.token, organization=org["id"])
    lapsed = tm.a.create_account(token=owner.token, organization=org["id"])
    expect(tm.a.put(f"/accounts/{lapsed.id}", {"status": "inactive"}, token=owner.token), 200)
    stranger = tm.a.create_account()
    other_owner, _, other_app = tm.owner_with_app()
    paths = [f"/conferences/{c['cnf']}", f"/conferences/{c['cnf']}/events",
             f"/conferences/{c['cnf']}/issues", f"/conferences/{c['cnf']}/summary",
             f"/participants/{c['par']}", f"/sessions/{c['ses']}",
             q("/conferences", appId=app["id"]), q("/conferences", participantId=c["par"]),
             q("/participants", appId=app["id"]), q("/participants", conferenceId=c["cnf"]),
             q("/sessions", appId=app["id"]), q("/sessions", conferenceId=c["cnf"]),
             q("/sessions", participantId=c["par"])]
    for token in (owner.token, member.token, admin):
        for path in paths:
            expect(tm.b.get(path, token=token), 200)
    for token in (stranger.token, other_owner.token):
        for path in paths:
            not_found(tm.a.get(path, token=token))
    # a member no longer active is refused before anything is read
    for path in paths + [q("/conferences", created_at_gte=0), q("/search", query="a")]:
        expect_forbidden(tm.a.get(path, token=lapsed.token))
    # time-only lists hold only the caller's own apps' conferences
    _, oc = join(tm, other_app)
    mine = ids(ok(tm, owner.token, "/conferences", created_at_gte=0))
    assert c["cnf"] in mine and oc["cnf"] not in mine
    theirs = ids(ok(tm, other_owner.token, "/conferences", created_at_gte=0))
    assert theirs == [oc["cnf"]]
    assert ok(tm, stranger.token, "/conferences", created_at_gte=0) == {"data": [], "count": 0}
    everyone = ids(ok(tm, admin, "/conferences", created_at_gte=0, limit=200))
    assert c["cnf"] in everyone and oc["cnf"] in everyone
    # a deleted app's data is gone for everyone but is not mixed into lists
    expect(tm.a.delete(f"/apps/{app['id']}", token=owner.token), 200)
    not_found(get(tm, owner.token, f"/conferences/{c['cnf']}"))
    not_found(get(tm, owner.token, "/conferences", appId=app["id"]))


# ---------------------------------------------------------------------------
# search


def test_search(tm, admin):
    owner, org, app = tm.owner_with_app()
    tag = uuid.uuid4().hex[:6]
    _, c1 = join(tm, app, conference=f"Standup-{tag}-1", conferenceName=f"Daily {tag} Standup",
                 user=f"u-{tag}-ann", userName=f"Zed{tag} Ann")
    _, c2 = join(tm, app, conference=f"standup-{tag}-2", user=f"u-{tag}-bob")
    other_owner, _, other_app = tm.owner_with_app()
    join(tm, other_app, conference=f"Standup-{tag}-other", conferenceName=f"Daily {tag} other")

    def search(query, token=owner.token):
        v = ok(tm, token, "/search", query=query)
        assert set(v) == {"matches"} and len(v["matches"]) <= 5
        return v["matches"]

    got = search(f"STANDUP-{tag}")
    assert [(m["id"], m["type"]) for m in got] == [(c1["cnf"], "conference"),
                                                   (c2["cnf"], "conference")]
    assert got[0] == {"name": f"Daily {tag} Standup", "id": c1["cnf"], "type": "conference",
                      "url": f"/conferences/{c1['cnf']}"}
    assert got[1]["name"] == f"standup-{tag}-2"  # no name: its id
    # names, case-insensitive, prefix only
    assert [m["id"] for m in search(f"daily {tag}")] == [c1["cnf"]]
    assert [(m["id"], m["type"], m["name"]) for m in search(f"zed{tag.upper()}")] == \
        [(c1["par"], "participant", f"Zed{tag} Ann")]
    assert [m["id"] for m in search(f"u-{tag}-")] == [c1["par"], c2["par"]]
    assert search(f"{tag}") == [] and search(f"andup-{tag}") == []
    # another organization's names never match; an admin's search spans all
    assert all(m["id"] != c1["cnf"] for m in search(f"standup-{tag}", other_owner.token))
    assert len(search(f"standup-{tag}", other_owner.token)) == 1
    assert len(search(f"standup-{tag}", admin)) == 3
    # at most five
    for i in range(6):
        join(tm, app, conference=f"many-{tag}-{i}")
    assert [m["name"] for m in search(f"many-{tag}")] == [f"many-{tag}-{i}" for i in range(5)]
    # 1 to 64 characters
    assert len(search("é" * 64)) == 0
    for bad in ("", "x" * 65, "é" * 65):
        invalid(get(tm, owner.token, "/search", query=bad))
    invalid(get(tm, owner.token, "/search"))
    expect_unauthorized(tm.a.get(q("/search", query="a")))


# ---------------------------------------------------------------------------
# plans, quota, billing


def test_plan_change_imposes_and_lifts_the_quota(tm, admin):
    owner, org, app = tm.owner_with_app()
    member = tm.a.create_account(token=owner.token, organization=org["id"])
    stranger = tm.a.create_account()
    path = f"/organizations/{org['id']}"
    v = ok(tm, owner.token, path)["data"]
    assert v["plan"] == "free" and v["usage"]["conferences"] == 0
    assert v["usage"]["conferencesLimit"] == 1000 and len(v["usage"]["month"]) == 6
    join(tm, app)
    assert ok(tm, owner.token, path)["data"]["usage"]["conferences"] == 1
    # onto "tiny" (1 a month): the next new conference is refused
    sub = f"/subscription/{org['id']}"
    v = expect(tm.b.put(sub, {"plan": "tiny"}, token=owner.token), 200)["data"]
    assert v["plan"] == "tiny" and v["usage"] == {"month": v["usage"]["month"], "conferences": 1,
                                                   "conferencesLimit": 1}
    sdk = Sdk(tm.srv_a, app["api_key"])
    body = {"apiKey": app["api_key"], "conferenceId": new_id("c"), "userId": "u"}
    expect_tm_error(sdk.post("/initialize", body, token=False), 403, "quota_exceeded")
    # an admin lifts it ("pro" is unlimited)
    v = expect(tm.a.put(sub, {"plan": "pro"}, token=admin), 200)["data"]
    assert v["plan"] == "pro" and v["usage"]["conferencesLimit"] is None
    expect(sdk.post("/initialize", body, token=False), 200)
    assert ok(tm, owner.token, path)["data"]["usage"]["conferences"] == 2
    # who may, and what is a plan
    expect_forbidden(tm.a.put(sub, {"plan": "free"}, token=member.token))
    assert tm.a.put(sub, {"plan": "free"}, token=stranger.token).status == 404
    assert tm.a.put(f"/subscription/{uuid.uuid4()}", {"plan": "free"}, token=admin).status == 404
    invalid(tm.a.put(sub, {"plan": "gold"}, token=owner.token))
    invalid(tm.a.put(sub, {"plan": 5}, token=owner.token))
    invalid(tm.a.put(sub, [], token=owner.token))
    expect_tm_error(tm.a.put(sub, {}, token=owner.token), 400, "missing_parameters")
    expect_tm_error(tm.a.put(sub, raw=b"{", token=owner.token), 400, "bad-json")
    assert ok(tm, owner.token, path)["data"]["plan"] == "pro"


def test_billing_is_not_configured(tm):
    owner = tm.a.create_account()
    for r in (tm.a.get("/billing/payment-token", token=owner.token),
              tm.a.post("/billing/payment-method", {"nonce": "x"}, token=owner.token)):
        v = expect(r, 501)
        assert v["status"] == "billing-not-configured" and v["message"], v
    expect_unauthorized(tm.a.get("/billing/payment-token"))


def test_redis_down_is_503(make_onair, redis_server):
    srv = ready(make_onair(redis_server, env=tm_env()))
    api = Api(srv)
    token = admin_login(api)["token"]
    redis_server.stop()
    wait_until(lambda: srv.get("/ready").status == 503, 2.0, message="/ready 503")
    for path in ("/conferences?created_at_gte=0", f"/conferences/{uuid.uuid4()}/events",
                 "/search?query=a", f"/sessions/{uuid.uuid4()}"):
        r = api.get(path, token=token)
        assert r.status == 503 and r.elapsed < 1.0, r
