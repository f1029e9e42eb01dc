"""The quality aggregates through the real /stats route (docs/telemetry.md,
"Quality aggregates"): what two samples of a known call leave in the
connection's hash, the summary figures derived from it by the documented
formulas (exact values from the generator's counters), a late sample, and
samples racing on two instances."""

import threading

import telemetry_payloads as tp
from accounts_util import expect
from telemetry_util import Sdk, tm  # noqa: F401


def connection(tm, srv=None):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    claims = sdk.join()
    conn = expect(sdk.post("/connection", tp.add_connection(sdk.token, "bob", "Bob")), 200)
    key = f"{tm.base(claims['app'])}:conn:{conn['connection_id']}"
    return sdk, conn["connection_id"], key


def post_sample(sdk, conn, data):
    raw = tp.dumps(tp.stats_body(sdk.token, "bob", conn, data)).encode()
    r = sdk.post("/stats", raw=raw)
    assert r.status == 200 and r.body == b'""', r


def ms(call, i):
    """A sample's time as stored: its latest report timestamp, rounded."""
    return round(call.time(i))


def test_two_samples_give_the_summary(tm):
    sdk, conn, key = connection(tm)
    call = tp.Call(seed=11, loss=0.02)
    post_sample(sdk, conn, call.sample(0))
    post_sample(sdk, conn, call.sample(1))
    h = tm.hash(key)
    t0, t1 = call.totals(0), call.totals(1)
    p0, p1 = call.pair(0), call.pair(1)

    assert h["samples"] == "2"
    assert (h["t_first"], h["t_last"]) == (str(ms(call, 0)), str(ms(call, 1)))
    assert (h["pair_t_first"], h["pair_t_last"]) == (h["t_first"], h["t_last"])
    assert (h["local_type"], h["remote_type"], h["protocol"]) == ("srflx", "srflx", "udp")
    for kind, p in (("audio", "a_"), ("video", "v_")):
        assert int(h[p + "pkts_in"]) == t1[kind]["packetsReceived"]
        assert int(h[p + "bytes_in"]) == t1[kind]["bytesReceived"]
        assert int(h[p + "lost_in"]) == t1[kind]["packetsLost"]
        assert int(h[p + "pkts_out"]) == t1[kind]["packetsSent"]
        assert int(h[p + "bytes_out"]) == t1[kind]["bytesSent"]
        assert int(h[p + "lost_out"]) == t1[kind]["remotePacketsLost"]
        assert int(h[p + "bytes_in_first"]) == t0[kind]["bytesReceived"]
        assert int(h[p + "bytes_out_first"]) == t0[kind]["bytesSent"]
        assert h[p + "jitter_n"] == "2" and h[p + "rtt_n"] == "2"
    assert int(h["bytes_in"]) == p1["bytesReceived"] and int(h["bytes_in_first"]) == p0["bytesReceived"]
    assert int(h["bytes_out"]) == p1["bytesSent"] and int(h["bytes_out_first"]) == p0["bytesSent"]

    # The summary, as docs/telemetry.md derives it.
    duration = (int(h["t_last"]) - int(h["t_first"])) / 1000
    assert duration == tp.STATS_INTERVAL_MS / 1000
    lost = sum(t1[k]["packetsLost"] for k in t1)
    received = sum(t1[k]["packetsReceived"] for k in t1)
    loss = (int(h["a_lost_in"]) + int(h["v_lost_in"])) / (
        int(h["a_lost_in"]) + int(h["v_lost_in"]) + int(h["a_pkts_in"]) + int(h["v_pkts_in"]))
    assert loss == lost / (lost + received) and 0.015 < loss < 0.025
    sent_loss = (int(h["a_lost_out"]) + int(h["v_lost_out"])) / (int(h["a_pkts_out"]) + int(h["v_pkts_out"]))
    assert sent_loss == sum(t1[k]["remotePacketsLost"] for k in t1) / sum(t1[k]["packetsSent"] for k in t1)
    for kind, p in (("audio", "a_"), ("video", "v_")):
        jitter = round(call.jitter[kind], 6)
        assert abs(float(h[p + "jitter_sum"]) / int(h[p + "jitter_n"]) - jitter) < 1e-12
        assert float(h[p + "jitter_max"]) == jitter
        assert abs(float(h[p + "rtt_sum"]) / int(h[p + "rtt_n"]) - round(call.rtt, 6)) < 1e-12
        bitrate = (int(h[p + "bytes_in"]) - int(h[p + "bytes_in_first"])) * 8000 / (
            int(h[p + "t_in_last"]) - int(h[p + "t_in_first"]))
        assert bitrate == (t1[kind]["bytesReceived"] - t0[kind]["bytesReceived"]) * 8 / 10
    assert abs(float(h["rtt_sum"]) / int(h["rtt_n"]) - round(call.rtt, 3)) < 1e-12
    bitrate_in = (int(h["bytes_in"]) - int(h["bytes_in_first"])) * 8000 / (
        int(h["pair_t_last"]) - int(h["pair_t_first"]))
    assert bitrate_in == (p1["bytesReceived"] - p0["bytesReceived"]) * 8 / 10
    # the audio+video 2-party call: ~1.2 Mbit/s of video and 32 kbit/s of audio, less the loss
    assert 1.15e6 < bitrate_in < 1.25e6
    assert float(h["avail_out_sum"]) / int(h["avail_out_n"]) == (
        p0["availableOutgoingBitrate"] + p1["availableOutgoingBitrate"]) / 2


def test_late_sample_keeps_the_totals(tm):
    """The SDK retries a failed POST with backoff: an older sample arriving
    after a newer one leaves the counters, maxima and times as they were."""
    sdk, conn, key = connection(tm)
    call = tp.Call(seed=12)
    post_sample(sdk, conn, call.sample(0))
    post_sample(sdk, conn, call.sample(2))
    before = tm.hash(key)
    post_sample(sdk, conn, call.sample(1))
    after = tm.hash(key)
    counted = {"samples", "rtt_sum", "rtt_n", "avail_out_sum", "avail_out_n"} | {
        p + g for p in ("a_", "v_") for g in ("jitter_sum", "jitter_n", "rtt_sum", "rtt_n")}
    assert {f: v for f, v in after.items() if f not in counted} == \
        {f: v for f, v in before.items() if f not in counted}
    assert after["samples"] == "3" and after["t_last"] == str(ms(call, 2))


def test_relay_tcp_sample(tm):
    sdk, conn, key = connection(tm)
    post_sample(sdk, conn, tp.Call(seed=13, relay=True, tcp=True).sample(0))
    h = tm.hash(key)
    assert (h["local_type"], h["protocol"]) == ("relay", "tcp")


def test_samples_racing_on_two_instances(tm):
    """Samples of one connection posted at once through both instances: each
    is folded in exactly once (one script per sample)."""
    sdk, conn, key = connection(tm)
    other = Sdk(tm.srv_b, sdk.api_key)
    other.token = sdk.token
    call = tp.Call(seed=14)
    errors = []

    def post(client, indexes):
        try:
            for i in indexes:
                post_sample(client, conn, call.sample(i))
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=post, args=(c, range(k, 24, 2)))
               for k, c in enumerate((sdk, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    h = tm.hash(key)
    assert h["samples"] == "24" and h["rtt_n"] == "24" and h["v_jitter_n"] == "24"
    assert int(h["v_bytes_out"]) == call.totals(23)["video"]["bytesSent"]
    assert h["t_first"] == str(ms(call, 0)) and h["t_last"] == str(ms(call, 23))
