"""Rate limits on login and registration: per account identifier and per
client IP; X-Forwarded-For / X-Real-IP believed only from trusted proxies."""

import json

from accounts_util import Creds, expect_rate_limited, expect_unauthorized, new_email, start_server
from harness import RawConn


def limited_server(make_onair, redis_server, login=100000, ip=100000, **extra):
    return start_server(make_onair, redis_server, admin=False, ONAIR_LOGIN_RATE_PER_MIN=login,
                        ONAIR_AUTH_IP_RATE_PER_MIN=ip, **extra)


def test_login_rate_per_email(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, login=3)
    c = api.create_account()
    other = api.create_account()
    for _ in range(3):
        api.login_ok(c.password, email=c.email)
    r = api.login(c.password, email=c.email)
    expect_rate_limited(r)
    # the limit is per identifier: another account logs in fine
    api.login_ok(other.password, email=other.email)
    # and the limited one stays limited, whatever the password
    expect_rate_limited(api.login(c.password + "x", email=c.email))


def test_login_rate_is_shared_by_instances(make_onair, redis_server):
    a = limited_server(make_onair, redis_server, login=3, ip=4)
    b = limited_server(make_onair, redis_server, login=3, ip=4)
    c = a.create_account()
    a.login_ok(c.password, email=c.email)
    b.login_ok(c.password, email=c.email)
    a.login_ok(c.password, email=c.email)
    expect_rate_limited(b.login(c.password, email=c.email))
    # the per-IP limit too: 4 requests so far from 127.0.0.1 (create, 3 logins), plus one 429
    expect_rate_limited(a.login("whatever1", email=new_email()))


def test_login_rate_counts_failures(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, login=3)
    c = api.create_account()
    for _ in range(3):
        expect_unauthorized(api.login(c.password + "x", email=c.email))
    expect_rate_limited(api.login(c.password, email=c.email))
    # an unknown email is limited the same way (no existence oracle)
    ghost = new_email()
    for _ in range(3):
        expect_unauthorized(api.login("whatever1", email=ghost))
    expect_rate_limited(api.login("whatever1", email=ghost))


def test_login_rate_key_ignores_email_case(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, login=3)
    c = api.create_account()
    for variant in (c.email, c.email.upper(), c.email.capitalize()):
        api.login_ok(c.password, email=variant)
    expect_rate_limited(api.login(c.password, email=c.email.swapcase()))


def test_login_rate_applies_to_change_password(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, login=3)
    c = api.create_account()
    for _ in range(3):
        r = api.post("/auth/changepassword", {"email": c.email, "password": c.password + "x",
                                              "newpassword": "newpass123"})
        expect_unauthorized(r)
    r = api.post("/auth/changepassword", {"email": c.email, "password": c.password,
                                          "newpassword": "newpass123"})
    expect_rate_limited(r)


def test_register_rate_per_ip(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, ip=5)
    for i in range(5):
        if i % 2:
            api.register()
        else:
            api.create_account()
    c = Creds.new()
    expect_rate_limited(api.post("/auth/register", c.register_body()))
    expect_rate_limited(api.post("/accounts", c.accounts_body()))


def test_forwarded_ip_trusted_proxy(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, ip=2,
                         ONAIR_TRUSTED_PROXIES="127.0.0.1/32")

    def attempt(headers):
        return api.post("/auth", {"email": new_email(), "password": "whatever1"},
                        headers=headers)

    for _ in range(2):
        expect_unauthorized(attempt({"X-Forwarded-For": "203.0.113.7"}))
    expect_rate_limited(attempt({"X-Forwarded-For": "203.0.113.7"}))
    # another forwarded client is not limited
    expect_unauthorized(attempt({"X-Forwarded-For": "203.0.113.8"}))
    # the last hop is the client the trusted proxy saw
    expect_rate_limited(attempt({"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}))
    expect_unauthorized(attempt({"X-Forwarded-For": "203.0.113.7, 203.0.113.9"}))
    # X-Real-IP is believed too
    expect_unauthorized(attempt({"X-Real-IP": "203.0.113.10"}))
    expect_unauthorized(attempt({"X-Real-IP": "203.0.113.10"}))
    expect_rate_limited(attempt({"X-Real-IP": "203.0.113.10"}))


def test_forwarded_ip_from_the_last_of_several_lines(make_onair, redis_server):
    """A proxy that adds its own X-Forwarded-For line after the client's (HAProxy's
    `option forwardfor`): the field is the lines joined in order (RFC 9110 §5.3), so the
    hop the proxy saw is on the last line, and the client's own line, different on every
    request, does not choose its limiter key.  The same for X-Real-IP."""
    api = limited_server(make_onair, redis_server, ip=2, ONAIR_TRUSTED_PROXIES="127.0.0.1/32")

    def attempt(name, i, proxy):
        body = json.dumps({"email": new_email(), "password": "whatever1"}).encode()
        with RawConn(api.port) as c:
            return c.request("POST", "/auth", body=body, headers=[
                ("Content-Type", "application/json"), (name, f"198.51.100.{i}"), (name, proxy)])

    for name, proxy in (("X-Forwarded-For", "203.0.113.7"), ("X-Real-IP", "203.0.113.8")):
        for i in range(2):
            expect_unauthorized(attempt(name, i, proxy))
        expect_rate_limited(attempt(name, 2, proxy))


def test_forwarded_ip_ignored_without_trusted_proxies(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, ip=2)

    def attempt(i):
        return api.post("/auth", {"email": new_email(), "password": "whatever1"},
                        headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}"})

    expect_unauthorized(attempt(1))
    expect_unauthorized(attempt(2))
    expect_rate_limited(attempt(3))
    expect_rate_limited(api.post("/auth", {"email": new_email(), "password": "whatever1"}))


def test_forwarded_ip_ignored_from_untrusted_peer(make_onair, redis_server):
    api = limited_server(make_onair, redis_server, ip=2,
                         ONAIR_TRUSTED_PROXIES="10.0.0.0/8")

    def attempt(i):
        return api.post("/auth", {"email": new_email(), "password": "whatever1"},
                        headers={"X-Forwarded-For": f"203.0.113.{i}"})

    expect_unauthorized(attempt(1))
    expect_unauthorized(attempt(2))
    expect_rate_limited(attempt(3))
