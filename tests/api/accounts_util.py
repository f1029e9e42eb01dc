"""Helpers for the accounts / auth / organizations tests (issue 3).

A JSON client that sends Authorization headers and scans every body it gets
for passwords and hashes, unique identity generators, account shape checks,
JWT helpers (this module knows the signing secret of the servers it starts),
and module-scoped fixtures that test modules import:

    from accounts_util import acct  # noqa: F401

Every server started here gets high rate limits unless a test asks otherwise
(test_ratelimit.py starts its own servers)."""

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
import uuid

import pytest

from harness import JSON_CT, RawConn, build_request, request, wait_until

# The signing secret of every server these tests start (64 hex chars = 32 bytes).
SECRET_HEX = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
SECRET = bytes.fromhex(SECRET_HEX)
DEFAULT_TTL_S = 604800

_RUN = uuid.uuid4().hex[:6]
ADMIN_EMAIL = f"boss-{_RUN}@example.com"
ADMIN_PASSWORD = "Adm1n-pw-" + _RUN

HIGH_LIMITS = {"ONAIR_LOGIN_RATE_PER_MIN": "100000", "ONAIR_AUTH_IP_RATE_PER_MIN": "100000"}


def server_env(admin=True, **extra):
    env = {"ONAIR_SECRET": SECRET_HEX}
    env.update(HIGH_LIMITS)
    if admin:
        env["ONAIR_ADMIN_EMAIL"] = ADMIN_EMAIL
        env["ONAIR_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --------------------------------------------------------------------------
# secrets scan: no body may ever carry a password or its hash

# Every password any helper sent; none may come back in any body.
SENT_PASSWORDS = set()
_FORBIDDEN_ANYWHERE = ("$argon2",)
_FORBIDDEN_IN_SUCCESS = ("password", "hash", "$argon2")
_OPAQUE = re.compile(r"[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*")


def scan_body(resp, where=""):
    text = resp.body.decode("utf-8", errors="replace")
    low = text.lower()
    for word in _FORBIDDEN_ANYWHERE:
        assert word not in low, f"{where}: body contains {word!r}: {resp!r}"
    if 200 <= resp.status < 300:
        # success bodies are accounts, tokens, organizations: never a password
        # (error bodies may name the "password" field in "errors").  Opaque
        # runs (tokens, keys) are left out: a random JWT spells "hash" in
        # about one body in two thousand.
        words = _OPAQUE.sub("", text).lower()
        for word in _FORBIDDEN_IN_SUCCESS:
            assert word not in words, f"{where}: success body contains {word!r}: {resp!r}"
    for pw in list(SENT_PASSWORDS):
        assert pw not in text, f"{where}: body contains a password that was sent: {resp!r}"
    # and no object anywhere has a password/hash-ish key
    if resp.header("Content-Type") == JSON_CT and resp.body:
        try:
            value = json.loads(text)
        except ValueError:
            return
        for key in _keys(value):
            k = key.lower()
            assert "password" not in k and "hash" not in k, f"{where}: key {key!r} in {resp!r}"


def _keys(value):
    """Every object key, except the field names of an error body's "errors"
    (which may well say "password": "too short")."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "errors" and isinstance(v, dict):
                continue
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def _remember_passwords(body):
    if isinstance(body, dict):
        for k in ("password", "newpassword"):
            v = body.get(k)
            if isinstance(v, str) and len(v) >= 6:
                SENT_PASSWORDS.add(v)


# --------------------------------------------------------------------------
# JSON client

_NOBODY = object()


class Api:
    """JSON requests to one onair server; every body is scanned."""

    def __init__(self, srv):
        self.srv = srv

    @property
    def port(self):
        return self.srv.port

    def call(self, method, path, body=_NOBODY, token=None, scheme="Bearer", headers=None,
             raw=None, timeout=10):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"{scheme} {token}"
        data = None
        if raw is not None:
            data = raw
        elif body is not _NOBODY:
            _remember_passwords(body)
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        r = request(self.port, method, path, body=data, headers=h, timeout=timeout)
        scan_body(r, f"{method} {path}")
        return r

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=_NOBODY, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=_NOBODY, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    # domain helpers -----------------------------------------------------

    def create_account(self, token=None, **over):
        """POST /accounts with a valid body (overridden by over); asserts 201.
        Returns Creds."""
        creds = Creds.new()
        body = creds.accounts_body(**over)
        # Argon2id runs on a bounded queue: many accounts made at once on a
        # loaded machine wait their turn longer than a plain request.
        r = self.post("/accounts", body, token=token, timeout=60)
        v = expect(r, 201)
        assert set(v) == {"account", "token"}, r
        creds.apply_body(body)
        creds.account = v["account"]
        creds.token = v["token"]
        return creds

    def register(self, code=None, **over):
        """POST /auth/register; asserts 201.  Returns Creds."""
        creds = Creds.new()
        body = creds.register_body(code, **over)
        r = self.post("/auth/register", body)
        v = expect(r, 201)
        assert set(v) == {"account", "token"}, r
        creds.apply_body(body)
        creds.account = v["account"]
        creds.token = v["token"]
        return creds

    def login(self, password, email=None, username=None, platform=None):
        body = {"password": password}
        if email is not None:
            body["email"] = email
        if username is not None:
            body["username"] = username
        headers = {"Platform": platform} if platform is not None else None
        return self.post("/auth", body, headers=headers)

    def login_ok(self, password, email=None, username=None, platform=None):
        r = self.login(password, email=email, username=username, platform=platform)
        v = expect(r, 200)
        assert set(v) == {"account", "token"}, r
        assert_account(v["account"])
        assert_token_shape(v["token"])
        return v

    def me(self, token, **kw):
        return self.get("/accounts/me", token=token, **kw)

    def me_ok(self, token, **kw):
        v = expect(self.me(token, **kw), 200)
        assert set(v) == {"account"}, v
        assert_account(v["account"])
        return v["account"]

    def create_org(self, token, name=None):
        r = self.post("/organizations", {"name": name or ("Org " + uuid.uuid4().hex[:8])},
                      token=token)
        v = expect(r, 200)
        assert set(v) == {"data"}, r
        assert_org(v["data"], with_token=True)
        return v["data"]


# --------------------------------------------------------------------------
# identities and credentials

_counter = itertools.count(1)
_lock = threading.Lock()


def uniq():
    with _lock:
        n = next(_counter)
    return f"{_RUN}{n}{uuid.uuid4().hex[:6]}"


def new_email():
    return f"u{uniq()}@example.com"


def new_username():
    return f"u_{uniq()}"


def new_phone():
    # + and 12 digits, unique per call
    return "+1" + str(int(uuid.uuid4().hex[:12], 16) % 10 ** 11).rjust(11, "0")


def new_password():
    return "pw-" + uuid.uuid4().hex[:12]


class Creds:
    """What a test knows of one account."""

    def __init__(self, email, phone, username, password):
        self.email, self.phone, self.username, self.password = email, phone, username, password
        self.account = None
        self.token = None

    @classmethod
    def new(cls):
        return cls(new_email(), new_phone(), new_username(), new_password())

    @property
    def id(self):
        return self.account["id"]

    def identities(self):
        return [{"type": "email", "value": self.email}, {"type": "phone", "value": self.phone}]

    def accounts_body(self, **over):
        body = {"firstName": "Nguyen", "lastName": "Hoa", "identities": self.identities(),
                "password": self.password, "username": self.username}
        body.update(over)
        return {k: v for k, v in body.items() if v is not DROP}

    def register_body(self, code=None, **over):
        body = {"email": self.email, "password": self.password, "firstName": "Ann",
                "lastName": "Lee", "username": self.username}
        if code is not None:
            body["organizationCode"] = code
        body.update(over)
        return {k: v for k, v in body.items() if v is not DROP}

    def apply_body(self, body):
        """Keeps what the request actually used."""
        if isinstance(body.get("password"), str):
            self.password = body["password"]
        if "username" in body:
            self.username = body["username"]
        if "email" in body:
            self.email = body["email"]
        ids = body.get("identities")
        if isinstance(ids, list):
            emails = [i.get("value") for i in ids if isinstance(i, dict) and i.get("type") == "email"]
            phones = [i.get("value") for i in ids if isinstance(i, dict) and i.get("type") == "phone"]
            self.email = emails[0] if emails else None
            self.phone = phones[0] if phones else None


class _Drop:
    def __repr__(self):
        return "DROP"


# Pass as an override to leave a field out of a request body.
DROP = _Drop()


# --------------------------------------------------------------------------
# shape checks

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ACCOUNT_KEYS = {"id", "type", "firstName", "lastName", "username", "identities", "organization",
                "status", "archive", "online", "isCamera", "createdAt", "location"}
ORG_KEYS = {"id", "name", "code", "token", "plan", "owner", "createdAt"}


def expect(resp, status):
    """Status and a JSON body with the contract's headers; returns the body."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    assert resp.header("Content-Type") == JSON_CT, resp
    cl = resp.header("Content-Length")
    assert cl is not None and int(cl) == len(resp.body), resp
    return resp.json()


def expect_error(resp, status, code, field=None):
    v = expect(resp, status)
    assert isinstance(v, dict) and v.get("status") == code, resp
    assert isinstance(v.get("message"), str) and v["message"], resp
    if field is not None:
        errs = v.get("errors")
        assert isinstance(errs, dict) and field in errs, f"errors does not name {field!r}: {resp!r}"
        assert isinstance(errs[field], str) and errs[field], resp
    return v


def expect_unauthorized(resp):
    v = expect_error(resp, 401, "unauthorized")
    www = resp.header("WWW-Authenticate")
    assert www is not None and www.split()[0] == "Bearer", f"WWW-Authenticate: {resp!r}"
    return v


def expect_invalid(resp, field):
    return expect_error(resp, 422, "invalid", field)


def expect_forbidden(resp):
    return expect_error(resp, 403, "forbidden")


def expect_not_found(resp):
    return expect_error(resp, 404, "not-found")


def expect_rate_limited(resp):
    v = expect_error(resp, 429, "rate-limited")
    ra = resp.header("Retry-After")
    assert ra is not None and ra.strip().isdigit() and int(ra) >= 1, f"Retry-After: {resp!r}"
    assert int(ra) <= 60, f"Retry-After beyond a minute for a per-minute limit: {resp!r}"
    return v


def assert_time(value):
    assert isinstance(value, str) and TIME_RE.match(value), f"not an ISO-8601 ms Z time: {value!r}"
    # parses, and is not in the far past/future
    t = time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    import calendar
    assert abs(calendar.timegm(t) - time.time()) < 86400, value


def assert_account(acc, **expected):
    """The account object's exact shape and types, then the expected values."""
    assert isinstance(acc, dict), acc
    assert set(acc) == ACCOUNT_KEYS, f"keys {sorted(acc)} != {sorted(ACCOUNT_KEYS)}"
    assert isinstance(acc["id"], str) and UUID_RE.match(acc["id"]), acc
    assert acc["type"] in ("user", "operator", "dealer", "admin"), acc
    for k in ("firstName", "lastName"):
        assert isinstance(acc[k], str) and acc[k], acc
    assert acc["username"] is None or isinstance(acc["username"], str), acc
    assert isinstance(acc["identities"], list) and acc["identities"], acc
    for ident in acc["identities"]:
        assert isinstance(ident, dict) and set(ident) == {"type", "value"}, acc
        assert ident["type"] in ("email", "phone") and isinstance(ident["value"], str), acc
    assert acc["organization"] is None or (isinstance(acc["organization"], str)
                                           and UUID_RE.match(acc["organization"])), acc
    assert acc["status"] in ("active", "inactive"), acc
    for k in ("archive", "online", "isCamera"):
        assert isinstance(acc[k], bool), acc
    assert_time(acc["createdAt"])
    loc = acc["location"]
    if loc is not None:
        assert isinstance(loc, dict) and set(loc) == {"latitude", "longitude", "updatedAt"}, acc
        for k in ("latitude", "longitude"):
            assert isinstance(loc[k], (int, float)) and not isinstance(loc[k], bool), acc
        assert_time(loc["updatedAt"])
    for k, v in expected.items():
        assert acc[k] == v, f"account[{k!r}] = {acc[k]!r}, expected {v!r}: {acc}"
    return acc


def assert_org(org, with_token):
    assert isinstance(org, dict), org
    keys = set(org) - {"usage"}  # GET /organizations/:id adds the month's usage
    if with_token:
        assert keys == ORG_KEYS, f"org keys {sorted(keys)}"
        assert isinstance(org["token"], str) and re.match(r"^[0-9a-f]{32}$", org["token"]), org
    else:
        assert keys in (ORG_KEYS, ORG_KEYS - {"token"}), f"org keys {sorted(keys)}"
        assert org.get("token") is None, f"organization token shown to a non-owner: {org}"
    assert isinstance(org["id"], str) and UUID_RE.match(org["id"]), org
    assert isinstance(org["name"], str) and org["name"], org
    assert isinstance(org["code"], str) and re.match(r"^[a-z0-9]{8}$", org["code"]), org
    assert org["plan"] == "free", org
    assert isinstance(org["owner"], str) and UUID_RE.match(org["owner"]), org
    assert_time(org["createdAt"])
    return org


# --------------------------------------------------------------------------
# JWT


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_decode(token):
    h, p, s = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), s


def jwt_sign(header, payload, key=SECRET, digest=hashlib.sha256):
    signing_input = b64u(json.dumps(header, separators=(",", ":"))) + "." + \
        b64u(json.dumps(payload, separators=(",", ":")))
    sig = hmac.new(key, signing_input.encode(), digest).digest()
    return signing_input + "." + b64u(sig)


def assert_token_shape(token, account_id=None, ttl=DEFAULT_TTL_S):
    assert isinstance(token, str) and token.count(".") == 2, token
    header, payload, sig = jwt_decode(token)
    assert header.get("alg") == "HS256", header
    for k in ("sub", "typ", "iat", "exp", "jti"):
        assert k in payload, f"claim {k} missing: {payload}"
    assert payload["typ"] == "account", payload
    assert isinstance(payload["iat"], int) and isinstance(payload["exp"], int), payload
    assert abs(payload["iat"] - time.time()) < 120, payload
    assert payload["exp"] - payload["iat"] == ttl, payload
    assert isinstance(payload["jti"], str) and payload["jti"], payload
    if account_id is not None:
        assert payload["sub"] == account_id, payload
    return payload


# --------------------------------------------------------------------------
# raw requests


def post_announcing(port, path, length, token=None):
    """Sends only the headers of a POST announcing a body of length bytes and
    returns the response."""
    headers = [("Content-Type", "application/json"), ("Content-Length", str(length))]
    if token:
        headers.append(("Authorization", "Bearer " + token))
    with RawConn(port, timeout=5) as c:
        c.send(build_request("POST", path, headers=headers))
        r = c.read_response(timeout=3)
    scan_body(r, f"POST {path}")
    return r


def run_threads(fns, timeout=30):
    """Runs each fn in its own thread, started together; returns their results
    (exceptions are returned as values)."""
    results = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i, fn):
        try:
            barrier.wait(timeout=10)
            results[i] = fn()
        except Exception as e:  # the caller asserts on the results
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
        assert not t.is_alive(), "a request thread did not finish"
    return results


# --------------------------------------------------------------------------
# fixtures


def ready(srv, timeout=5):
    """Waits for GET /ready 200: /health answers as soon as the process
    listens, the account routes need Redis connected."""
    wait_until(lambda: srv.get("/ready").status == 200, timeout, message="/ready 200")
    return srv


def start_server(factory, redis_server, **env_over):
    """factory(redis_server, env=...) (make_onair or make_onair_module), with
    server_env(**env_over); waits until ready.  Returns an Api."""
    return Api(ready(factory(redis_server, env=server_env(**env_over))))


def admin_login(api, timeout=5):
    """Logs the bootstrap admin in; the admin is made once the server reaches
    Redis, which may be a moment after /health first answers."""
    wait_until(lambda: api.srv.get("/ready").status == 200, timeout, message="/ready 200")
    wait_until(lambda: api.login(ADMIN_PASSWORD, email=ADMIN_EMAIL).status != 401, timeout,
               interval=0.1, message="the bootstrap admin to log in")
    v = api.login_ok(ADMIN_PASSWORD, email=ADMIN_EMAIL)
    assert v["account"]["type"] == "admin", v
    return v


class AcctEnv:
    """Two onair instances (a, b) sharing one Redis, with the known secret,
    the bootstrap admin and high rate limits."""

    def __init__(self, srv_a, srv_b, redis_server):
        self.srv_a, self.srv_b, self.redis = srv_a, srv_b, redis_server
        self.a, self.b = Api(srv_a), Api(srv_b)
        self._admin = None

    @property
    def admin(self):
        """{"account", "token"} of the bootstrap admin (logged in once)."""
        if self._admin is None:
            self._admin = admin_login(self.a)
            assert self._admin["account"]["type"] == "admin", self._admin
        return self._admin

    @property
    def admin_token(self):
        return self.admin["token"]


@pytest.fixture(scope="module")
def acct(make_onair_module, shared_redis):
    a = ready(make_onair_module(shared_redis, env=server_env()))
    b = ready(make_onair_module(shared_redis, env=server_env()))
    return AcctEnv(a, b, shared_redis)
