"""POST /accounts (shape, validation, mass assignment, duplicates, the
concurrent-registration race), GET /accounts/me, online/offline/location,
PUT /accounts/:id."""

import time
import uuid
from collections import Counter

import pytest

from accounts_util import (DROP, Creds, acct, assert_account, assert_token_shape,  # noqa: F401
                           expect, expect_error, expect_forbidden, expect_invalid,
                           expect_not_found, expect_unauthorized, new_email, new_password,
                           new_phone, new_username, post_announcing, run_threads)


# -- happy path and shape --------------------------------------------------------


def test_create_account_shape_and_token(acct):
    c = Creds.new()
    body = c.accounts_body()
    r = acct.a.post("/accounts", body)
    v = expect(r, 201)
    assert set(v) == {"account", "token"}, r
    acc = assert_account(v["account"], type="user", firstName="Nguyen", lastName="Hoa",
                         username=c.username, identities=c.identities(), organization=None,
                         status="active", archive=False, online=False, isCamera=False,
                         location=None)
    assert_token_shape(v["token"], account_id=acc["id"])
    # the token works on both instances and shows the same account
    assert acct.a.me_ok(v["token"]) == acc
    assert acct.b.me_ok(v["token"]) == acc
    # and the password logs in, by email and by phone-less username
    got = acct.b.login_ok(c.password, email=c.email)
    assert got["account"] == acc


def test_seed_body_verbatim_plus_password(acct):
    """Seed 000's body: archive false, status active, type user, operator null,
    organization null."""
    email = new_email()
    phone = new_phone()[1:]  # digits only, like the seed
    body = {"firstName": "Nguyen", "lastName": "Hoa", "archive": False, "status": "active",
            "type": "user", "operator": None, "organization": None,
            "identities": [{"type": "email", "value": email}, {"type": "phone", "value": phone}],
            "password": new_password()}
    v = expect(acct.a.post("/accounts", body), 201)
    assert_account(v["account"], type="user", username=None, organization=None, status="active",
                   archive=False, identities=body["identities"])


def test_create_operator_without_auth(acct):
    c = acct.a.create_account(type="operator")
    assert_account(c.account, type="operator", status="active")


def test_email_only_and_phone_only_identities(acct):
    c = acct.a.create_account(identities=[{"type": "email", "value": new_email()}], username=DROP)
    assert_account(c.account, username=None)
    assert len(c.account["identities"]) == 1
    phone = new_phone()
    c2 = acct.a.create_account(identities=[{"type": "phone", "value": phone}], username=DROP)
    assert c2.account["identities"] == [{"type": "phone", "value": phone}]


@pytest.mark.parametrize("phone", ["123456", "+123456", "1234567890123456", "+1234567890123456"])
def test_phone_length_bounds_accepted(acct, phone):
    # make it unique but keep its length
    digits = sum(ch.isdigit() for ch in phone)
    unique = str(uuid.uuid4().int)[:digits]
    unique = ("+" if phone.startswith("+") else "") + unique
    acct.a.create_account(identities=[{"type": "phone", "value": unique}], username=DROP)


def test_length_bounds_accepted(acct):
    """The largest and smallest valid values are accepted, and come back as sent."""
    u3 = "a" + uuid.uuid4().hex[:2]
    email254 = "e" + uuid.uuid4().hex[:8] + "x" * (254 - 9 - len("@example.com")) + "@example.com"
    assert len(email254) == 254
    c = acct.a.create_account(firstName="F" * 100, lastName="L", password="p" * 5 + "!",
                              username=u3, identities=[{"type": "email", "value": email254}])
    assert_account(c.account, firstName="F" * 100, lastName="L", username=u3)
    acct.b.login_ok("p" * 5 + "!", email=email254)
    pw128 = uuid.uuid4().hex * 4
    u32 = "U." + uuid.uuid4().hex[:28] + "-_"
    assert len(pw128) == 128 and len(u32) == 32
    c2 = acct.a.create_account(lastName="L" * 100, password=pw128, username=u32)
    assert_account(c2.account, lastName="L" * 100, username=u32)
    acct.b.login_ok(pw128, username=u32)
    four = _ids(email=new_email(), phone=new_phone()) + _ids(email=new_email(), phone=new_phone())
    c3 = acct.a.create_account(identities=four)
    assert c3.account["identities"] == four
    # each of the four is claimed, and logs in (the emails)
    acct.b.login_ok(c3.password, email=four[2]["value"])
    r = acct.a.post("/accounts", Creds.new().accounts_body(identities=_ids(phone=four[3]["value"])))
    expect_error(r, 409, "conflict", "phone")


def test_me_without_token_is_401(acct):
    expect_unauthorized(acct.a.get("/accounts/me"))


# -- validation -------------------------------------------------------------------

LONG = "x" * 101


def _ids(email=None, phone=None):
    out = []
    if email is not None:
        out.append({"type": "email", "value": email})
    if phone is not None:
        out.append({"type": "phone", "value": phone})
    return out


INVALID = [
    ("missing firstName", {"firstName": DROP}, "firstName"),
    ("empty firstName", {"firstName": ""}, "firstName"),
    ("long firstName", {"firstName": LONG}, "firstName"),
    ("firstName number", {"firstName": 5}, "firstName"),
    ("missing lastName", {"lastName": DROP}, "lastName"),
    ("lastName null", {"lastName": None}, "lastName"),
    ("missing password", {"password": DROP}, "password"),
    ("short password", {"password": "12345"}, "password"),
    ("long password", {"password": "p" * 129}, "password"),
    ("password number", {"password": 12345678}, "password"),
    ("missing identities", {"identities": DROP}, "identities"),
    ("no identities", {"identities": []}, "identities"),
    ("identities not an array", {"identities": "a@example.com"}, "identities"),
    ("identities object", {"identities": {"type": "email", "value": "a@example.com"}},
     "identities"),
    ("five identities", {"identities": [{"type": "phone", "value": "+1555000%04d" % i}
                                        for i in range(5)]}, "identities"),
    ("identity type fax", {"identities": [{"type": "fax", "value": "123456789"}]}, "identities"),
    ("bad email no at", {"identities": _ids(email="not-an-email")}, "email"),
    ("bad email no tld", {"identities": _ids(email="a@localhost")}, "email"),
    ("bad email space", {"identities": _ids(email="a b@example.com")}, "email"),
    ("bad email empty local", {"identities": _ids(email="@example.com")}, "email"),
    ("email too long", {"identities": _ids(email="a" * 250 + "@example.com")}, "email"),
    ("email value number", {"identities": [{"type": "email", "value": 42}]}, "identities"),
    ("bad phone 5 digits", {"identities": _ids(phone="12345")}, "phone"),
    ("bad phone 17 digits", {"identities": _ids(phone="12345678901234567")}, "phone"),
    ("bad phone dash", {"identities": _ids(phone="+12-3456789")}, "phone"),
    ("bad phone letters", {"identities": _ids(phone="+1555abc4567")}, "phone"),
    ("bad phone double plus", {"identities": _ids(phone="++15551234567")}, "phone"),
    ("username too short", {"username": "ab"}, "username"),
    ("username too long", {"username": "u" * 33}, "username"),
    ("username space", {"username": "a b c"}, "username"),
    ("username number", {"username": 12345}, "username"),
]


@pytest.mark.parametrize("over,field", [(o, f) for _, o, f in INVALID], ids=[n for n, _, _ in INVALID])
def test_create_account_invalid(acct, over, field):
    c = Creds.new()
    body = c.accounts_body(**over)
    expect_invalid(acct.a.post("/accounts", body), field)
    if field in ("firstName", "password"):
        # nothing was stored: the same identities register fine afterwards
        acct.b.create_account(identities=c.identities(), username=c.username)


def test_invalid_type_value_is_422_for_admin(acct):
    c = Creds.new()
    expect_invalid(acct.a.post("/accounts", c.accounts_body(type="superuser"),
                               token=acct.admin_token), "type")
    expect_invalid(acct.a.post("/accounts", c.accounts_body(status="sleeping"),
                               token=acct.admin_token), "status")


@pytest.mark.parametrize("raw", [b'{"firstName": "Nguyen",', b"not json", b'{"a":1}}',
                                 b'{"firstName":"\xff\xfe"}', b""])
def test_create_account_bad_json(acct, raw):
    r = acct.a.post("/accounts", raw=raw, headers={"Content-Type": "application/json"})
    expect_error(r, 400, "bad-json")


def test_create_account_non_object_json(acct):
    r = acct.a.post("/accounts", [1, 2])
    assert r.status in (400, 422), r
    expect_error(r, r.status, "bad-json" if r.status == 400 else "invalid")


def test_create_account_body_too_large(acct):
    r = post_announcing(acct.a.port, "/accounts", 1_000_000)
    expect_error(r, 413, "too-large")


# -- mass assignment -----------------------------------------------------------------

FORBIDDEN_FIELDS = [{"type": "admin"}, {"type": "dealer"}, {"status": "inactive"},
                    {"archive": True}]


@pytest.mark.parametrize("over", FORBIDDEN_FIELDS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_mass_assignment_is_403_and_stores_nothing(acct, over, who):
    token = None
    if who == "user":
        token = acct.a.create_account().token
    c = Creds.new()
    expect_forbidden(acct.a.post("/accounts", c.accounts_body(**over), token=token))
    # nothing was written: the same email, phone and username register now
    again = acct.b.create_account(identities=c.identities(), username=c.username)
    assert_account(again.account, type="user", status="active", archive=False)


def test_admin_can_create_dealer_admin_inactive_archived(acct):
    tok = acct.admin_token
    d = acct.a.create_account(token=tok, type="dealer")
    assert_account(d.account, type="dealer", status="active", archive=False)
    adm = acct.a.create_account(token=tok, type="admin")
    assert_account(adm.account, type="admin")
    ina = acct.a.create_account(token=tok, status="inactive")
    assert_account(ina.account, status="inactive")
    arc = acct.a.create_account(token=tok, archive=True)
    assert_account(arc.account, archive=True)
    # the new admin is an admin: it may create dealers too
    tok2 = acct.b.login_ok(adm.password, email=adm.email)["token"]
    d2 = acct.b.create_account(token=tok2, type="dealer")
    assert d2.account["type"] == "dealer"


def test_organization_unknown_is_422(acct):
    c = Creds.new()
    r = acct.a.post("/accounts", c.accounts_body(organization=str(uuid.uuid4())),
                    token=acct.admin_token)
    expect_invalid(r, "organization")
    r = acct.a.post("/accounts", c.accounts_body(organization="not-a-uuid"), token=acct.admin_token)
    expect_invalid(r, "organization")


def test_organization_set_by_non_owner_is_403(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    stranger = acct.a.create_account()
    for token in (None, stranger.token):
        c = Creds.new()
        expect_forbidden(acct.a.post("/accounts", c.accounts_body(organization=org["id"]),
                                     token=token))
        # not stored
        acct.a.create_account(identities=c.identities(), username=c.username)
    # the owner may
    member = acct.b.create_account(token=owner.token, organization=org["id"])
    assert_account(member.account, organization=org["id"], type="user", status="active")
    # an admin may
    member2 = acct.b.create_account(token=acct.admin_token, organization=org["id"], type="dealer")
    assert_account(member2.account, organization=org["id"], type="dealer")


# -- duplicates -------------------------------------------------------------------------


def test_duplicates_are_409_naming_the_field(acct):
    first = acct.a.create_account()

    def dup(identities, username, field, api=acct.a):
        c = Creds.new()
        r = api.post("/accounts", c.accounts_body(identities=identities, username=username))
        expect_error(r, 409, "conflict", field)

    dup(_ids(email=first.email), new_username(), "email")
    dup(_ids(email=first.email.upper()), new_username(), "email", api=acct.b)
    dup(_ids(email=first.email.capitalize()), None, "email")
    dup(_ids(phone=first.phone), new_username(), "phone")
    dup(_ids(email=new_email()), first.username.upper(), "username", api=acct.b)
    dup(_ids(email=new_email()), first.username, "username")
    # through /auth/register too
    c = Creds.new()
    r = acct.a.post("/auth/register", c.register_body(email=first.email.upper()))
    expect_error(r, 409, "conflict", "email")
    r = acct.a.post("/auth/register", c.register_body(username=first.username))
    expect_error(r, 409, "conflict", "username")


def test_duplicate_claims_nothing(acct):
    """A fresh email next to a taken phone: 409, and the fresh email stays free
    (every identity is claimed or none)."""
    first = acct.a.create_account()
    fresh_email, fresh_user = new_email(), new_username()
    r = acct.a.post("/accounts", Creds.new().accounts_body(
        identities=_ids(email=fresh_email, phone=first.phone), username=fresh_user))
    expect_error(r, 409, "conflict", "phone")
    again = acct.b.create_account(identities=_ids(email=fresh_email, phone=new_phone()),
                                  username=fresh_user)
    assert again.email == fresh_email


def test_same_email_twice_in_one_body(acct):
    e = new_email()
    r = acct.a.post("/accounts", Creds.new().accounts_body(identities=_ids(email=e) + _ids(email=e.upper())))
    assert r.status in (409, 422), r
    expect_error(r, r.status, "conflict" if r.status == 409 else "invalid")


def test_concurrent_registration_race_two_instances(acct):
    email = new_email()
    password = new_password()

    def one(i):
        api = acct.a if i % 2 == 0 else acct.b
        body = {"firstName": "Race", "lastName": str(i), "password": password,
                "identities": [{"type": "email", "value": email if i % 3 else email.upper()}],
                "username": new_username()}
        return api.post("/accounts", body, timeout=20)

    results = run_threads([lambda i=i: one(i) for i in range(10)])
    for r in results:
        assert not isinstance(r, Exception), results
    statuses = Counter(r.status for r in results)
    assert statuses == Counter({201: 1, 409: 9}), [(r.status, r.body[:120]) for r in results]
    for r in results:
        if r.status == 409:
            expect_error(r, 409, "conflict", "email")
    winner = [r for r in results if r.status == 201][0].json()["account"]
    # one account, the same one seen from both instances
    assert acct.a.login_ok(password, email=email)["account"]["id"] == winner["id"]
    assert acct.b.login_ok(password, email=email.upper())["account"]["id"] == winner["id"]


# -- online / offline / location -----------------------------------------------------------


def test_online_offline(acct):
    c = acct.a.create_account()
    r = acct.a.post("/accounts/status/online", token=c.token)
    acc = assert_account(expect(r, 200)["account"], online=True, id=c.id)
    assert set(expect(r, 200)) == {"account"}
    assert acc["location"] is None
    assert acct.b.me_ok(c.token)["online"] is True
    r = acct.b.post("/accounts/status/offline", token=c.token)
    assert_account(expect(r, 200)["account"], online=False, id=c.id)
    assert acct.a.me_ok(c.token)["online"] is False
    expect_unauthorized(acct.a.post("/accounts/status/online"))
    expect_unauthorized(acct.a.post("/accounts/status/offline"))


def test_online_with_location(acct):
    c = acct.a.create_account(type="operator")
    r = acct.a.post("/accounts/status/online", {"latitude": 10.7769, "longitude": 106.7009},
                    token=c.token)
    acc = assert_account(expect(r, 200)["account"], online=True)
    loc = acc["location"]
    assert loc is not None, acc
    assert loc["latitude"] == pytest.approx(10.7769, abs=1e-4), loc
    assert loc["longitude"] == pytest.approx(106.7009, abs=1e-4), loc
    me = acct.b.me_ok(c.token)
    assert me["online"] is True and me["location"]["latitude"] == pytest.approx(10.7769, abs=1e-4)


BAD_COORDS = [
    ({"latitude": 91, "longitude": 0}, "latitude"),
    ({"latitude": -90.5, "longitude": 0}, "latitude"),
    ({"latitude": 0, "longitude": 180.5}, "longitude"),
    ({"latitude": 0, "longitude": -181}, "longitude"),
    ({"latitude": "10", "longitude": 10}, "latitude"),
    ({"latitude": 10, "longitude": None}, "longitude"),
    ({"latitude": 10}, "longitude"),
    ({"longitude": 10}, "latitude"),
]


@pytest.mark.parametrize("body,field", BAD_COORDS, ids=[str(b) for b, _ in BAD_COORDS])
def test_bad_coordinates_422(acct, body, field):
    c = acct.a.create_account(type="operator")
    expect_invalid(acct.a.post("/accounts/status/online", body, token=c.token), field)
    expect_invalid(acct.a.post("/accounts/location", body, token=c.token), field)
    # nothing changed
    me = acct.a.me_ok(c.token)
    assert me["online"] is False and me["location"] is None, me


def test_location_operator_and_dealer(acct):
    op = acct.a.create_account(type="operator")
    r = acct.a.post("/accounts/location", {"latitude": -33.8688, "longitude": 151.2093},
                    token=op.token)
    acc = assert_account(expect(r, 200)["account"], id=op.id)
    assert set(expect(r, 200)) == {"account"}
    assert acc["location"]["latitude"] == pytest.approx(-33.8688, abs=1e-4)
    assert acc["location"]["longitude"] == pytest.approx(151.2093, abs=1e-4)
    dealer = acct.a.create_account(token=acct.admin_token, type="dealer")
    tok = acct.a.login_ok(dealer.password, email=dealer.email)["token"]
    r = acct.a.post("/accounts/location", {"latitude": 48.8566, "longitude": 2.3522}, token=tok)
    assert expect(r, 200)["account"]["location"]["latitude"] == pytest.approx(48.8566, abs=1e-4)


@pytest.mark.parametrize("lat,lon", [(90, -180), (-90, 180), (85.2, 0), (-89.99, 10)])
def test_location_coordinate_bounds_accepted(acct, lat, lon):
    """Latitude -90..90 (beyond Redis GEO's +-85.05 too), longitude -180..180."""
    op = acct.a.create_account(type="operator")
    for path in ("/accounts/location", "/accounts/status/online"):
        r = acct.b.post(path, {"latitude": lat, "longitude": lon}, token=op.token)
        loc = expect(r, 200)["account"]["location"]
        assert loc["latitude"] == pytest.approx(lat, abs=1e-4), loc
        assert loc["longitude"] == pytest.approx(lon, abs=1e-4), loc


def test_location_updates_and_freshness(acct):
    op = acct.a.create_account(type="operator")
    r1 = expect(acct.a.post("/accounts/location", {"latitude": 1.5, "longitude": 2.5},
                            token=op.token), 200)["account"]["location"]
    time.sleep(0.01)
    r2 = expect(acct.b.post("/accounts/location", {"latitude": -3.25, "longitude": -4.75},
                            token=op.token), 200)["account"]["location"]
    assert r2["latitude"] == pytest.approx(-3.25, abs=1e-4)
    assert r2["longitude"] == pytest.approx(-4.75, abs=1e-4)
    assert r2["updatedAt"] >= r1["updatedAt"], (r1, r2)
    assert acct.a.me_ok(op.token)["location"] == r2


def test_location_user_is_403(acct):
    u = acct.a.create_account()
    expect_forbidden(acct.a.post("/accounts/location", {"latitude": 1, "longitude": 2},
                                 token=u.token))
    assert acct.a.me_ok(u.token)["location"] is None
    expect_unauthorized(acct.a.post("/accounts/location", {"latitude": 1, "longitude": 2}))


# -- PUT /accounts/:id ---------------------------------------------------------------------


def test_put_account_permissions(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    dealer = acct.a.register(code=org["code"])
    assert_account(dealer.account, type="dealer", status="inactive", organization=org["id"])
    assert dealer.token is None
    stranger = acct.a.create_account()
    other_owner = acct.a.create_account()
    acct.a.create_org(other_owner.token)
    path = f"/accounts/{dealer.id}"
    # a stranger, or the owner of another organization: 404 (never leak
    # existence), and nothing changes
    expect_not_found(acct.a.put(path, {"status": "active"}, token=stranger.token))
    expect_not_found(acct.b.put(path, {"status": "active"}, token=other_owner.token))
    expect_error(acct.a.login(dealer.password, email=dealer.email), 403, "forbidden")
    expect_unauthorized(acct.a.put(path, {"status": "active"}))
    # the owner activates its dealer
    r = acct.b.put(path, {"status": "active"}, token=owner.token)
    v = expect(r, 200)
    assert set(v) == {"account"}, r
    assert_account(v["account"], id=dealer.id, status="active", type="dealer",
                   organization=org["id"])
    dtok = acct.a.login_ok(dealer.password, email=dealer.email)["token"]
    # the dealer itself may not PUT itself
    expect_not_found(acct.a.put(path, {"firstName": "Me"}, token=dtok))
    # the owner may not change the type (admin only)
    expect_forbidden(acct.a.put(path, {"type": "admin"}, token=owner.token))
    assert acct.a.me_ok(dtok)["type"] == "dealer"
    # the owner renames it
    v = expect(acct.a.put(path, {"firstName": "Renamed", "lastName": "Dealer"},
                          token=owner.token), 200)
    assert_account(v["account"], firstName="Renamed", lastName="Dealer")
    # an unknown id, or no id at all
    for odd in (uuid.uuid4(), "not-a-uuid", dealer.id.upper(), "x" * 300):
        expect_not_found(acct.a.put(f"/accounts/{odd}", {"status": "active"},
                                    token=acct.admin_token))


def test_put_account_admin_only_fields_by_anyone_else_is_404(acct):
    """Neither admin nor the owner of its organization: 404, whatever the body
    (also when it names admin-only fields, and also on oneself)."""
    u, v = acct.a.create_account(), acct.a.create_account()
    for body in ({"type": "admin"}, {"organization": None}, {"status": "active"}):
        expect_not_found(acct.a.put(f"/accounts/{u.id}", body, token=v.token))
        expect_not_found(acct.a.put(f"/accounts/{u.id}", body, token=u.token))
    assert acct.a.me_ok(u.token)["type"] == "user"


def test_put_account_admin_sets_organization(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    u = acct.a.create_account()
    path = f"/accounts/{u.id}"
    expect_not_found(acct.a.get(f"/organizations/{org['id']}", token=u.token))
    for bad in (str(uuid.uuid4()), "garbage"):
        expect_invalid(acct.a.put(path, {"organization": bad}, token=acct.admin_token),
                       "organization")
        assert acct.a.me_ok(u.token)["organization"] is None
    v = expect(acct.b.put(path, {"organization": org["id"]}, token=acct.admin_token), 200)
    assert_account(v["account"], organization=org["id"])
    # now a member: it sees the organization (without its token)
    got = expect(acct.a.get(f"/organizations/{org['id']}", token=u.token), 200)["data"]
    assert got["id"] == org["id"] and got.get("token") is None, got
    # and the owner may now manage it
    v = expect(acct.a.put(path, {"lastName": "Member"}, token=owner.token), 200)
    assert v["account"]["lastName"] == "Member"
    # taken out again: no longer visible
    expect(acct.a.put(path, {"organization": None}, token=acct.admin_token), 200)
    expect_not_found(acct.a.get(f"/organizations/{org['id']}", token=u.token))
    expect_not_found(acct.a.put(path, {"lastName": "X"}, token=owner.token))


def test_put_account_admin_changes_type_status_archive(acct):
    u = acct.a.create_account()
    path = f"/accounts/{u.id}"
    tok = acct.admin_token
    v = expect(acct.a.put(path, {"type": "operator"}, token=tok), 200)
    assert_account(v["account"], type="operator", id=u.id)
    assert acct.b.me_ok(u.token)["type"] == "operator"
    # a user may not PUT itself either
    expect_not_found(acct.a.put(path, {"status": "active"}, token=u.token))
    # validation
    expect_invalid(acct.a.put(path, {"status": "sleeping"}, token=tok), "status")
    expect_invalid(acct.a.put(path, {"firstName": ""}, token=tok), "firstName")
    expect_invalid(acct.a.put(path, {"archive": "yes"}, token=tok), "archive")
    # inactive: the valid token is refused with 403, login too
    expect(acct.a.put(path, {"status": "inactive"}, token=tok), 200)
    expect_forbidden(acct.a.me(u.token))
    expect_forbidden(acct.b.me(u.token))
    expect_error(acct.a.login(u.password, email=u.email), 403, "forbidden")
    expect(acct.a.put(path, {"status": "active"}, token=tok), 200)
    acct.a.me_ok(u.token)
    # archived
    v = expect(acct.b.put(path, {"archive": True}, token=tok), 200)
    assert_account(v["account"], archive=True)
    expect_forbidden(acct.a.me(u.token))
    expect_error(acct.a.login(u.password, email=u.email), 403, "forbidden")


def test_concurrent_username_and_phone_race(acct):
    """Distinct emails, one username (in different cases) and one phone, on two
    instances: one winner; the losers claimed nothing (their emails are free)."""
    username, phone = new_username(), new_phone()
    emails = [new_email() for _ in range(8)]

    def one(i):
        api = acct.a if i % 2 else acct.b
        ids = [{"type": "email", "value": emails[i]}]
        if i >= 4:
            ids.append({"type": "phone", "value": phone})
        body = {"firstName": "Race", "lastName": str(i), "password": new_password(),
                "identities": ids, "username": username if i < 4 or i % 2 else username.upper()}
        return api.post("/accounts", body, timeout=20)

    results = run_threads([lambda i=i: one(i) for i in range(8)])
    for r in results:
        assert not isinstance(r, Exception), results
    statuses = Counter(r.status for r in results)
    assert statuses == Counter({201: 1, 409: 7}), [(r.status, r.body[:120]) for r in results]
    for i, r in enumerate(results):
        if r.status == 409:
            v = expect_error(r, 409, "conflict")
            assert set(v["errors"]) & {"username", "phone"}, r
            assert "email" not in v["errors"], r
            # nothing claimed: the loser's email registers now
            acct.a.create_account(identities=[{"type": "email", "value": emails[i]}],
                                  username=DROP)


def test_server_owned_fields_are_not_taken_from_the_body(acct):
    fixed_id = "11111111-1111-4111-8111-111111111111"
    c = acct.a.create_account(id=fixed_id, online=True, isCamera=True,
                              createdAt="2000-01-01T00:00:00.000Z",
                              location={"latitude": 1, "longitude": 2, "updatedAt": "x"})
    assert_account(c.account, online=False, location=None)
    assert c.account["id"] != fixed_id
    assert not c.account["createdAt"].startswith("2000"), c.account
    assert acct.b.me_ok(c.token) == c.account


def test_methods_and_trailing_slash(acct):
    r = acct.a.get("/auth")
    expect_error(r, 405, "method-not-allowed")
    assert "POST" in (r.header("Allow") or ""), r
    c = acct.a.create_account()
    r = acct.a.delete("/accounts/me", token=c.token)
    expect_error(r, 405, "method-not-allowed")
    assert "GET" in (r.header("Allow") or ""), r
    v = expect(acct.a.post("/auth/", {"email": c.email, "password": c.password}), 200)
    assert v["account"]["id"] == c.id
    assert acct.a.me_ok(c.token) == acct.a.get("/accounts/me/", token=c.token).json()["account"]
