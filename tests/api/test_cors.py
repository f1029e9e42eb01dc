"""Cross-origin requests (core/cors.h): OPTIONS on every path with routes,
the preflight's answer and Access-Control-Allow-Origin for the origins of
ONAIR_CORS_ORIGINS ("*": all), nothing for the others."""

import pytest

from harness import request

DASH = "https://dash.example"
PREFLIGHT = {"Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization"}


def methods(r, name):
    return {m.strip() for m in (r.header(name) or "").split(",") if m.strip()}


def test_options_without_cors_settings(onair):
    """No origins configured: OPTIONS answers 204 with Allow, and nothing
    cross-origin; other requests carry no CORS headers either."""
    r = request(onair.port, "OPTIONS", "/health", headers=dict(PREFLIGHT, Origin=DASH))
    assert r.status == 204, r
    assert r.body == b"" and r.header("Content-Length") is None, r
    assert methods(r, "Allow") == {"GET", "HEAD", "OPTIONS"}, r
    assert r.header("Access-Control-Allow-Origin") is None, r
    assert r.header("Access-Control-Allow-Methods") is None, r
    r = onair.get("/health", headers={"Origin": DASH})
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None, r
    # a path without routes is still 404; a wrong method still 405, with OPTIONS allowed
    assert request(onair.port, "OPTIONS", "/nowhere").status == 404
    r = request(onair.port, "DELETE", "/health")
    assert r.status == 405 and methods(r, "Allow") == {"GET", "HEAD", "OPTIONS"}, r


def test_listed_origins(make_onair, redis_server):
    srv = make_onair(redis_server, env={"ONAIR_CORS_ORIGINS": f"{DASH},http://localhost:3000"})
    r = request(srv.port, "OPTIONS", "/gigs/", headers=dict(PREFLIGHT, Origin=DASH))
    assert r.status == 204, r
    assert r.header("Access-Control-Allow-Origin") == DASH, r
    assert "Origin" in (r.header("Vary") or ""), r
    assert methods(r, "Access-Control-Allow-Methods") == {"GET", "HEAD", "POST", "OPTIONS"}, r
    assert "authorization" in r.header("Access-Control-Allow-Headers").lower(), r
    assert int(r.header("Access-Control-Max-Age")) > 0, r
    assert r.header("Access-Control-Allow-Credentials") is None, r
    # the actual requests, errors included, carry the origin back
    for path, status in (("/health", 200), ("/accounts/me", 401)):
        r = srv.get(path, headers={"Origin": "http://localhost:3000"})
        assert r.status == status, r
        assert r.header("Access-Control-Allow-Origin") == "http://localhost:3000", r
        assert "Retry-After" in (r.header("Access-Control-Expose-Headers") or ""), r
    # another origin gets nothing cross-origin, a plain OPTIONS no preflight answer
    r = request(srv.port, "OPTIONS", "/gigs", headers=dict(PREFLIGHT, Origin="https://evil.example"))
    assert r.status == 204 and r.header("Access-Control-Allow-Origin") is None, r
    assert srv.get("/health", headers={"Origin": "https://evil.example"}) \
        .header("Access-Control-Allow-Origin") is None
    r = request(srv.port, "OPTIONS", "/gigs", headers={"Origin": DASH})
    assert r.status == 204 and r.header("Access-Control-Allow-Methods") is None, r


@pytest.mark.parametrize("value", ["*", "https://a.example, *"])
def test_any_origin(make_onair, redis_server, value):
    srv = make_onair(redis_server, env={"ONAIR_CORS_ORIGINS": value})
    r = request(srv.port, "OPTIONS", "/events", headers=dict(PREFLIGHT, Origin="https://x.example"))
    assert r.status == 204 and r.header("Access-Control-Allow-Origin") == "https://x.example", r
