"""Telemetry event routes (API.md §6.1): every route's happy path, what is
stored (the raw JSON slice, byte for byte), deltas, connection events,
batches, stats, tracks, issues, body limits, /v1 and the rate limit."""

import json
import time

from accounts_util import expect, ready
from telemetry_util import (Sdk, TmEnv, expect_tm_error, new_id, stats_body, tm,  # noqa: F401
                            tm_env)


def joined(tm, **app):
    _, _, a = tm.owner_with_app(**app)
    sdk = tm.sdk(a)
    return sdk, sdk.join()


def data_slice(raw):
    """The exact bytes of the body's top-level "data" value."""
    text = raw.decode()
    key = '"data":'
    start = text.index(key) + len(key)
    while text[start] == " ":
        start += 1
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end].encode()


def test_stored_bytes_are_the_bytes_sent(tm):
    sdk, c = joined(tm)
    conn = sdk.add_connection()
    # odd spacing, escapes, unicode and number forms that a re-encoder would change
    raw = ('{"token": "%s", "connectionId": "%s", "peerId": "p", "data": '
           '{"audio" :{"inbound":[ {"jitter":1.0E-3,"x":"\\u00e9\\/é"} ]},  "video":{},'
           '"connection":{"local":{"candidateType":"host"}} ,"remote":{}}, "timeTaken": 3}'
           % (sdk.token, conn["connection_id"])).encode()
    r = sdk.post("/stats", raw=raw)
    assert r.status == 200 and r.body == b'""', r
    ev = tm.events(c)[-1]
    assert ev[b"c"] == b"S" and ev[b"t"] == b"stats" and ev[b"n"] == conn["connection_id"].encode()
    assert ev[b"d"] == data_slice(raw)
    assert ev[b"s"] == c["ses"].encode() and ev[b"p"] == c["par"].encode()


def test_getusermedia_and_browser_events(tm):
    sdk, c = joined(tm)
    gum = {"eventName": "getUserMedia",
           "data": {"constraints": {"audio": True}, "audio": [{"id": "t1", "label": "Mic"}]}}
    r = sdk.post("/events/get-user-media", gum)
    assert r.status == 200 and r.body == b'""', r
    r = sdk.post("/events/browser", {"eventName": "tabVisibility", "data": {"visible": False}})
    assert r.status == 200 and r.body == b'""', r
    evs = tm.events(c)
    assert [(e[b"c"], e[b"t"]) for e in evs[-2:]] == [(b"M", b"getUserMedia"),
                                                     (b"B", b"tabVisibility")]
    assert json.loads(evs[-2][b"d"]) == gum["data"]
    assert tm.issues(c) == []
    sdk.post("/events/get-user-media", {"eventName": "getUserMediaError",
                                        "data": {"error": {"name": "NotAllowedError"}}})
    assert tm.issues(c) == ["getusermedia_error"]
    expect_tm_error(sdk.post("/events/browser", {"data": {}}), 400, "missing_parameters")


def test_event_names_up_to_the_sdks_120_characters_are_stored(tm):
    """@peermetrics/sdk addEvent() accepts an eventName of up to 120 characters
    (CONSTRAINTS.customEvent.eventNameLength) and takes every 4xx as final: each such name
    is stored, non-ASCII ones too; a longer one is 400 invalid_parameters."""
    sdk, c = joined(tm)
    for name in ("custom-" + "n" * 113, "é" * 120):
        r = sdk.post("/events/browser", {"eventName": name, "data": {"eventName": name}})
        assert r.status == 200 and r.body == b'""', r
        assert tm.events(c)[-1][b"t"] == name.encode()
    n = len(tm.events(c))
    expect_tm_error(sdk.post("/events/browser", {"eventName": "n" * 121}), 400,
                    "invalid_parameters")
    assert len(tm.events(c)) == n


def test_delta_backdates_and_is_validated(tm):
    sdk, c = joined(tm)
    now = time.time() * 1000
    expect(sdk.post("/events/browser", {"eventName": "late", "delta": 60000}), 200)
    at = int(tm.events(c)[-1][b"at"])
    assert now - 60000 - 2000 <= at <= now - 60000 + 2000, (now, at)
    expect(sdk.post("/events/browser", {"eventName": "now", "delta": 0}), 200)
    n = len(tm.events(c))
    for bad in (-1, "10", None and 0, [], {}, True):
        if bad is None:
            continue
        expect_tm_error(sdk.post("/events/browser", {"eventName": "x", "delta": bad}), 400,
                        "invalid_parameters")
        expect_tm_error(sdk.post("/stats", {**stats_body("00000000-0000-4000-8000-000000000000"),
                                            "delta": bad}), 400, "invalid_parameters")
    assert len(tm.events(c)) == n


def test_add_connection_and_its_events(tm):
    sdk, c = joined(tm)
    conn = sdk.add_connection(peer="bob", peerName="Bob", connectionState="connecting")
    base = tm.base(c["app"])
    h = tm.hash(f"{base}:conn:{conn['connection_id']}")
    assert h["conference"] == c["cnf"] and h["session"] == c["ses"] and h["state"] == "connecting"
    peer = tm.hash(f"{base}:par:{conn['peer_id']}")
    assert peer["participantId"] == "bob" and peer["name"] == "Bob"
    # the same peer again is the same participant
    assert sdk.add_connection(peer="bob")["peer_id"] == conn["peer_id"]
    cid = conn["connection_id"]
    for name, data in (("onconnectionstatechange", "connected"),
                       ("oniceconnectionstatechange", "completed"),
                       ("onicegatheringstatechange", "complete"),
                       ("onsignalingstatechange", {"signalingState": "stable"}),
                       ("onsignalingstatechange", "have-local-offer"),
                       ("onicecandidate", {"candidate": "candidate:1 1 udp 1 192.0.2.1 5 typ host"})):
        r = sdk.post("/connection", {"eventName": name, "peerId": "bob", "connectionId": cid,
                                     "data": data})
        assert r.status == 200 and r.body == b'""', (name, r)
    assert tm.hash(f"{base}:conn:{cid}")["state"] == "connected"
    # enum values
    n = len(tm.events(c))
    for name, data in (("onconnectionstatechange", "nope"),
                       ("oniceconnectionstatechange", "done"),
                       ("onicegatheringstatechange", 3),
                       ("onsignalingstatechange", {"signalingState": "x"}),
                       ("onsignalingstatechange", "sideways"),
                       # the names without "on" too, as issue detection takes them
                       ("connectionstatechange", "nope"),
                       ("iceconnectionstatechange", "done"),
                       ("icegatheringstatechange", 3),
                       ("signalingstatechange", "sideways")):
        expect_tm_error(sdk.post("/connection", {"eventName": name, "peerId": "bob",
                                                 "connectionId": cid, "data": data}),
                        400, "invalid_parameters")
    # unknown connection: another conference's, or none at all
    other_sdk, _ = joined(tm)
    other = other_sdk.add_connection()["connection_id"]
    for unknown in (other, "00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        expect_tm_error(sdk.post("/connection", {"eventName": "onconnectionstatechange",
                                                 "peerId": "bob", "connectionId": unknown,
                                                 "data": "connected"}),
                        400, "connection_not_found")
    expect_tm_error(sdk.post("/connection", {"eventName": "x"}), 400, "missing_parameters")
    assert len(tm.events(c)) == n


def test_add_connection_validates_its_connection_state(tm):
    """§6.1: connection events validate their enum values: addConnection's connectionState,
    when present (the SDK sends pc.connectionState), is an RTCPeerConnectionState."""
    sdk, c = joined(tm)
    n = len(tm.events(c))
    for bad in ("exploded", "", "stable", 3, {}):
        expect_tm_error(sdk.post("/connection", {"eventName": "addConnection", "peerId": "bob",
                                                 "connectionState": bad}),
                        400, "invalid_parameters")
    assert len(tm.events(c)) == n
    base = tm.base(c["app"])
    for state, stored in (("connected", "connected"), (None, "new")):
        cid = sdk.add_connection(peer="bob", connectionState=state)["connection_id"]
        assert tm.hash(f"{base}:conn:{cid}")["state"] == stored


def test_ice_failure_and_connection_failure_are_issues(tm):
    sdk, c = joined(tm)
    cid = sdk.add_connection(peer="p")["connection_id"]
    sdk.post("/connection", {"eventName": "oniceconnectionstatechange", "peerId": "p",
                             "connectionId": cid, "data": "failed"})
    sdk.post("/connection", {"eventName": "onconnectionstatechange", "peerId": "p",
                             "connectionId": cid, "data": "failed"})
    assert tm.issues(c) == ["ice_failed", "connection_failed"]


def test_state_and_getusermedia_issues_are_recorded_once(tm):
    """ice_failed and connection_failed once per connection, getusermedia_error once per
    session, however often the SDK reports them; the marks are not part of the session."""
    owner, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    c = sdk.join()
    cid = sdk.add_connection(peer="p")["connection_id"]
    for _ in range(3):
        for name in ("oniceconnectionstatechange", "onconnectionstatechange"):
            expect(sdk.post("/connection", {"eventName": name, "peerId": "p",
                                            "connectionId": cid, "data": "failed"}), 200)
    for _ in range(2):
        expect(sdk.post("/events/get-user-media",
                        {"eventName": "getUserMedia",
                         "data": {"error": {"name": "NotAllowedError", "message": "denied"}}}), 200)
    assert tm.issues(c) == ["ice_failed", "connection_failed", "getusermedia_error"], tm.issues(c)
    # another connection fails on its own account
    other = sdk.add_connection(peer="q")["connection_id"]
    expect(sdk.post("/connection", {"eventName": "oniceconnectionstatechange", "peerId": "q",
                                    "connectionId": other, "data": "failed"}), 200)
    assert tm.issues(c)[-1] == "ice_failed" and len(tm.issues(c)) == 4
    ses = expect(tm.a.get(f"/sessions/{c['ses']}", token=owner.token), 200)["data"]
    assert not [k for k in ses if k.startswith("issue:")], ses


def test_stats_relay_and_tcp_are_issues_once(tm):
    sdk, c = joined(tm)
    cid = sdk.add_connection()["connection_id"]
    expect(sdk.post("/stats", stats_body(cid)), 200)
    assert tm.issues(c) == []
    assert tm.hash(f"{tm.base(c['app'])}:conn:{cid}")["type"] == "host"
    for _ in range(2):
        expect(sdk.post("/stats", stats_body(cid, candidate="relay", protocol="tcp")), 200)
    assert sorted(tm.issues(c)) == ["tcp_used", "turn_used"]
    assert tm.hash(f"{tm.base(c['app'])}:conn:{cid}")["type"] == "relay"
    # stats need a known connection
    expect_tm_error(sdk.post("/stats", {**stats_body(cid), "connectionId": None}), 400,
                    "connection_not_found")
    expect_tm_error(sdk.post("/stats", {"connectionId": cid, "data": 5}), 400,
                    "invalid_parameters")


def test_stats_on_an_ended_connection(tm):
    sdk, c = joined(tm)
    cid = sdk.add_connection(peer="p")["connection_id"]
    expect(sdk.post("/connection", {"eventName": "removeConnection", "peerId": "p",
                                    "connectionId": cid}), 200)
    n = len(tm.events(c))
    expect_tm_error(sdk.post("/stats", stats_body(cid)), 400, "connection_ended")
    assert len(tm.events(c)) == n


def test_unload_ends_session_connections_and_conference(tm):
    _, _, app = tm.owner_with_app()
    conference = new_id("c")
    ann, bob = tm.sdk(app), tm.sdk(app, tm.srv_b)
    ca, cb = ann.join(conference, "ann"), bob.join(conference, "bob")
    cid = ann.add_connection(peer="bob")["connection_id"]
    base, ckey = tm.base(app["id"]), f"{tm.base(app['id'])}:conf:{ca['cnf']}"
    assert tm.hash(ckey)["ongoing"] == "1"
    expect(ann.post("/events/browser", {"eventName": "unload"}), 200)
    assert tm.hash(f"{base}:ses:{ca['ses']}")["ongoing"] == "0"
    assert "endMs" in tm.hash(f"{base}:conn:{cid}")
    assert tm.hash(ckey)["ongoing"] == "1"  # bob is still there
    expect(bob.post("/events/browser", {"eventName": "endCall"}), 200)
    conf = tm.hash(ckey)
    assert conf["ongoing"] == "0" and int(conf["duration"]) >= 0, conf
    # ended connections take no stats
    expect_tm_error(ann.post("/stats", stats_body(cid)), 400, "connection_ended")
    assert cb["cnf"] == ca["cnf"]


def test_ending_a_session_does_not_revive_an_expired_connection(tm):
    """A connection hash is refreshed only by its own events, the session's connection set by
    every event: once the hash has expired (deleted here), ending the session must neither
    recreate it nor leave any key without the retention's TTL."""
    sdk, c = joined(tm)
    gone = sdk.add_connection(peer="p")["connection_id"]
    live = sdk.add_connection(peer="q")["connection_id"]
    base = tm.base(c["app"])
    tm.r.delete(f"{base}:conn:{gone}")
    expect(sdk.post("/events/browser", {"eventName": "endCall"}), 200)
    assert not tm.r.exists(f"{base}:conn:{gone}")
    assert "endMs" in tm.hash(f"{base}:conn:{live}")
    no_ttl = [k for k in tm.r.scan_iter(f"{base}*") if tm.r.ttl(k) == -1]
    assert no_ttl == [], no_ttl


def test_batch_skips_items_without_event_name_or_peer(tm):
    sdk, c = joined(tm)
    cid = sdk.add_connection(peer="p")["connection_id"]
    items = [{"eventName": "onicecandidate", "peerId": "p", "timeDelta": 5, "data": {"n": 1}},
             {"peerId": "p", "data": {"n": 2}},
             {"eventName": "onnegotiationneeded", "data": {"n": 3}},
             {"eventName": "onconnectionstatechange", "peerId": "p", "connectionId": cid,
              "data": "connected", "delta": 10},
             "junk"]
    n = len(tm.events(c))
    r = sdk.post("/connection/batch", {"delta": 100, "data": items})
    assert r.status == 200 and r.body == b'""', r
    evs = tm.events(c)[n:]
    assert [e[b"t"] for e in evs] == [b"onicecandidate", b"onconnectionstatechange"]
    assert json.loads(evs[0][b"d"]) == {"n": 1} and evs[1][b"d"] == b'"connected"'
    # a malformed item refuses the whole batch
    bad = items + [{"eventName": "onconnectionstatechange", "peerId": "p", "connectionId": cid,
                    "data": "sideways"}]
    expect_tm_error(sdk.post("/connection/batch", {"data": bad}), 400, "invalid_parameters")
    expect_tm_error(sdk.post("/connection/batch", {"data": {}}), 400, "invalid_parameters")
    assert len(tm.events(c)) == n + 2


def test_batch_with_add_connection_answers_the_empty_string(tm):
    """§6.1: POST /connection/batch answers 200 "" whatever its items, an addConnection
    among them too (which still creates its connection)."""
    sdk, c = joined(tm)
    items = [{"eventName": "addConnection", "peerId": "bob", "peerName": "Bob"},
             {"eventName": "onicecandidate", "peerId": "bob", "data": {"n": 1}}]
    r = sdk.post("/connection/batch", {"data": items})
    assert r.status == 200 and r.body == b'""', r
    assert len(tm.r.zrange(f"{tm.base(c['app'])}:conf:{c['cnf']}:conns", 0, -1)) == 1
    assert [e[b"t"] for e in tm.events(c)[-2:]] == [b"addConnection", b"onicecandidate"]


def test_large_bodies(tm):
    sdk, c = joined(tm)
    cid = sdk.add_connection(peer="p")["connection_id"]
    item = {"eventName": "onicecandidate", "peerId": "p", "data": {"pad": "x" * 900}}
    big = {"token": sdk.token, "data": [item] * 1000}  # ~1 MB
    raw = json.dumps(big).encode()
    assert len(raw) < 1 << 20
    n = len(tm.events(c))
    assert sdk.post("/connection/batch", raw=raw).status == 200
    assert len(tm.events(c)) == n + 1000
    over = json.dumps({"token": sdk.token, "data": [item] * 1200}).encode()
    assert len(over) > 1 << 20
    r = sdk.post("/connection/batch", raw=over)
    assert r.status == 413, r
    body = stats_body(cid)
    body["data"]["pad"] = "y" * (1 << 20)
    assert sdk.post("/stats", body).status == 413
    body["data"]["pad"] = "y" * 600000
    assert sdk.post("/stats", body).status == 200
    # the default limit elsewhere
    assert sdk.post("/events/browser", {"eventName": "x", "data": "z" * 70000}).status == 413
    assert len(tm.events(c)) == n + 1001


def test_tracks(tm):
    sdk, c = joined(tm)
    cid = sdk.add_connection(peer="p")["connection_id"]
    body = {"event": "ontrack", "peerId": "p", "connectionId": cid, "trackId": "trk-1",
            "data": {"kind": "video", "direction": "inbound", "label": "cam"}}
    v = expect(sdk.post("/tracks", body), 200)
    t = v["data"]
    assert t["trackId"] == "trk-1" and t["kind"] == "video" and t["direction"] == "inbound"
    assert t["label"] == "cam" and t["connection"] == cid and t["muted"] is False
    v = expect(sdk.put("/tracks", {"event": "mute", "trackId": "trk-1", "data": {}}), 200)
    assert v["data"]["muted"] is True and v["data"]["connection"] == cid
    v = expect(sdk.put("/tracks", {"event": "ended", "trackId": "trk-1"}), 200)
    assert v["data"]["ended"] is True
    assert [e[b"t"] for e in tm.events(c)[-3:]] == [b"ontrack", b"mute", b"ended"]
    assert all(e[b"c"] == b"T" for e in tm.events(c)[-3:])
    expect_tm_error(sdk.put("/tracks", {"event": "mute", "trackId": "nope"}), 400,
                    "track_not_found")
    expect_tm_error(sdk.put("/tracks", {"event": "jump", "trackId": "trk-1"}), 400,
                    "invalid_parameters")
    expect_tm_error(sdk.post("/tracks", {**body, "event": "mute"}), 400, "invalid_parameters")
    expect_tm_error(sdk.post("/tracks", {**body, "trackId": None}), 400, "missing_parameters")
    expect_tm_error(sdk.post("/tracks", {**body, "connectionId": None}), 400,
                    "connection_not_found")


def test_v1_aliases_and_text_plain(tm):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app, root="/v1")
    c = sdk.join()
    cid = sdk.add_connection()["connection_id"]
    for path, body in (("/events/browser", {"eventName": "focus"}),
                       ("/events/get-user-media", {"eventName": "getUserMedia", "data": {}}),
                       ("/connection/batch", {"data": []}),
                       ("/stats", stats_body(cid))):
        r = sdk.post(path, body)
        assert r.status == 200 and r.body == b'""', (path, r)
    expect(sdk.put("/sessions", {"platform": {}}), 200)
    assert len(tm.events(c)) == 4  # addConnection, focus, getUserMedia, stats
    # any Content-Type, or none
    for ct in ("application/json", "application/x-www-form-urlencoded", ""):
        r = sdk.post("/events/browser", {"eventName": "x"}, headers={"Content-Type": ct})
        assert r.status == 200, (ct, r)


def test_rate_limit_per_client_ip(make_onair, redis_server):
    srv = ready(make_onair(redis_server, env=tm_env(ONAIR_TELEMETRY_RATE_PER_MIN="5")))
    env = TmEnv(srv, srv, redis_server)
    _, _, app = env.owner_with_app()
    sdk = env.sdk(app)
    sdk.join()  # two requests
    codes = [sdk.post("/events/browser", {"eventName": "x"}).status for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429], codes
    r = sdk.post("/events/browser", {"eventName": "x"})
    v = expect_tm_error(r, 429, "rate-limited")
    assert int(r.header("Retry-After")) >= 1, v


def test_rate_limit_honours_trusted_proxies(make_onair, redis_server):
    srv = ready(make_onair(redis_server, env=tm_env(ONAIR_TELEMETRY_RATE_PER_MIN="3",
                                                    ONAIR_TRUSTED_PROXIES="127.0.0.1/32")))
    env = TmEnv(srv, srv, redis_server)
    _, _, app = env.owner_with_app()
    sdk = env.sdk(app)
    sdk.join()
    ip = {"X-Forwarded-For": "203.0.113.9"}
    assert sdk.post("/events/browser", {"eventName": "x"}).status == 200
    assert sdk.post("/events/browser", {"eventName": "x"}).status == 429
    # another client behind the proxy has its own allowance
    for _ in range(3):
        assert sdk.post("/events/browser", {"eventName": "x"}, headers=ip).status == 200
    assert sdk.post("/events/browser", {"eventName": "x"}, headers=ip).status == 429


def test_realistic_call_folds_into_the_connection_aggregates(tm):
    import telemetry_payloads as tp
    sdk, c = joined(tm)
    add = tp.add_connection(sdk.token, "bob", peer_name="Bob")
    conn = expect(sdk.post("/connection", add), 200)["connection_id"]
    call = tp.Call(seed=7, loss=0.01)
    for i in range(3):
        raw = tp.dumps(tp.stats_body(sdk.token, "bob", conn, call.sample(i))).encode()
        r = sdk.post("/stats", raw=raw)
        assert r.status == 200 and r.body == b'""', r
        assert tm.events(c)[-1][b"d"] == data_slice(raw)
    h = tm.hash(f"{tm.base(c['app'])}:conn:{conn}")
    totals = call.totals(2)
    assert h.get("samples") == "3", " ".join(sorted(h))
    assert int(h["a_pkts_in"]) == totals["audio"]["packetsReceived"]
    assert int(h["v_bytes_out"]) == totals["video"]["bytesSent"]
    assert int(h["v_lost_in"]) == totals["video"]["packetsLost"]
    assert h["type"] == h["local_type"] == "srflx"
    assert tm.issues(c) == []
    # a relayed call over TCP, and a realistic batch of connection events
    relay = tp.Call(seed=8, relay=True, tcp=True)
    expect(sdk.post("/stats", tp.stats_body(sdk.token, "bob", conn, relay.sample(0))), 200)
    assert sorted(tm.issues(c)) == ["tcp_used", "turn_used"]
    batch = tp.batch_body(sdk.token, "bob", conn, min_bytes=20 * 1024)
    n = len(tm.events(c))
    expect(sdk.post("/connection/batch", batch), 200)
    assert len(tm.events(c)) == n + len(batch["data"])
    expect(sdk.post("/events/get-user-media", tp.gum_event(sdk.token, kind="error")), 200)
    assert tm.issues(c)[-1] == "getusermedia_error"


def test_store_down_is_a_fast_503_the_sdk_retries(make_onair, redis_server):
    srv = ready(make_onair(redis_server, env=tm_env(ONAIR_REDIS_TIMEOUT_MS="200")))
    env = TmEnv(srv, srv, redis_server)
    _, _, app = env.owner_with_app()
    sdk = env.sdk(app)
    sdk.join()
    redis_server.pause()
    try:
        for path, body in (("/events/browser", {"eventName": "x"}),
                           ("/initialize", {"apiKey": app["api_key"], "conferenceId": "c",
                                            "userId": "u", "token": None})):
            r = sdk.post(path, body)
            assert r.status == 503 and r.header("Retry-After"), r
            assert r.elapsed < 2, r.elapsed
    finally:
        redis_server.resume()


def test_browsers_on_any_site_may_call_the_sdk_routes(tm):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app, root="/v1")
    origin = {"Origin": "https://customer.example"}
    r = sdk.post("/initialize", {"apiKey": app["api_key"], "conferenceId": new_id("c"),
                                 "userId": "u"}, token=False, headers=origin)
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") == origin["Origin"], r
    sdk.token = r.json()["token"]
    r = sdk.send("OPTIONS", "/stats", raw=b"", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status == 204 and r.header("Access-Control-Allow-Origin") == origin["Origin"], r
