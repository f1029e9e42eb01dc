"""POST /socket/auth (API.md §5, docs/streams.md "Pusher"): Pusher channel
authorization for pusher-js, with JSON or form bodies.

Every signature is recomputed here with Python's hmac, independently of the
server, and compared exactly.  The servers use Pusher's documented example
credentials, so the first test is Pusher's own worked example carried over to
a channel of ours."""

import hashlib
import hmac
import json
import os
import time
import urllib.parse
import uuid

import pytest

from accounts_util import (Api, expect, expect_error, expect_forbidden, expect_invalid,
                           expect_unauthorized, jwt_decode, jwt_sign, ready, server_env)
from gigs_util import build_gig, customer, gig_env, operator
from harness import wait_until

APP_ID = "1"
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
PUSHER = {"ONAIR_PUSHER_APP_ID": APP_ID, "ONAIR_PUSHER_KEY": KEY, "ONAIR_PUSHER_SECRET": SECRET}

FORM_CT = "application/x-www-form-urlencoded"
SOCKET = "1234.1234"
UNIT_TEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit",
                         "test_pusher.c")
# Pusher's published signature for socket 1234.1234, channel private-foobar
# (https://pusher.com/docs/channels/library_auth_reference/auth-signatures/).
FOOBAR_SIGNATURE = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"


@pytest.fixture(scope="module")
def env(make_onair_module, shared_redis):
    """Instances A and B sharing one Redis, Pusher configured."""
    return gig_env(make_onair_module, shared_redis, ONAIR_GIG_CLAIM_TIMEOUT_MS=120000,
                   ONAIR_GIG_CONFIRM_TIMEOUT_MS=120000, **PUSHER)


# --------------------------------------------------------------------------
# helpers


def signature(text):
    return hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


def auth_json(api, token, body):
    return api.post("/socket/auth", body, token=token)


def auth_form(api, token, body, content_type=FORM_CT):
    """body: a dict (urlencoded here) or the raw form text."""
    if isinstance(body, dict):
        body = urllib.parse.urlencode(body)
    return api.post("/socket/auth", token=token, raw=body.encode(),
                    headers={"Content-Type": content_type})


def subscribe(api, token, channel, socket_id=SOCKET, form=False):
    body = {"socket_id": socket_id, "channel_name": channel}
    return auth_form(api, token, body) if form else auth_json(api, token, body)


def expect_signed(resp, channel, socket_id=SOCKET):
    """200 {"auth"} whose signature covers "<socket_id>:<channel>"."""
    v = expect(resp, 200)
    assert set(v) == {"auth"}, resp
    assert v["auth"] == KEY + ":" + signature(f"{socket_id}:{channel}"), resp
    return v


def expect_presence(resp, channel, user_id, name, type_, socket_id=SOCKET):
    """200 {"auth", "channel_data"}: the member's data, signed with it."""
    v = expect(resp, 200)
    assert set(v) == {"auth", "channel_data"}, resp
    data = v["channel_data"]
    assert isinstance(data, str), resp
    assert json.loads(data) == {"user_id": user_id, "user_info": {"name": name, "type": type_}}
    assert v["auth"] == KEY + ":" + signature(f"{socket_id}:{channel}:{data}"), resp
    return data


def refused(api, token, channel, form=False):
    expect_forbidden(subscribe(api, token, channel, form=form))


def guest_token(stream_id, guest_id=None):
    """A guest token as POST /streams/request issues them (docs/streams.md),
    signed here with the servers' known secret."""
    now = int(time.time())
    return jwt_sign({"alg": "HS256", "typ": "JWT"},
                    {"sub": guest_id or str(uuid.uuid4()), "typ": "guest", "str": stream_id,
                     "iat": now, "exp": now + 3600, "jti": str(uuid.uuid4())})


def member(env, org, type_="dealer", **over):
    """An active account of organization `org` (made by the admin)."""
    return env.a.create_account(token=env.admin_token, organization=org["id"], type=type_, **over)


def new_org(env):
    owner = env.a.create_account()
    return owner, env.a.create_org(owner.token)


# --------------------------------------------------------------------------
# the worked example


def test_pusher_vector_is_covered_by_the_unit_module():
    """The private-foobar vector is Pusher's, and test_pusher.c checks it."""
    assert signature("1234.1234:private-foobar") == FOOBAR_SIGNATURE
    with open(UNIT_TEST) as f:
        src = f.read()
    assert '"private-foobar"' in src and FOOBAR_SIGNATURE in src, UNIT_TEST


def test_worked_example_on_own_account_channel(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    want = KEY + ":" + hmac.new(b"7ad3773142a6692b25b8", f"1234.1234:{channel}".encode(),
                                hashlib.sha256).hexdigest()
    for api in (env.a, env.b):
        for form in (False, True):
            r = subscribe(api, c.token, channel, socket_id="1234.1234", form=form)
            assert expect(r, 200) == {"auth": want}, r


def test_signature_covers_socket_and_channel(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    sigs = set()
    for sid in ("1.1", "0.0", "98765432101234.5678901234", "1234.1235"):
        v = expect_signed(subscribe(env.a, c.token, channel, socket_id=sid), channel,
                          socket_id=sid)
        sigs.add(v["auth"])
    assert len(sigs) == 4


# --------------------------------------------------------------------------
# bodies


def test_form_as_pusher_js_posts_it(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    # pusher-js: socket_id first, charset parameter on the Content-Type
    raw = f"socket_id={SOCKET}&channel_name={channel}"
    expect_signed(auth_form(env.a, c.token, raw, FORM_CT + "; charset=UTF-8"), channel)
    # any order, other fields ignored, names and values percent-encoded
    raw = (f"channel_name=private%2Daccount%2D{c.id}&foo=bar&socket%5Fid=1234%2E1234"
           f"&socket_id=9.9")
    expect_signed(auth_form(env.b, c.token, raw, "Application/X-WWW-Form-URLEncoded"), channel)


def test_json_whatever_the_content_type(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    body = json.dumps({"socket_id": SOCKET, "channel_name": channel, "extra": [1]}).encode()
    for ct in ("application/json", "text/plain", None):
        headers = {"Content-Type": ct} if ct else {}
        r = env.a.post("/socket/auth", token=c.token, raw=body, headers=headers)
        expect_signed(r, channel)


def test_malformed_bodies(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    for raw in (b"", b"{", b"socket_id=1.1", b'{"socket_id": "1.1",}', b"\xff"):
        r = env.a.post("/socket/auth", token=c.token, raw=raw,
                       headers={"Content-Type": "application/json"})
        expect_error(r, 400, "bad-json")
    for raw in (f"socket_id=1.1&channel_name={channel}&x=%zz", "socket_id=1%2&channel_name=a",
                f"socket_id=1.1%00&channel_name={channel}"):
        expect_error(auth_form(env.a, c.token, raw), 400, "bad-request")
    for body in ([], "x", 1, None):
        expect_invalid(auth_json(env.a, c.token, body), "body")


def test_missing_fields(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    expect_invalid(auth_json(env.a, c.token, {}), "socket_id")
    expect_invalid(auth_json(env.a, c.token, {"channel_name": channel}), "socket_id")
    expect_invalid(auth_json(env.a, c.token, {"socket_id": SOCKET}), "channel_name")
    expect_invalid(auth_json(env.a, c.token, {"socket_id": SOCKET, "channel_name": None}),
                   "channel_name")
    expect_invalid(auth_form(env.a, c.token, ""), "socket_id")
    expect_invalid(auth_form(env.a, c.token, {"channel_name": channel}), "socket_id")
    expect_invalid(auth_form(env.a, c.token, {"socket_id": SOCKET}), "channel_name")
    expect_invalid(auth_form(env.a, c.token, "socket_id=1.1&channel_name"), "channel_name")


BAD_SOCKET_IDS = ["", "1234", "1234.", ".1234", "1234.1234.1", "12a4.1234", "-1.1", "+1.1",
                  " 1234.1234", "1234.1234 ", "1234,1234", "1e3.1", "١٢٣.٤", "1" * 60 + ".1234"]


@pytest.mark.parametrize("sid", BAD_SOCKET_IDS)
def test_bad_socket_id_is_422(env, sid):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    expect_invalid(subscribe(env.a, c.token, channel, socket_id=sid), "socket_id")
    expect_invalid(subscribe(env.b, c.token, channel, socket_id=sid, form=True), "socket_id")


def test_socket_id_must_be_a_string(env):
    c = env.a.create_account()
    channel = f"private-account-{c.id}"
    for sid in (1234.1234, 1234, None, ["1.1"], {"a": "1.1"}):
        expect_invalid(auth_json(env.a, c.token, {"socket_id": sid, "channel_name": channel}),
                       "socket_id")
    # NUL inside a JSON string
    expect_invalid(auth_json(env.a, c.token, {"socket_id": "1.1\u0000", "channel_name": channel}),
                   "socket_id")


def test_bad_channel_name_is_422(env):
    c = env.a.create_account()
    tail = "-" + c.id
    for name in ("", "private-account" + tail + " ", "private account", "private-føø",
                 "private-a/b", "private-a#b", "presence-org-" + "a" * 152, 12, ["x"],
                 "private-account" + tail + "\u0000"):
        expect_invalid(auth_json(env.a, c.token, {"socket_id": SOCKET, "channel_name": name}),
                       "channel_name")
    expect_invalid(auth_form(env.a, c.token, {"socket_id": SOCKET, "channel_name": "a b"}),
                   "channel_name")
    # 164 characters is Pusher's limit: valid, and refused only as not ours
    expect_forbidden(subscribe(env.a, c.token, "private-" + "a" * 156))


def test_socket_id_is_checked_before_the_channel(env):
    c = env.a.create_account()
    expect_invalid(auth_json(env.a, c.token, {"socket_id": "x", "channel_name": "a b"}),
                   "socket_id")


# --------------------------------------------------------------------------
# who may subscribe to what


def test_account_channel_is_its_own_only(env):
    me, other = env.a.create_account(), env.b.create_account()
    expect_signed(subscribe(env.a, me.token, f"private-account-{me.id}"),
                  f"private-account-{me.id}")
    for channel in (f"private-account-{other.id}", f"private-account-{me.id.upper()}",
                    f"private-account-{me.id}x", f"private-account-{me.id[:-1]}",
                    "private-account-", f"private-account{me.id}", f"presence-account-{me.id}",
                    f"private-encrypted-account-{me.id}", f"account-{me.id}", f"{me.id}"):
        refused(env.a, me.token, channel)
        refused(env.b, me.token, channel, form=True)


def test_public_encrypted_and_unknown_channels_are_403(env):
    c = env.a.create_account()
    for channel in ("foobar", "private-foobar", "presence-foobar", "private-encrypted-foobar",
                    f"private-encrypted-account-{c.id}", "private-", "presence-", "private-org-",
                    "presence-org-", f"private-user-{c.id}", f"private-gigs-{c.id}"):
        refused(env.a, c.token, channel)


def test_gig_channels_for_its_parties(env):
    g = build_gig(env, "confirmed", n_ops=2)
    stranger = customer(env.a)
    for channel in (f"private-gig-{g.id}", f"private-chat_{g.id}"):
        for who, api in ((g.cust, env.a), (g.op, env.b)):
            expect_signed(subscribe(api, who.token, channel), channel)
            expect_signed(subscribe(api, who.token, channel, form=True), channel)
        # offered but not the operator; not a party at all
        refused(env.a, g.others[0].token, channel)
        refused(env.b, stranger.token, channel)
    # another gig of neither
    h = build_gig(env, "claimed")
    for who in (g.cust, g.op):
        refused(env.a, who.token, f"private-gig-{h.id}")
        refused(env.a, who.token, f"private-chat_{h.id}")
    expect_signed(subscribe(env.a, h.op.token, f"private-chat_{h.id}"), f"private-chat_{h.id}")


def test_gig_channels_before_a_claim_and_after_the_end(env):
    g = build_gig(env, "requested")
    expect_signed(subscribe(env.a, g.cust.token, f"private-gig-{g.id}"), f"private-gig-{g.id}")
    refused(env.a, g.op.token, f"private-gig-{g.id}")  # only offered so far
    done = build_gig(env, "stopped")
    for who in (done.cust, done.op):
        expect_signed(subscribe(env.b, who.token, f"private-chat_{done.id}"),
                      f"private-chat_{done.id}")


def test_gig_channel_spellings_that_name_no_gig(env):
    g = build_gig(env, "claimed")
    for channel in (f"private-gig-{uuid.uuid4()}", f"private-chat_{uuid.uuid4()}",
                    f"private-gig-{g.id.upper()}", f"private-gig-{g.id}-x", "private-gig-",
                    f"private-chat-{g.id}", f"private-gig_{g.id}", f"presence-gig-{g.id}",
                    f"private-chat_{g.id[:-1]}"):
        refused(env.a, g.cust.token, channel)


def test_org_channels_for_its_members(env):
    _, org = new_org(env)
    _, other_org = new_org(env)
    dealer = member(env, org, firstName="Dana", lastName="Reyes")
    user = member(env, org, type_="user", firstName="Uma", lastName="Oak")
    outsider = member(env, other_org)
    lone = operator(env.a)
    code = org["code"]
    for who, api in ((dealer, env.a), (user, env.b)):
        expect_signed(subscribe(api, who.token, f"private-org-{code}"), f"private-org-{code}")
    data = expect_presence(subscribe(env.a, dealer.token, f"presence-org-{code}"),
                           f"presence-org-{code}", dealer.id, "Dana Reyes", "dealer")
    assert data == ('{"user_id":"%s","user_info":{"name":"Dana Reyes","type":"dealer"}}'
                    % dealer.id), data
    expect_presence(subscribe(env.b, user.token, f"presence-org-{code}", form=True),
                    f"presence-org-{code}", user.id, "Uma Oak", "user")
    for channel in (f"private-org-{code}", f"presence-org-{code}"):
        refused(env.a, outsider.token, channel)
        refused(env.a, lone.token, channel)
    # another org's code, a code that is no org's, a different spelling
    for channel in (f"private-org-{other_org['code']}", f"presence-org-{other_org['code']}",
                    "private-org-zzzzzzzz", f"private-org-{code.upper()}",
                    f"private-org-{code}x", f"presence-org-{code[:-1]}", f"private-org-{org['id']}",
                    f"presence-organization-{code}", f"private-encrypted-org-{code}"):
        refused(env.a, dealer.token, channel)


def test_presence_channel_data_escapes_names(env):
    _, org = new_org(env)
    d = member(env, org, firstName='Zoë "Z"', lastName="O'Brien\\x")
    channel = f"presence-org-{org['code']}"
    r = subscribe(env.a, d.token, channel, socket_id="5.6")
    expect_presence(r, channel, d.id, 'Zoë "Z" O\'Brien\\x', "dealer", socket_id="5.6")


def test_deleted_org_has_no_channels(env):
    owner, org = new_org(env)
    d = member(env, org)
    channel = f"private-org-{org['code']}"
    expect_signed(subscribe(env.a, d.token, channel), channel)
    expect(env.a.delete(f"/organizations/{org['id']}", token=owner.token), 200)
    refused(env.a, d.token, channel)
    refused(env.b, d.token, f"presence-org-{org['code']}")


def test_stream_channel_refusals_without_a_stream(env):
    _, org = new_org(env)
    dealer = member(env, org)
    user = member(env, org, type_="user")
    cust = customer(env.a)
    for who in (dealer, user, cust):
        refused(env.a, who.token, f"private-stream-{uuid.uuid4()}")
    refused(env.a, dealer.token, "private-stream-not-a-stream")


# --------------------------------------------------------------------------
# streams

VIN = "1HGCM82633A004352"


def request_stream(env, org, api=None):
    """POST /streams/request/<code> as a shopper: (stream id, guest token)."""
    v = expect((api or env.b).post(f"/streams/request/{org['code']}", {"vin": VIN}), 201)
    assert set(v) >= {"stream", "token"}, v
    return v["stream"]["id"], v["token"]


def test_stream_channel_for_its_guest_and_the_orgs_dealers(env):
    _, org = new_org(env)
    _, other_org = new_org(env)
    sid, guest = request_stream(env, org)
    other_sid, other_guest = request_stream(env, other_org, api=env.a)
    channel = f"private-stream-{sid}"
    dealer = member(env, org)
    for api in (env.a, env.b):
        for form in (False, True):
            expect_signed(subscribe(api, guest, channel, form=form), channel)
            expect_signed(subscribe(api, dealer.token, channel, form=form), channel)
    # the other stream's guest, a dealer of another org, a non-dealer of the
    # org, a customer, the admin
    refused(env.a, other_guest, channel)
    refused(env.a, member(env, other_org).token, channel)
    refused(env.b, member(env, org, type_="user").token, channel)
    refused(env.b, member(env, org, type_="operator").token, channel)
    refused(env.a, customer(env.a).token, channel)
    refused(env.a, env.admin_token, channel)
    # and the other way round
    expect_signed(subscribe(env.b, other_guest, f"private-stream-{other_sid}"),
                  f"private-stream-{other_sid}")
    refused(env.b, guest, f"private-stream-{other_sid}")
    refused(env.b, dealer.token, f"private-stream-{other_sid}")
    # other spellings of the stream's channel
    for spelling in (f"private-stream-{sid.upper()}", f"private-stream-{sid}x",
                     f"presence-stream-{sid}", f"private-streams-{sid}", f"private-stream_{sid}",
                     f"private-encrypted-stream-{sid}", f"private-chat_{sid}",
                     f"private-gig-{sid}"):
        refused(env.a, guest, spelling)
        refused(env.a, dealer.token, spelling)


def test_stream_guest_is_the_one_its_stream_names(env):
    """A token for the right stream but another guest id (signed with the
    server's secret, which only the server has) is still no guest of it."""
    _, org = new_org(env)
    sid, _ = request_stream(env, org)
    refused(env.a, guest_token(sid), f"private-stream-{sid}")


def test_guest_has_no_other_channels(env):
    g = build_gig(env, "claimed")
    _, org = new_org(env)
    sid, guest = request_stream(env, org)
    guest_id = jwt_decode(guest)[1]["sub"]
    for channel in (f"private-account-{guest_id}", f"private-gig-{g.id}", f"private-chat_{g.id}",
                    f"private-org-{org['code']}", f"presence-org-{org['code']}",
                    f"presence-stream-{sid}", "private-foobar", "foobar"):
        refused(env.a, guest, channel)


# --------------------------------------------------------------------------
# guests of streams the store does not know


def test_guest_of_an_unknown_stream(env):
    """A guest token (signed here with the servers' secret) for a stream that
    is not in the store: nothing to subscribe to."""
    sid = str(uuid.uuid4())
    tok = guest_token(sid)
    refused(env.a, tok, f"private-stream-{sid}")
    refused(env.b, tok, f"private-stream-{uuid.uuid4()}", form=True)


# --------------------------------------------------------------------------
# authentication, configuration, the store


def test_no_or_bad_token_is_401(env):
    c = env.a.create_account()
    body = {"socket_id": SOCKET, "channel_name": f"private-account-{c.id}"}
    expect_unauthorized(auth_json(env.a, None, body))
    expect_unauthorized(auth_form(env.a, None, body))
    expect_unauthorized(auth_json(env.a, c.token + "x", body))
    expect_unauthorized(auth_json(env.a, "nonsense", body))


def test_wrong_method_is_405(env):
    r = env.a.get("/socket/auth")
    expect_error(r, 405, "method-not-allowed")
    assert "POST" in (r.header("Allow") or ""), r


@pytest.mark.parametrize("settings", [{}, {"ONAIR_PUSHER_SECRET": SECRET}])
def test_not_configured_is_503(make_onair, redis_server, settings):
    api = Api(ready(make_onair(redis_server, env=server_env(admin=False, **settings))))
    c = api.create_account()
    channel = f"private-account-{c.id}"
    for form in (False, True):
        r = subscribe(api, c.token, channel, form=form)
        expect_error(r, 503, "pusher-not-configured")
    # even a bad body: the route cannot work at all
    expect_error(auth_json(api, c.token, {}), 503, "pusher-not-configured")
    # authentication still comes first
    expect_unauthorized(auth_json(api, None, {"socket_id": SOCKET, "channel_name": channel}))


def expect_unavailable(resp):
    expect_error(resp, 503, "unavailable")
    ra = resp.header("Retry-After")
    assert ra is not None and ra.strip().isdigit(), resp


def lone_server(make_onair, redis_server):
    """One instance on its own Redis, Pusher configured: (api, an account,
    a stream's id and guest token)."""
    api = Api(ready(make_onair(redis_server, env=server_env(admin=False, **PUSHER))))
    c = api.create_account()
    org = api.create_org(c.token)
    v = expect(api.post(f"/streams/request/{org['code']}", {"vin": VIN}), 201)
    return api, c, v["stream"]["id"], v["token"]


def test_redis_down_is_503(make_onair, redis_server):
    api, c, sid, guest = lone_server(make_onair, redis_server)
    stream_channel = f"private-stream-{sid}"
    expect_signed(subscribe(api, guest, stream_channel), stream_channel)
    redis_server.stop()
    wait_until(lambda: api.srv.get("/ready").status == 503, 2.0, message="/ready 503")
    for form in (False, True):
        # an account: its token cannot be checked
        r = subscribe(api, c.token, f"private-account-{c.id}", form=form)
        assert r.elapsed < 1.0, r
        expect_unavailable(r)
        # a guest: its token needs no store, its stream does
        r = subscribe(api, guest, stream_channel, form=form)
        assert r.elapsed < 1.0, r
        expect_unavailable(r)
    # refused without asking the store: still 403
    refused(api, guest, "private-foobar")
    refused(api, guest, f"private-stream-{uuid.uuid4()}")
    redis_server.start()
    wait_until(lambda: api.srv.get("/ready").status == 200, 5.0, message="/ready 200")
    # the restarted store is empty: the account is gone, the stream unknown
    expect_unauthorized(subscribe(api, c.token, f"private-account-{c.id}"))
    refused(api, guest, stream_channel)


def test_redis_paused_answers_within_the_deadline(make_onair, redis_server):
    api, _, sid, guest = lone_server(make_onair, redis_server)
    channel = f"private-stream-{sid}"
    redis_server.pause()
    try:
        r = subscribe(api, guest, channel)
        expect_unavailable(r)
        assert 0.3 <= r.elapsed < 1.5, r.elapsed
    finally:
        redis_server.resume()
    wait_until(lambda: subscribe(api, guest, channel).status == 200, 5.0,
               message="200 again after SIGCONT")
    expect_signed(subscribe(api, guest, channel), channel)
