"""storage/scripts/ratelimit.lua (with lib/gcra.lua) against a real
redis-server, at a fixed clock: bursts, the steady rate, and rates whose
emission interval is below a millisecond."""

from harness import REPO_ROOT

SCRIPTS = REPO_ROOT / "storage" / "scripts"
SCRIPT = (SCRIPTS / "lib" / "gcra.lua").read_text() + \
    "\n".join(line for line in (SCRIPTS / "ratelimit.lua").read_text().splitlines()
              if not line.startswith("--!"))

NOW = 1_765_000_000_000  # ms


def interval_us(per_min):
    return max(1, 60_000_000 // per_min)  # as handlers/auth.h's gcra_interval_us


def admitted(r, key, per_min, now_ms, n):
    """How many of n requests at now_ms the limiter admits, and the last wait."""
    ok, wait = 0, 0
    for _ in range(n):
        wait = r.eval(SCRIPT, 1, key, now_ms, interval_us(per_min))
        ok += wait == 0
    return ok, wait


def test_a_burst_of_the_rate_then_the_rate(redis_server):
    r = redis_server.client()
    ok, wait = admitted(r, "gcra:a", 60, NOW, 70)
    assert ok == 60 and wait == 1000  # a minute's worth, then one per second
    assert admitted(r, "gcra:a", 60, NOW + 999, 1) == (0, 1)
    assert admitted(r, "gcra:a", 60, NOW + 1000, 2) == (1, 1000)
    ttl = r.pttl("gcra:a")
    assert 0 < ttl <= 61_000


def test_rates_above_one_a_millisecond_keep_their_interval(redis_server):
    r = redis_server.client()
    # 6 000 000 a minute: 100 a millisecond.  In whole milliseconds the
    # interval was 1 ms, so after the burst only 1 a millisecond passed.
    per_min = 6_000_000
    r.set("gcra:fast", str((NOW + 60_000) * 1000))  # the burst is spent
    ok, _ = admitted(r, "gcra:fast", per_min, NOW + 10, 2000)
    assert ok == 1000  # 10 ms at 100 a millisecond, give or take none
    assert admitted(r, "gcra:fast", per_min, NOW + 10, 1)[0] == 0
    assert admitted(r, "gcra:fast", per_min, NOW + 11, 200)[0] == 100


def test_a_refused_request_charges_nothing(redis_server):
    r = redis_server.client()
    assert admitted(r, "gcra:b", 1, NOW, 1) == (1, 0)
    before = r.get("gcra:b")
    assert admitted(r, "gcra:b", 1, NOW + 1, 3) == (0, 59_999)
    assert r.get("gcra:b") == before
