"""POST /auth, /auth/register, /auth/changepassword, /auth/logout; token
checks (tampering, expiry, revocation on every instance); admin bootstrap;
Redis down."""

import hashlib
import os
import threading
import time
import uuid

import pytest

from accounts_util import (ADMIN_EMAIL, ADMIN_PASSWORD, Api, Creds, acct,  # noqa: F401
                           run_threads,
                           admin_login,
                           assert_account, assert_token_shape, b64u, expect, expect_error,
                           expect_forbidden, expect_invalid, expect_not_found,
                           expect_unauthorized, jwt_decode,
                           jwt_sign, new_email, new_password, new_username, server_env,
                           start_server)
from harness import wait_until


# -- /auth -----------------------------------------------------------------------


def test_login_by_email_and_username(acct):
    c = acct.a.create_account()
    v = acct.a.login_ok(c.password, email=c.email)
    assert_account(v["account"], id=c.id, type="user", username=c.username)
    assert_token_shape(v["token"], account_id=c.id)
    assert v["token"] != c.token
    v2 = acct.b.login_ok(c.password, username=c.username)
    assert v2["account"]["id"] == c.id
    for tok in (v["token"], v2["token"], c.token):
        assert acct.a.me_ok(tok)["id"] == c.id
        assert acct.b.me_ok(tok)["id"] == c.id


def test_login_email_is_case_insensitive(acct):
    c = acct.a.create_account()
    v = acct.a.login_ok(c.password, email=c.email.upper())
    assert v["account"]["id"] == c.id


def test_wrong_password_and_unknown_account_identical(acct):
    c = acct.a.create_account()
    wrong = acct.a.login(c.password + "x", email=c.email)
    unknown = acct.a.login(c.password, email=new_email())
    expect_unauthorized(wrong)
    expect_unauthorized(unknown)
    assert wrong.status == unknown.status
    assert wrong.body == unknown.body, (wrong, unknown)
    wrong_u = acct.b.login(c.password + "x", username=c.username)
    unknown_u = acct.b.login(c.password, username=new_username())
    expect_unauthorized(wrong_u)
    assert wrong_u.body == unknown_u.body == wrong.body, (wrong_u, unknown_u)
    # and the right password still works
    acct.a.login_ok(c.password, email=c.email)


def test_login_body_parsed_whatever_the_content_type(acct):
    c = acct.a.create_account()
    raw = ('{"email": "%s", "password": "%s"}' % (c.email, c.password)).encode()
    for ct in ("text/plain", None):
        headers = {"Content-Type": ct} if ct else {}
        v = expect(acct.a.post("/auth", raw=raw, headers=headers), 200)
        assert v["account"]["id"] == c.id


def test_login_missing_fields(acct):
    r = acct.a.post("/auth", {"email": new_email()})
    assert r.status in (401, 422), r
    r = acct.a.post("/auth", {"password": "whatever1"})
    assert r.status in (401, 422), r
    expect_error(acct.a.post("/auth", raw=b"{nope"), 400, "bad-json")


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_platform_accepted(acct, platform):
    c = acct.a.create_account()
    acct.a.login_ok(c.password, email=c.email, platform=platform)


@pytest.mark.parametrize("platform", ["windows", "ios android", "web"])
def test_platform_invalid_422(acct, platform):
    c = acct.a.create_account()
    expect_invalid(acct.a.login(c.password, email=c.email, platform=platform), "platform")


# -- /auth/register --------------------------------------------------------------------


def test_register_without_code(acct):
    c = Creds.new()
    v = expect(acct.a.post("/auth/register", c.register_body()), 201)
    assert set(v) == {"account", "token"}, v
    acc = assert_account(v["account"], type="user", status="active", archive=False,
                         organization=None, username=c.username, firstName="Ann",
                         lastName="Lee", identities=[{"type": "email", "value": c.email}],
                         online=False, isCamera=False, location=None)
    assert_token_shape(v["token"], account_id=acc["id"])
    assert acct.b.me_ok(v["token"]) == acc
    acct.b.login_ok(c.password, username=c.username)


@pytest.mark.parametrize("over,field", [
    ({"email": "nope"}, "email"),
    ({"password": "12345"}, "password"),
    ({"firstName": ""}, "firstName"),
    ({"lastName": 7}, "lastName"),
    ({"username": "x y"}, "username"),
    ({"organizationCode": "zzzzzzzz"}, "organizationCode"),
    ({"organizationCode": 12345678}, "organizationCode"),
])
def test_register_invalid(acct, over, field):
    c = Creds.new()
    expect_invalid(acct.a.post("/auth/register", c.register_body(**over)), field)


def test_register_with_code_makes_inactive_dealer(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    c = Creds.new()
    v = expect(acct.a.post("/auth/register", c.register_body(code=org["code"])), 201)
    assert set(v) == {"account", "token"}, v
    assert v["token"] is None, v
    acc = assert_account(v["account"], type="dealer", status="inactive", organization=org["id"],
                         archive=False)
    # inactive: the right password gives 403, on both instances
    expect_forbidden(acct.a.login(c.password, email=c.email))
    expect_forbidden(acct.b.login(c.password, username=c.username))
    # wrong password for an inactive account: still a plain 401
    expect_unauthorized(acct.a.login(c.password + "x", email=c.email))
    # the owner activates it
    v = expect(acct.b.put(f"/accounts/{acc['id']}", {"status": "active"}, token=owner.token), 200)
    assert_account(v["account"], status="active", type="dealer")
    got = acct.a.login_ok(c.password, email=c.email)
    assert_account(got["account"], id=acc["id"], status="active", type="dealer",
                   organization=org["id"])


def test_archived_account_cannot_log_in(acct):
    c = acct.a.create_account(token=acct.admin_token, archive=True)
    # like an inactive dealer's registration: no token for an account that
    # cannot log in
    assert c.token is None, c.token
    expect_forbidden(acct.a.login(c.password, email=c.email))
    expect_forbidden(acct.b.login(c.password, username=c.username))
    # a token issued while active is refused with 403 once archived
    u = acct.a.create_account()
    expect(acct.a.put(f"/accounts/{u.id}", {"archive": True}, token=acct.admin_token), 200)
    expect_forbidden(acct.b.me(u.token))
    expect_forbidden(acct.a.login(u.password, email=u.email))


def test_inactive_account_created_by_admin_cannot_log_in(acct):
    c = acct.a.create_account(token=acct.admin_token, status="inactive")
    assert c.token is None, c.token
    expect_forbidden(acct.a.login(c.password, email=c.email))


# -- change password -------------------------------------------------------------------------


def test_change_password_revokes_every_earlier_token(acct):
    c = acct.a.create_account()
    t1 = c.token
    t2 = acct.b.login_ok(c.password, email=c.email)["token"]
    new = new_password()
    # wrong old password
    r = acct.a.post("/auth/changepassword", {"username": c.username, "password": c.password + "x",
                                             "newpassword": new})
    expect_unauthorized(r)
    acct.a.me_ok(t1)
    # unknown account: same answer
    r2 = acct.a.post("/auth/changepassword", {"username": new_username(), "password": c.password,
                                              "newpassword": new})
    expect_unauthorized(r2)
    assert r2.body == r.body
    # too short
    r = acct.a.post("/auth/changepassword", {"username": c.username, "password": c.password,
                                             "newpassword": "12345"})
    expect_invalid(r, "newpassword")
    acct.a.login_ok(c.password, email=c.email)
    # right
    r = acct.a.post("/auth/changepassword", {"username": c.username, "password": c.password,
                                             "newpassword": new})
    assert expect(r, 200) == {"status": "success"}, r
    for tok in (t1, t2):
        expect_unauthorized(acct.a.me(tok))
        expect_unauthorized(acct.b.me(tok))
    expect_unauthorized(acct.b.login(c.password, email=c.email))
    t3 = acct.b.login_ok(new, email=c.email)["token"]
    assert acct.a.me_ok(t3)["id"] == c.id
    # by email too, and the token issued in between is revoked in turn
    newer = new_password()
    r = acct.b.post("/auth/changepassword", {"email": c.email, "password": new,
                                             "newpassword": newer})
    assert expect(r, 200) == {"status": "success"}
    expect_unauthorized(acct.a.me(t3))
    acct.a.login_ok(newer, username=c.username)
    expect_unauthorized(acct.a.login(new, username=c.username))


# -- logout --------------------------------------------------------------------------------


def test_logout_revokes_only_that_token(acct):
    c = acct.a.create_account()
    t1 = acct.a.login_ok(c.password, email=c.email)["token"]
    t2 = acct.b.login_ok(c.password, email=c.email)["token"]
    r = acct.a.post("/auth/logout", token=t1)
    assert expect(r, 200) == {"status": "success"}, r
    expect_unauthorized(acct.a.me(t1))
    expect_unauthorized(acct.b.me(t1))
    expect_unauthorized(acct.b.post("/auth/logout", token=t1))
    assert acct.a.me_ok(t2)["id"] == c.id
    assert acct.b.me_ok(c.token)["id"] == c.id
    # logging out on the other instance works the same
    assert expect(acct.b.post("/auth/logout", token=t2), 200) == {"status": "success"}
    expect_unauthorized(acct.a.me(t2))
    acct.a.me_ok(c.token)


def test_logout_revokes_the_jti_not_the_string(acct, victim):
    """A token re-signed with the revoked token's jti (other exp) is refused too."""
    c = acct.a.create_account()
    t1 = acct.a.login_ok(c.password, email=c.email)["token"]
    h, p, _ = jwt_decode(t1)
    assert expect(acct.a.post("/auth/logout", token=t1), 200) == {"status": "success"}
    expect_unauthorized(acct.b.me(jwt_sign(h, dict(p, exp=p["exp"] - 100))))
    # while the same claims with another jti of the same form are fine (control)
    other = str(uuid.uuid4()) if "-" in p["jti"] else uuid.uuid4().hex[:len(p["jti"])]
    assert acct.b.me_ok(jwt_sign(h, dict(p, jti=other)))["id"] == c.id


def test_logout_without_token_is_401(acct):
    expect_unauthorized(acct.a.post("/auth/logout"))


# -- token tampering ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def victim(acct):
    c = acct.a.create_account()
    h, p, s = jwt_decode(c.token)
    return c, h, p


def test_resigned_token_is_accepted(acct, victim):
    """Control for the tampering tests: this module signs exactly like the server."""
    c, h, p = victim
    tok = jwt_sign(h, p)
    assert acct.a.me_ok(tok)["id"] == c.id


def test_no_authorization_header(acct):
    expect_unauthorized(acct.a.get("/accounts/me"))


@pytest.mark.parametrize("value", ["Bearer garbage", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz",
                                   "Bearer a.b.c", "Token {tok}", "{tok}", "Bearer  {tok}x",
                                   "Bearer {tok}."])
def test_garbled_authorization(acct, victim, value):
    c = victim[0]
    r = acct.a.get("/accounts/me", headers={"Authorization": value.format(tok=c.token)})
    expect_unauthorized(r)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "JWT", "jwt"])
def test_scheme_case_insensitive(acct, victim, scheme):
    c = victim[0]
    assert acct.a.me_ok(c.token, scheme=scheme)["id"] == c.id


def test_alg_none(acct, victim):
    c, h, p = victim
    for alg in ("none", "None", "NONE"):
        tok = b64u('{"alg":"%s","typ":"JWT"}' % alg) + "." + c.token.split(".")[1] + "."
        expect_unauthorized(acct.a.me(tok))
        # and with the original signature kept
        tok2 = tok + c.token.split(".")[2]
        expect_unauthorized(acct.a.me(tok2))


def test_hs512_and_other_algorithms(acct, victim):
    c, h, p = victim
    expect_unauthorized(acct.a.me(jwt_sign({**h, "alg": "HS512"}, p, key=os.urandom(32),
                                           digest=hashlib.sha512)))
    # HS512 even with the real secret: only HS256 is accepted
    expect_unauthorized(acct.a.me(jwt_sign({**h, "alg": "HS512"}, p, digest=hashlib.sha512)))
    expect_unauthorized(acct.a.me(jwt_sign({**h, "alg": "HS384"}, p, digest=hashlib.sha384)))
    # header says HS512, but signed with HS256 and the real key
    expect_unauthorized(acct.a.me(jwt_sign({**h, "alg": "HS512"}, p)))
    expect_unauthorized(acct.a.me(jwt_sign({"typ": "JWT"}, p)))
    # HS256 with another key
    expect_unauthorized(acct.a.me(jwt_sign(h, p, key=os.urandom(32))))


def test_edited_payload_keeps_signature(acct, victim):
    c, h, p = victim
    other = acct.a.create_account()
    head, _, sig = c.token.split(".")
    payload = b64u('{"sub":"%s","typ":"account","iat":%d,"exp":%d,"jti":"%s"}' % (
        other.id, p["iat"], p["exp"], p["jti"]))
    expect_unauthorized(acct.a.me(f"{head}.{payload}.{sig}"))
    # the other account's own token still works (it was not what we sent)
    acct.a.me_ok(other.token)
    # sub swapped but otherwise identical claims, with the real signature of the victim
    edited = dict(p, sub=other.id)
    fake = jwt_sign(h, edited).split(".")
    expect_unauthorized(acct.a.me(f"{fake[0]}.{fake[1]}.{sig}"))
    # one bit flipped in the signature
    last = sig[-2]
    flipped = sig[:-2] + ("A" if last != "A" else "B") + sig[-1]
    expect_unauthorized(acct.a.me(f"{head}.{c.token.split('.')[1]}.{flipped}"))


@pytest.mark.parametrize("cut", ["last5", "no-sig", "two-parts", "header-only", "padded"])
def test_truncated_or_mangled(acct, victim, cut):
    tok = victim[0].token
    h, p, s = tok.split(".")
    mangled = {"last5": tok[:-5], "no-sig": f"{h}.{p}.", "two-parts": f"{h}.{p}",
               "header-only": h, "padded": f"{h}.{p}.{s}=="}[cut]
    expect_unauthorized(acct.a.me(mangled))


def _claims(p, **over):
    out = dict(p)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def test_expired_token(acct, victim):
    c, h, p = victim
    now = int(time.time())
    # (a few seconds of clock-skew leeway at most)
    expect_unauthorized(acct.a.me(jwt_sign(h, _claims(p, iat=now - 3600, exp=now - 10))))
    expect_unauthorized(acct.a.me(jwt_sign(h, _claims(p, iat=now - 3600, exp=now - 120))))
    expect_unauthorized(acct.b.me(jwt_sign(h, _claims(p, iat=now - 7200, exp=now - 3600))))
    # still valid a bit longer: accepted (the control)
    assert acct.a.me_ok(jwt_sign(h, _claims(p, iat=now - 3600, exp=now + 60)))["id"] == c.id


def test_future_iat(acct, victim):
    c, h, p = victim
    now = int(time.time())
    expect_unauthorized(acct.a.me(jwt_sign(h, _claims(p, iat=now + 3600, exp=now + 7200))))


@pytest.mark.parametrize("typ", ["refresh", "service", "", "Account"])
def test_wrong_typ(acct, victim, typ):
    c, h, p = victim
    expect_unauthorized(acct.a.me(jwt_sign(h, _claims(p, typ=typ))))


@pytest.mark.parametrize("missing", ["sub", "typ", "exp"])
def test_missing_claim(acct, victim, missing):
    c, h, p = victim
    expect_unauthorized(acct.a.me(jwt_sign(h, _claims(p, **{missing: None}))))


def test_validly_signed_token_for_unknown_account(acct, victim):
    c, h, p = victim
    jti = str(uuid.uuid4()) if "-" in p["jti"] else uuid.uuid4().hex[:len(p["jti"])]
    expect_unauthorized(acct.a.me(jwt_sign(h, _claims(p, sub=str(uuid.uuid4()), jti=jti))))


def test_token_of_another_secret_server_is_refused(make_onair, redis_server, acct, victim):
    """A server with another secret refuses this module's tokens, and its own
    are refused here."""
    api = start_server(make_onair, redis_server, admin=False, ONAIR_SECRET="ab" * 32)
    expect_unauthorized(api.me(victim[0].token))
    c = api.create_account()
    expect_unauthorized(acct.a.me(c.token))


# -- admin bootstrap ---------------------------------------------------------------------------


def _accounts_with_email(redis_server, email):
    """Keys of Redis records (strings or hashes) that mention email and look
    like an account (not an index entry whose value is only an id)."""
    r = redis_server.client()
    found = []
    for key in r.scan_iter(count=1000):
        t = r.type(key)
        if t == "string":
            content = r.get(key) or ""
        elif t == "hash":
            content = " ".join(f"{k}={v}" for k, v in r.hgetall(key).items())
        else:
            continue
        if email.lower() in content.lower() and "admin" in content.replace(email, "").lower():
            found.append(key)
    return found


def test_admin_bootstrap_two_instances_at_once(make_onair, redis_server):
    env = server_env(admin=True)
    servers = [make_onair(redis_server, env=env, start=False) for _ in range(3)]
    errors = []

    def start(s):
        try:
            s.start()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    ids = set()
    for s in servers:
        api = Api(s)
        v = admin_login(api)
        assert_account(v["account"], type="admin", status="active", archive=False)
        ids.add(v["account"]["id"])
        # an admin token: the admin-only list answers
        expect(api.get("/organizations", token=v["token"]), 200)
    assert len(ids) == 1, ids
    recs = _accounts_with_email(redis_server, ADMIN_EMAIL)
    assert len(recs) == 1, f"account records mentioning the admin email: {recs}"
    # registering the admin's email is a duplicate
    c = Creds.new()
    r = Api(servers[0]).post("/accounts", c.accounts_body(
        identities=[{"type": "email", "value": ADMIN_EMAIL.upper()}]))
    expect_error(r, 409, "conflict", "email")
    # a restart changes nothing
    servers[1].stop()
    servers[1].start()
    v = Api(servers[1]).login_ok(ADMIN_PASSWORD, email=ADMIN_EMAIL)
    assert v["account"]["id"] in ids
    assert len(_accounts_with_email(redis_server, ADMIN_EMAIL)) == 1


def test_admin_email_registered_first_is_not_promoted(make_onair, redis_server):
    """Somebody registers the configured admin email before the admin is made:
    that account does not become an admin, and its password gives no admin."""
    first = start_server(make_onair, redis_server, admin=False)
    email = "later-" + new_email()
    squatter = first.create_account(identities=[{"type": "email", "value": email}])
    second = start_server(make_onair, redis_server, admin=False, ONAIR_ADMIN_EMAIL=email,
                          ONAIR_ADMIN_PASSWORD="Real-admin-pw-1")
    time.sleep(0.5)  # let the bootstrap run
    for api in (first, second):
        v = api.login_ok(squatter.password, email=email)
        assert v["account"]["type"] == "user", v
        assert v["account"]["id"] == squatter.id
        assert api.me_ok(squatter.token)["type"] == "user"
        expect_forbidden(api.post("/accounts", Creds.new().accounts_body(type="admin"),
                                  token=v["token"]))


# -- Redis down ---------------------------------------------------------------------------------


def test_redis_down_is_503_fast(make_onair, redis_server):
    api = start_server(make_onair, redis_server, admin=False)
    srv = api.srv
    c = api.create_account()
    redis_server.stop()
    for _ in range(2):
        for r in (api.login(c.password, email=c.email), api.me(c.token)):
            assert r.elapsed < 1.0, f"took {r.elapsed:.3f}s: {r!r}"
            expect_error(r, 503, "unavailable")
            ra = r.header("Retry-After")
            assert ra is not None and ra.strip().isdigit(), r
    for r in (api.post("/accounts", Creds.new().accounts_body()),
              api.post("/auth/register", Creds.new().register_body()),
              api.get("/organizations", token=c.token),
              api.post("/auth/logout", token=c.token),
              api.post("/auth/changepassword", {"email": c.email, "password": c.password,
                                                "newpassword": "another1"})):
        assert r.elapsed < 1.0, r
        expect_error(r, 503, "unavailable")
        assert (r.header("Retry-After") or "").strip().isdigit(), r
    redis_server.start()
    # back, on an empty Redis: the old account is gone; a new one works
    wait_until(lambda: srv.get("/ready").status == 200, 5, message="/ready after restart")
    expect_unauthorized(api.me(c.token))
    c2 = api.create_account()
    api.me_ok(c2.token)


def test_redis_paused_is_503_within_the_deadline(make_onair, redis_server):
    api = start_server(make_onair, redis_server, admin=False)
    c = api.create_account()
    redis_server.pause()
    try:
        for r in (api.me(c.token), api.login(c.password, email=c.email),
                  api.post("/auth/register", Creds.new().register_body())):
            assert r.elapsed < 1.0, f"took {r.elapsed:.3f}s: {r!r}"
            expect_error(r, 503, "unavailable")
            assert (r.header("Retry-After") or "").strip().isdigit(), r
    finally:
        redis_server.resume()
    wait_until(lambda: api.me(c.token).status == 200, 5, message="/accounts/me 200 again")
    api.login_ok(c.password, email=c.email)


# -- password hashing off the loop, bounded queue ---------------------------------------------


def test_hash_queue_full_is_503_at_once(make_onair, redis_server):
    """ONAIR_HASH_QUEUE=1: concurrent logins beyond the queue answer 503 at
    once (with Retry-After) instead of waiting; the others succeed; /health
    stays fast while hashes run."""
    api = start_server(make_onair, redis_server, admin=False, ONAIR_HASH_QUEUE=1)
    c = api.create_account()

    def login():
        return api.login(c.password, email=c.email)

    health = []

    def probe():
        for _ in range(5):
            health.append(api.srv.get("/health", timeout=5))
        return None

    results = run_threads([login] * 8 + [probe])
    logins = results[:8]
    for r in logins:
        assert not isinstance(r, Exception), results
    statuses = sorted(r.status for r in logins)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    for r in logins:
        if r.status == 503:
            expect_error(r, 503, "unavailable")
            assert (r.header("Retry-After") or "").strip().isdigit(), r
        else:
            assert_account(expect(r, 200)["account"], id=c.id)
    fastest_ok = min(r.elapsed for r in logins if r.status == 200)
    slowest_503 = max(r.elapsed for r in logins if r.status == 503)
    assert slowest_503 < 0.5, f"a 503 took {slowest_503:.3f}s (ok took {fastest_ok:.3f}s)"
    assert all(h.status == 200 for h in health), health
    assert max(h.elapsed for h in health) < 0.25, [round(h.elapsed, 3) for h in health]
    # and the queue drains: a login afterwards works
    api.login_ok(c.password, email=c.email)


# -- last in this module: the logs of its servers ---------------------------------------------


def test_logs_never_contain_passwords_or_hashes(acct):
    """Every password this run sent (and every hash) stays out of the logs."""
    from accounts_util import SENT_PASSWORDS
    assert SENT_PASSWORDS, "no password was sent?"
    for srv in (acct.srv_a, acct.srv_b):
        log = srv.log_text()
        assert log, "empty log"
        assert "$argon2" not in log
        leaked = [pw for pw in SENT_PASSWORDS if pw in log]
        assert not leaked, f"passwords in the log of port {srv.port}: {leaked[:3]}"


# -- a route that checks the token in its own script (AUTH_CLAIMS: POST /ping) -------------


def test_claims_route_refuses_like_the_pipeline(acct):
    """POST /ping reads the token's state in its own script: revoked by
    logout or by a password change → 401, inactive or archived → 403,
    a bad or expired token → 401, a non-dealer → 403."""
    def dealer():
        return acct.a.create_account(token=acct.admin_token, type="dealer")

    d = dealer()
    assert expect(acct.b.post("/ping", token=d.token), 200)["status"] == "ok"
    t = acct.a.login_ok(d.password, email=d.email)["token"]
    assert expect(acct.a.post("/auth/logout", token=t), 200) == {"status": "success"}
    expect_unauthorized(acct.b.post("/ping", token=t))
    expect(acct.b.post("/ping", token=d.token), 200)
    # a password change revokes every earlier token
    new = new_password()
    expect(acct.a.post("/auth/changepassword", {"email": d.email, "password": d.password,
                                                "newpassword": new}), 200)
    expect_unauthorized(acct.a.post("/ping", token=d.token))
    # inactive, archived
    for change in ({"status": "inactive"}, {"archive": True}):
        d2 = dealer()
        expect(acct.a.put(f"/accounts/{d2.id}", change, token=acct.admin_token), 200)
        expect_forbidden(acct.b.post("/ping", token=d2.token))
    # signature and expiry are checked before the store
    d3 = dealer()
    h, p, _ = jwt_decode(d3.token)
    now = int(time.time())
    expect_unauthorized(acct.a.post("/ping", token=jwt_sign(h, dict(p, iat=now - 200,
                                                                     exp=now - 100))))
    expect_unauthorized(acct.a.post("/ping", token=jwt_sign(h, p, key=b"\x02" * 32)))
    expect_unauthorized(acct.a.post("/ping"))
    # an account that is not a dealer
    expect_forbidden(acct.a.post("/ping", token=acct.a.create_account().token))


@pytest.mark.parametrize("action", ["confirm", "start", "stop", "handshake"])
def test_gig_transitions_check_the_token_in_their_script(acct, action):
    """The gig transitions are AUTH_CLAIMS routes too (gig_act.lua checks the
    token): with a good token an unknown gig is 404, a revoked token 401, an
    inactive account 403, whatever the gig."""
    path = f"/gigs/{action}/{uuid.uuid4()}"
    c = acct.a.create_account(type="user")
    expect_not_found(acct.b.post(path, token=c.token))
    t = acct.a.login_ok(c.password, email=c.email)["token"]
    expect(acct.a.post("/auth/logout", token=t), 200)
    expect_unauthorized(acct.b.post(path, token=t))
    expect(acct.a.put(f"/accounts/{c.id}", {"status": "inactive"}, token=acct.admin_token), 200)
    expect_forbidden(acct.b.post(path, token=c.token))


def test_gig_request_checks_the_token_in_its_script(acct):
    """POST /gigs is an AUTH_CLAIMS route (gig_create.lua checks the token and
    searches for operators in one script): nobody around is 404 with a good
    token, a revoked token 401, a password change 401, an inactive or archived
    customer 403; the body is checked first."""
    body = {"latitude": -33.9, "longitude": 18.4, "deviceId": "d1"}
    c = acct.a.create_account(type="user")
    r = acct.b.post("/gigs", body, token=c.token)
    assert r.status == 404 and r.json()["status"] == "no-operators", r
    t = acct.a.login_ok(c.password, email=c.email)["token"]
    expect(acct.a.post("/auth/logout", token=t), 200)
    expect_unauthorized(acct.b.post("/gigs", body, token=t))
    expect_invalid(acct.b.post("/gigs", {"latitude": 91, "longitude": 0}, token=t), "latitude")
    for change in ({"status": "inactive"}, {"archive": True}):
        c2 = acct.a.create_account(type="user")
        expect(acct.a.put(f"/accounts/{c2.id}", change, token=acct.admin_token), 200)
        expect_forbidden(acct.b.post("/gigs", body, token=c2.token))
    new = new_password()
    expect(acct.a.post("/auth/changepassword", {"email": c.email, "password": c.password,
                                                "newpassword": new}), 200)
    expect_unauthorized(acct.a.post("/gigs", body, token=c.token))
