"""Leads (docs/streams.md "Leads", API.md §5): POST /leads by a stream or by
an organization token, its validation, the owner's `lead` event, and who
reads them with GET /leads.

"Instance A/B" is two onair processes on one redis-server."""

import time
import uuid

import pytest

from accounts_util import (AcctEnv, Creds, expect, expect_error, expect_forbidden,
                           expect_invalid, expect_not_found, expect_rate_limited,
                           expect_unauthorized, ready, server_env, start_server)
from chatleads_util import (PREFIX, VIN, accept, assert_lead, dealer, new_org, random_token,
                            request_stream, events_of)
from events_util import Streams
from harness import assert_error


@pytest.fixture(scope="module")
def env(make_onair_module, shared_redis):
    a = ready(make_onair_module(shared_redis, env=server_env()))
    b = ready(make_onair_module(shared_redis, env=server_env()))
    return AcctEnv(a, b, shared_redis)


@pytest.fixture
def sse():
    s = Streams()
    yield s
    s.close_all()


def lead_ok(api, body, status=201):
    v = expect(api.post("/leads", body), status)
    assert set(v) == {"lead"}, v
    return assert_lead(v["lead"])


def leads_of(api, token, query=""):
    v = expect(api.get("/leads" + query, token=token), 200)
    assert set(v) == {"leads", "count"}, v
    for lead in v["leads"]:
        assert_lead(lead)
    return v


def stored_leads(env):
    return env.redis.client().zcard(PREFIX + "leads:all")


# --------------------------------------------------------------------------
# by organization token


def test_lead_by_organization_token(env):
    org = new_org(env.a)
    body = {"organizationToken": org.token, "vinId": "WVWZZZ1JZXW000001", "email": "Ann@Example.com",
            "phone": "+4915112345678", "firstName": "Ann", "lastName": "Lee",
            "comment": "Call after 5 \"please\"\n\u00e9\u20ac"}
    lead = lead_ok(env.a, body)
    assert_lead(lead, organization=org.id, streamId=None, vin="WVWZZZ1JZXW000001",
                email="Ann@Example.com", phone="+4915112345678", firstName="Ann", lastName="Lee",
                comment="Call after 5 \"please\"\n\u00e9\u20ac")
    # stored: the hash and both indexes
    r = env.redis.client()
    h = r.hgetall(PREFIX + "{lead:" + lead["id"] + "}")
    assert h["organization"] == org.id and h["streamId"] == "" and h["email"] == "Ann@Example.com", h
    assert h["createdAt"] == lead["createdAt"], h
    created_ms = int(h["createdMs"])
    assert abs(created_ms / 1000 - time.time()) < 60, h
    assert r.zscore(PREFIX + "{org:" + org.id + "}:leads", lead["id"]) == created_ms
    assert r.zscore(PREFIX + "leads:all", lead["id"]) == created_ms
    # the owner reads it, on the other instance
    v = leads_of(env.b, org.owner.token)
    assert v == {"leads": [lead], "count": 1}, v


def test_lead_with_only_a_phone_or_only_an_email(env):
    org = new_org(env.a)
    a = lead_ok(env.a, {"organizationToken": org.token, "vinId": "x", "phone": "123456"})
    assert_lead(a, phone="123456", email=None, firstName=None, lastName=None, comment=None,
                vin="x", streamId=None, organization=org.id)
    b = lead_ok(env.b, {"organizationToken": org.token, "vinId": "v" * 32, "email": "a@b.co",
                        "phone": None, "firstName": None, "streamId": None})
    assert_lead(b, email="a@b.co", phone=None, firstName=None, vin="v" * 32, streamId=None)
    # at the limits
    c = lead_ok(env.a, {"organizationToken": org.token, "vinId": "\u00e9" * 32,
                        "phone": "+1234567890123456", "firstName": "f" * 100,
                        "lastName": "\u00fc" * 100, "comment": "\u20ac" * 4000,
                        "email": "e" * 240 + "@example.com"})
    assert_lead(c, phone="+1234567890123456", firstName="f" * 100, lastName="\u00fc" * 100,
                comment="\u20ac" * 4000, email="e" * 240 + "@example.com", vin="\u00e9" * 32)


def test_owner_gets_a_lead_event(env, sse):
    org = new_org(env.a)
    s = sse.ok(env.b.port, token=org.owner.token)
    lead = lead_ok(env.a, {"organizationToken": org.token, "vinId": VIN, "email": "x@y.io"})
    got = events_of(s, "lead", until=lambda d: d.get("lead", {}).get("id") == lead["id"])
    assert got[-1] == {"lead": lead}, got
    # somebody else's lead is not told to this owner
    other = new_org(env.a)
    lead_ok(env.a, {"organizationToken": other.token, "vinId": VIN, "email": "x@y.io"})
    assert events_of(s, "lead", timeout=0.5) == []


BAD_BODIES = [
    # (body, field) -- every one has a valid organization token and vinId
    ({}, "email"),
    ({"firstName": "Ann"}, "email"),
    ({"email": None, "phone": None}, "email"),
    ({"email": "nope"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": "@example.com"}, "email"),
    ({"email": "a b@example.com"}, "email"),
    ({"email": "a@@example.com"}, "email"),
    ({"email": ""}, "email"),
    ({"email": "e" * 243 + "@example.com"}, "email"),
    ({"email": 5}, "email"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "+12345"}, "phone"),
    ({"phone": "12345678901234567"}, "phone"),
    ({"phone": "+12345678901234567"}, "phone"),
    ({"phone": "123-4567"}, "phone"),
    ({"phone": "++1234567"}, "phone"),
    ({"phone": "1234567+"}, "phone"),
    ({"phone": " 1234567"}, "phone"),
    ({"phone": ""}, "phone"),
    ({"phone": 1234567}, "phone"),
    ({"phone": "1234567", "email": "bad"}, "email"),
    ({"phone": "1234567", "firstName": "f" * 101}, "firstName"),
    ({"phone": "1234567", "firstName": "\u00e9" * 101}, "firstName"),
    ({"phone": "1234567", "firstName": ""}, "firstName"),
    ({"phone": "1234567", "firstName": ["Ann"]}, "firstName"),
    ({"phone": "1234567", "lastName": "l" * 101}, "lastName"),
    ({"phone": "1234567", "lastName": 1}, "lastName"),
    ({"phone": "1234567", "comment": "c" * 4001}, "comment"),
    ({"phone": "1234567", "comment": "\u20ac" * 4001}, "comment"),
    ({"phone": "1234567", "comment": {}}, "comment"),
    ({"phone": "1234567", "vinId": ""}, "vinId"),
    ({"phone": "1234567", "vinId": "v" * 33}, "vinId"),
    ({"phone": "1234567", "vinId": 17}, "vinId"),
    ({"phone": "1234567", "vinId": None}, "vinId"),
    ({"phone": "1234567", "organizationToken": None}, "organizationToken"),
    ({"phone": "1234567", "organizationToken": 5}, "organizationToken"),
    ({"phone": "1234567", "organizationToken": ""}, "organizationToken"),
    ({"phone": "1234567", "streamId": 5}, "streamId"),
    ({"phone": "1234567", "streamId": ""}, "streamId"),
]


@pytest.mark.parametrize("over,field", BAD_BODIES)
def test_lead_validation_422(env, over, field):
    org = new_org(env.a)
    body = {"organizationToken": org.token, "vinId": VIN}
    body.update(over)
    before = stored_leads(env)
    expect_invalid(env.a.post("/leads", body), field)
    assert stored_leads(env) == before
    assert leads_of(env.a, org.owner.token) == {"leads": [], "count": 0}


def test_lead_needs_a_form(env):
    org = new_org(env.a)
    before = stored_leads(env)
    expect_invalid(env.a.post("/leads", {"email": "a@b.co"}), "organizationToken")
    expect_invalid(env.a.post("/leads", {"email": "a@b.co", "vinId": VIN}), "organizationToken")
    expect_invalid(env.a.post("/leads", {"email": "a@b.co", "organizationToken": org.token}),
                   "vinId")
    # the contact comes first: neither an email nor a phone names email
    expect_invalid(env.a.post("/leads", {"vinId": VIN}), "email")
    expect_invalid(env.a.post("/leads", []), "body")
    expect_invalid(env.a.post("/leads", "a@b.co"), "body")
    expect_error(env.a.post("/leads", raw=b'{"email":'), 400, "bad-json")
    expect_error(env.a.post("/leads"), 400, "bad-json")
    assert stored_leads(env) == before


def test_bad_organization_token_404(env):
    org = new_org(env.a)
    before = stored_leads(env)
    for token in (random_token(), org.token.upper(), org.token[:-1], org.token + "0", "x" * 32,
                  "../" + org.token, "t" * 300):
        expect_not_found(env.a.post("/leads", {"organizationToken": token, "vinId": VIN,
                                               "phone": "1234567"}))
    # the organization's public code is not its token
    expect_not_found(env.a.post("/leads", {"organizationToken": org.code, "vinId": VIN,
                                           "phone": "1234567"}))
    assert stored_leads(env) == before


def test_deleted_organization_token_404(env):
    org = new_org(env.a)
    r = env.redis.client()
    assert r.get(PREFIX + "idx:orgtoken:" + org.token) == org.id
    lead_ok(env.a, {"organizationToken": org.token, "vinId": VIN, "phone": "1234567"})
    expect(env.a.delete(f"/organizations/{org.id}", token=org.owner.token), 200)
    assert r.exists(PREFIX + "idx:orgtoken:" + org.token) == 0
    assert r.exists(PREFIX + "idx:orgcode:" + org.code) == 0
    before = stored_leads(env)
    expect_not_found(env.b.post("/leads", {"organizationToken": org.token, "vinId": VIN,
                                           "phone": "1234567"}))
    assert stored_leads(env) == before


def test_deleted_organization_without_its_index_still_404(env):
    """An organization deleted while its token index stayed (written by hand
    here) takes no lead either."""
    org = new_org(env.a)
    r = env.redis.client()
    expect(env.a.delete(f"/organizations/{org.id}", token=org.owner.token), 200)
    r.set(PREFIX + "idx:orgtoken:" + org.token, org.id)
    expect_not_found(env.a.post("/leads", {"organizationToken": org.token, "vinId": VIN,
                                           "phone": "1234567"}))
    r.delete(PREFIX + "idx:orgtoken:" + org.token)


# --------------------------------------------------------------------------
# by stream


def test_lead_by_stream(env, sse):
    org = new_org(env.a)
    s = request_stream(env.a, org, vin=VIN)
    ev = sse.ok(env.a.port, token=org.owner.token)
    lead = lead_ok(env.b, {"streamId": s.id, "email": "shopper@example.com", "lastName": "Kim"})
    assert_lead(lead, organization=org.id, streamId=s.id, vin=VIN, email="shopper@example.com",
                lastName="Kim", firstName=None, phone=None, comment=None)
    got = events_of(ev, "lead", until=lambda d: d["lead"]["id"] == lead["id"])
    assert got[-1] == {"lead": lead}
    assert leads_of(env.a, org.owner.token) == {"leads": [lead], "count": 1}


def test_stream_id_wins(env):
    org, other = new_org(env.a), new_org(env.a)
    s = request_stream(env.a, org, vin=VIN)
    # with another organization's token and another VIN: the stream's organization and VIN
    lead = lead_ok(env.a, {"streamId": s.id, "organizationToken": other.token,
                           "vinId": "OTHERVIN", "phone": "5551234"})
    assert_lead(lead, organization=org.id, streamId=s.id, vin=VIN)
    time.sleep(0.003)
    # with a bad token: the stream still wins
    lead2 = lead_ok(env.b, {"streamId": s.id, "organizationToken": random_token(),
                            "phone": "5551234"})
    assert_lead(lead2, organization=org.id, streamId=s.id, vin=VIN)
    # an unknown stream with a good token: 404, the token is not a fallback
    expect_not_found(env.a.post("/leads", {"streamId": str(uuid.uuid4()),
                                           "organizationToken": org.token, "vinId": VIN,
                                           "phone": "5551234"}))
    assert leads_of(env.a, other.owner.token)["count"] == 0
    assert [x["id"] for x in leads_of(env.a, org.owner.token)["leads"]] == [lead2["id"],
                                                                          lead["id"]]


def test_lead_for_an_accepted_stream(env):
    org = new_org(env.a)
    d = dealer(env.a, env.admin_token, org)
    s = accept(env.b, request_stream(env.a, org), d)
    lead = lead_ok(env.a, {"streamId": s.id, "phone": "+15551234567"})
    assert_lead(lead, organization=org.id, streamId=s.id, vin=VIN)
    assert leads_of(env.b, d.token) == {"leads": [lead], "count": 1}


def test_unknown_stream_404(env):
    before = stored_leads(env)
    for sid in (str(uuid.uuid4()), "not-a-uuid", str(uuid.uuid4()).upper(), "x" * 300):
        expect_not_found(env.a.post("/leads", {"streamId": sid, "phone": "1234567"}))
    assert stored_leads(env) == before


def test_stream_form_is_validated_too(env):
    org = new_org(env.a)
    s = request_stream(env.a, org)
    expect_invalid(env.a.post("/leads", {"streamId": s.id}), "email")
    expect_invalid(env.a.post("/leads", {"streamId": s.id, "phone": "12"}), "phone")
    # the other form's fields keep their types and lengths
    expect_invalid(env.a.post("/leads", {"streamId": s.id, "phone": "1234567", "vinId": "v" * 33}),
                   "vinId")
    assert leads_of(env.a, org.owner.token)["count"] == 0


# --------------------------------------------------------------------------
# GET /leads


def make_leads(api, org, n, tag):
    """n leads for org, one after another (distinct milliseconds), oldest first."""
    out = []
    for i in range(n):
        out.append(lead_ok(api, {"organizationToken": org.token, "vinId": f"{tag}-{i}",
                                 "phone": "1234567"}))
        time.sleep(0.003)
    return out


def test_list_visibility(env):
    org, other = new_org(env.a), new_org(env.a)
    ours = make_leads(env.a, org, 3, "ours")
    theirs = make_leads(env.b, other, 2, "theirs")
    newest_first = [x["id"] for x in reversed(ours)]
    d = dealer(env.a, env.admin_token, org)
    d_other = dealer(env.a, env.admin_token, other)
    for api in (env.a, env.b):
        # the owner and a dealer of the organization
        v = leads_of(api, org.owner.token)
        assert v["count"] == 3 and [x["id"] for x in v["leads"]] == newest_first, v
        assert v["leads"] == list(reversed(ours)), v
        assert leads_of(api, d.token) == v
        # a dealer of another organization sees its own only
        v2 = leads_of(api, d_other.token)
        assert [x["id"] for x in v2["leads"]] == [x["id"] for x in reversed(theirs)], v2
        assert v2["count"] == 2
    # neither a dealer nor an owner: 403
    user = env.a.create_account()
    expect_forbidden(env.a.get("/leads", token=user.token))
    operator = env.a.create_account(type="operator")
    expect_forbidden(env.b.get("/leads", token=operator.token))
    loner = env.a.create_account(token=env.admin_token, type="dealer")  # no organization
    expect_forbidden(env.a.get("/leads", token=loner.token))
    expect_unauthorized(env.a.get("/leads"))


def test_list_refuses_a_stream_guest_token(env):
    org = new_org(env.a)
    s = request_stream(env.a, org)
    lead_ok(env.a, {"streamId": s.id, "phone": "1234567"})
    expect_unauthorized(env.a.get("/leads", token=s.token))


def test_admin_sees_all(env):
    org, other = new_org(env.a), new_org(env.a)
    mine = make_leads(env.a, org, 2, "a") + make_leads(env.a, other, 2, "b")
    v = leads_of(env.b, env.admin_token, "?limit=200")
    assert v["count"] == stored_leads(env), v
    newest = [x["id"] for x in v["leads"][:4]]
    assert newest == [x["id"] for x in reversed(mine)], v


def test_owner_who_is_also_a_dealer_sees_both(env):
    theirs = new_org(env.a)
    d = dealer(env.a, env.admin_token, theirs)
    own = new_org(env.a, owner=d)  # a dealer may own an organization of its own
    a = make_leads(env.a, theirs, 2, "t")
    b = make_leads(env.a, own, 2, "o")
    c = make_leads(env.a, theirs, 1, "t2")
    everything = [x["id"] for x in reversed(a + b + c)]
    v = leads_of(env.b, d.token)
    assert [x["id"] for x in v["leads"]] == everything and v["count"] == 5, v
    v = leads_of(env.b, d.token, "?limit=2&offset=2")
    assert [x["id"] for x in v["leads"]] == everything[2:4] and v["count"] == 5, v
    v = leads_of(env.b, d.token, "?offset=4")
    assert [x["id"] for x in v["leads"]] == everything[4:] and v["count"] == 5, v
    # the other organization's owner sees only its own three
    assert [x["id"] for x in leads_of(env.a, theirs.owner.token)["leads"]] == \
        [x["id"] for x in reversed(a + c)]


def test_deleted_organization_leads_are_hidden(env):
    org = new_org(env.a)
    d = dealer(env.a, env.admin_token, org)
    make_leads(env.a, org, 2, "gone")
    assert leads_of(env.a, d.token)["count"] == 2
    expect(env.a.delete(f"/organizations/{org.id}", token=org.owner.token), 200)
    assert leads_of(env.a, d.token) == {"leads": [], "count": 0}
    # the former owner owns nothing now
    expect_forbidden(env.a.get("/leads", token=org.owner.token))


def test_list_paging(env):
    org = new_org(env.a)
    made = make_leads(env.a, org, 7, "p")
    ids = [x["id"] for x in reversed(made)]
    tok = org.owner.token
    assert [x["id"] for x in leads_of(env.a, tok, "?limit=3")["leads"]] == ids[:3]
    assert [x["id"] for x in leads_of(env.b, tok, "?limit=3&offset=3")["leads"]] == ids[3:6]
    v = leads_of(env.a, tok, "?limit=3&offset=6")
    assert [x["id"] for x in v["leads"]] == ids[6:] and v["count"] == 7, v
    assert leads_of(env.a, tok, "?offset=7") == {"leads": [], "count": 7}
    assert leads_of(env.a, tok, "?offset=1000") == {"leads": [], "count": 7}
    assert [x["id"] for x in leads_of(env.a, tok, "?limit=1&offset=0")["leads"]] == ids[:1]
    assert [x["id"] for x in leads_of(env.a, tok, "?limit=200")["leads"]] == ids
    for q, field in (("?limit=0", "limit"), ("?limit=201", "limit"), ("?limit=x", "limit"),
                     ("?limit=", "limit"), ("?offset=-1", "offset"), ("?offset=1.5", "offset"),
                     ("?offset=", "offset")):
        expect_invalid(env.a.get("/leads" + q, token=tok), field)


# --------------------------------------------------------------------------
# limits and failures (servers of their own)


def test_post_leads_is_rate_limited_per_ip(make_onair, redis_server):
    """Per client IP like sign-up: a trusted proxy names the clients, so the
    set-up's own requests do not count against them."""
    api = start_server(make_onair, redis_server, ONAIR_AUTH_IP_RATE_PER_MIN=2,
                       ONAIR_TRUSTED_PROXIES="127.0.0.1/32")
    owner = Creds.new()
    v = expect(api.post("/accounts", owner.accounts_body(),
                        headers={"X-Forwarded-For": "198.51.100.1"}), 201)
    owner.account, owner.token = v["account"], v["token"]
    org = new_org(api, owner=owner)
    shopper = {"X-Forwarded-For": "203.0.113.7"}
    body = {"organizationToken": org.token, "vinId": VIN, "phone": "1234567"}
    expect(api.post("/leads", body, headers=shopper), 201)
    # a refused one counts too
    expect_invalid(api.post("/leads", {"organizationToken": org.token, "vinId": VIN},
                            headers=shopper), "email")
    expect_rate_limited(api.post("/leads", body, headers=shopper))
    assert redis_server.client().zcard(PREFIX + "leads:all") == 1
    # another client is not limited; reading is not limited
    expect(api.post("/leads", body, headers={"X-Forwarded-For": "203.0.113.8"}), 201)
    for _ in range(3):
        assert leads_of(api, org.owner.token)["count"] == 2


def test_redis_down_is_503(make_onair, redis_server):
    api = start_server(make_onair, redis_server)
    org = new_org(api)
    redis_server.stop()
    for body in ({"organizationToken": org.token, "vinId": VIN, "phone": "1234567"},
                 {"streamId": str(uuid.uuid4()), "phone": "1234567"}):
        r = api.post("/leads", body)
        assert r.elapsed < 1.0, r.elapsed
        assert_error(r, 503, "unavailable")
        assert r.header("Retry-After") is not None, r
