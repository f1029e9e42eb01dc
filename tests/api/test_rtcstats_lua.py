"""storage/scripts/lib/rtcstats.lua against a real redis-server: how the
(field, op, value) triples of protocol/rtcstats.h's rtc_updates fold samples
into a connection's quality aggregates (docs/telemetry.md)."""

from harness import REPO_ROOT

LIB = (REPO_ROOT / "storage" / "scripts" / "lib" / "rtcstats.lua").read_text()
# The library as a route's script would call it: ARGV[1] is not a triple.
SCRIPT = LIB + "\nrtcstats_apply(KEYS[1], ARGV, 2)\nreturn redis.call('HGETALL', KEYS[1])\n"


def apply(r, key, triples):
    argv = ["skip"]
    for f, op, v in triples:
        argv += [f, op, v]
    flat = r.eval(SCRIPT, 1, key, *argv)
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


# Two samples of one connection as rtc_updates writes them (a subset of the
# fields; tests/unit/test_rtcstats.c checks the C side's full list).
FIRST = [("samples", "+", "1"), ("t_first", "<", "1000"), ("t_last", ">", "1000"),
         ("a_bytes_in", ">", "40000"), ("a_t_in_first", "<", "1000"),
         ("a_bytes_in_first", "^", "40000"),
         ("a_jitter_sum", "f", "0.004"), ("a_jitter_n", "+", "1"), ("a_jitter_max", ">", "0.004"),
         ("a_lost_in", ">", "-2"), ("local_type", "=", "srflx")]
SECOND = [("samples", "+", "1"), ("t_first", "<", "11000"), ("t_last", ">", "11000"),
          ("a_bytes_in", ">", "80000"), ("a_t_in_first", "<", "11000"),
          ("a_bytes_in_first", "^", "80000"),
          ("a_jitter_sum", "f", "0.012"), ("a_jitter_n", "+", "1"), ("a_jitter_max", ">", "0.012"),
          ("a_lost_in", ">", "3"), ("local_type", "=", "relay")]


def test_samples_fold(redis_server):
    r = redis_server.client()
    h = apply(r, "agg", FIRST)
    assert h == {"samples": "1", "t_first": "1000", "t_last": "1000", "a_bytes_in": "40000",
                 "a_t_in_first": "1000", "a_bytes_in_first": "40000", "a_jitter_sum": "0.004", "a_jitter_n": "1",
                 "a_jitter_max": "0.004", "a_lost_in": "-2", "local_type": "srflx"}
    h = apply(r, "agg", SECOND)
    assert h == {"samples": "2", "t_first": "1000", "t_last": "11000", "a_bytes_in": "80000",
                 "a_t_in_first": "1000", "a_bytes_in_first": "40000", "a_jitter_sum": "0.016", "a_jitter_n": "2",
                 "a_jitter_max": "0.012", "a_lost_in": "3", "local_type": "relay"}
    # What the summary derives: mean jitter, and the bitrate over the span.
    assert float(h["a_jitter_sum"]) / int(h["a_jitter_n"]) == 0.008
    bps = (int(h["a_bytes_in"]) - int(h["a_bytes_in_first"])) * 8 * 1000 / (
        int(h["t_last"]) - int(h["t_first"]))
    assert bps == 32000


def test_late_sample_moves_nothing_back(redis_server):
    """A sample retried after a later one (the SDK retries with backoff)
    cannot lower a counter, a maximum or the last time, nor the first ones."""
    r = redis_server.client()
    apply(r, "agg", FIRST)
    apply(r, "agg", SECOND)
    h = apply(r, "agg", FIRST)
    assert h["t_last"] == "11000" and h["t_first"] == "1000"
    assert h["a_bytes_in"] == "80000" and h["a_jitter_max"] == "0.012" and h["a_lost_in"] == "3"
    assert h["samples"] == "3" and h["a_jitter_n"] == "3"
    assert h["local_type"] == "srflx"  # "=" is the latest write


def test_an_earlier_sample_arriving_late_becomes_the_first(redis_server):
    """Samples racing through two instances may arrive out of order: the
    earliest time wins, with the value that goes with it ("<" then "^")."""
    r = redis_server.client()
    apply(r, "agg", SECOND)
    h = apply(r, "agg", FIRST)
    assert h["t_first"] == "1000" and h["a_t_in_first"] == "1000", h
    assert h["a_bytes_in_first"] == "40000" and h["a_bytes_in"] == "80000", h
    h = apply(r, "agg", SECOND)  # a later one changes no first value
    assert h["t_first"] == "1000" and h["a_bytes_in_first"] == "40000", h


def test_numbers_compare_as_numbers(redis_server):
    r = redis_server.client()
    apply(r, "agg", [("m", ">", "9"), ("s", "f", "1e-07"), ("n", "+", "9007199254740000")])
    h = apply(r, "agg", [("m", ">", "10"), ("s", "f", "2.5"), ("n", "+", "991")])
    assert h["m"] == "10"  # not "9" > "10" as strings
    assert float(h["s"]) == 2.5000001
    assert h["n"] == "9007199254740991"
    h = apply(r, "agg", [("m", ">", "-1"), ("m2", ">", "-1")])
    assert h["m"] == "10" and h["m2"] == "-1"


def test_nothing_to_apply(redis_server):
    r = redis_server.client()
    assert apply(r, "agg", []) == {}
    assert r.exists("agg") == 0
