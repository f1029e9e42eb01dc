"""tests/api/telemetry_payloads.py keeps its promises: deterministic for a
seed, the SDK's shapes, cumulative counters that grow, bodies of the size
asked for."""

import json

import telemetry_payloads as tp


def test_deterministic():
    a = tp.dumps(tp.stats_body("t", "p", "c", tp.Call(7).sample(2)))
    assert a == tp.dumps(tp.stats_body("t", "p", "c", tp.Call(7).sample(2)))
    assert a != tp.dumps(tp.stats_body("t", "p", "c", tp.Call(8).sample(2)))
    assert tp.dumps(tp.batch_body("t", "p", "c", 5000, seed=3)) == \
        tp.dumps(tp.batch_body("t", "p", "c", 5000, seed=3))


def test_stats_shape():
    call = tp.Call(1)
    data = call.sample(1)
    assert set(data) == {"audio", "video", "connection", "remote"}
    for kind in ("audio", "video"):
        (inb,) = data[kind]["inbound"]
        (out,) = data[kind]["outbound"]
        assert inb["type"] == "inbound-rtp" and out["type"] == "outbound-rtp"
        t = call.totals(1)[kind]
        assert inb["packetsReceived"] == t["packetsReceived"]
        assert out["bytesSent"] == t["bytesSent"]
        assert inb["bitrate"] > 0  # the SDK's derived rates, from the second sample
        (rin,) = data["remote"][kind]["inbound"]
        assert rin["type"] == "remote-inbound-rtp" and rin["roundTripTime"] > 0
    pair = data["connection"]
    assert pair["type"] == "candidate-pair" and pair["nominated"]
    assert pair["local"]["candidateType"] == "srflx" and pair["local"]["protocol"] == "udp"
    assert "bitrate" not in call.sample(0)["audio"]["inbound"][0]
    # JSON.stringify writes integral numbers without ".0"
    assert ".0," not in tp.dumps(data) and ".0}" not in tp.dumps(data)


def test_counters_grow_with_loss():
    call = tp.Call(2, loss=0.1)
    t0, t1 = call.totals(0)["video"], call.totals(1)["video"]
    assert t1["packetsSent"] > t0["packetsSent"] and t1["packetsLost"] > t0["packetsLost"] > 0
    assert t0["packetsLost"] == int(t0["packetsSent"] * 0.1)
    assert call.time(1) - call.time(0) == tp.STATS_INTERVAL_MS


def test_variants():
    relay = tp.Call(3, relay=True).sample(0)["connection"]["local"]
    assert relay["candidateType"] == "relay" and relay["relayProtocol"] == "udp"
    turn_tcp = tp.Call(3, relay=True, tcp=True).sample(0)["connection"]["local"]
    assert turn_tcp["candidateType"] == "relay" and turn_tcp["relayProtocol"] == "tcp"
    tcp = tp.Call(3, tcp=True).sample(0)["connection"]
    assert tcp["local"]["protocol"] == "tcp" and tcp["local"]["candidateType"] == "host"
    audio = tp.Call(3, kinds=("audio",), remote=False).sample(0)
    assert audio["video"] == {"inbound": [], "outbound": []} and "remote" not in audio


def test_sizes():
    big = tp.dumps(tp.stats_body("t", "p", "c", tp.large_stats_data(1, 100 * 1024)))
    assert 100 * 1024 <= len(big) < 1024 * 1024
    batch = tp.batch_body("t", "p", "c", 100 * 1024)
    assert 100 * 1024 <= len(tp.dumps(batch)) < 110 * 1024
    assert all(i["eventName"] and i["peerId"] == "p" for i in batch["data"])
    assert all(i["data"] != "failed" for i in batch["data"])


def test_events():
    ev = tp.connection_event("t", "p", "c", "oniceconnectionstatechange", "failed")
    assert ev["data"] == "failed" and ev["connectionId"] == "c"
    add = tp.add_connection("t", "p", "Bob")
    assert add["eventName"] == "addConnection" and add["peerName"] == "Bob"
    err = tp.gum_event("t", "error", "NotFoundError")
    assert err["data"]["error"] == {"name": "NotFoundError", "message": "Requested device not found"}
    assert "error" not in tp.gum_event("t", "constraints")["data"]
    json.loads(tp.dumps(tp.gum_event("t", "stream", delta=5)))
    # webrtc-stats sends the signaling state with both descriptions, not a bare state
    sig = tp.signaling_data(tp.random.Random(1), "stable")
    assert sig["signalingState"] == "stable" and set(sig) == {"signalingState", "localDescription",
                                                               "remoteDescription"}
    assert sig["localDescription"] is None or sig["localDescription"]["sdp"].startswith("v=0\r\n")
