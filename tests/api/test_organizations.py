"""Organizations: create, list, get, rename, delete; ownership and
membership (somebody else's organization is 404)."""

import uuid

import pytest

from accounts_util import (Creds, acct, admin_login, assert_org, expect,  # noqa: F401
                           expect_error, expect_forbidden, expect_invalid, expect_not_found,
                           expect_unauthorized, start_server)


def test_create_organization_shape(acct):
    owner = acct.a.create_account()
    r = acct.a.post("/organizations", {"name": "Acme Motors"}, token=owner.token)
    v = expect(r, 200)
    assert set(v) == {"data"}, r
    org = assert_org(v["data"], with_token=True)
    assert org["name"] == "Acme Motors"
    assert org["owner"] == owner.id
    # the owner reads it back, token included, from the other instance
    got = expect(acct.b.get(f"/organizations/{org['id']}", token=owner.token), 200)
    assert set(got) == {"data"}
    # with this month's usage of its plan (test_telemetry_queries.py)
    assert got["data"].pop("usage")["conferences"] == 0
    assert got["data"] == org


def test_create_organization_needs_auth_and_a_name(acct):
    expect_unauthorized(acct.a.post("/organizations", {"name": "X"}))
    owner = acct.a.create_account()
    for body, field in (({}, "name"), ({"name": ""}, "name"), ({"name": "n" * 101}, "name"),
                        ({"name": 5}, "name"), ({"name": None}, "name")):
        expect_invalid(acct.a.post("/organizations", body, token=owner.token), field)
    expect_error(acct.a.post("/organizations", raw=b'{"name":', token=owner.token), 400,
                 "bad-json")
    # none of those counted: the first real one succeeds
    acct.a.create_org(owner.token, name="n" * 100)


def test_non_admin_may_own_one(acct):
    owner = acct.a.create_account()
    first = acct.a.create_org(owner.token)
    r = acct.b.post("/organizations", {"name": "Second"}, token=owner.token)
    v = expect(r, 400)
    assert v.get("status") == "max_organizations_reached", r
    assert isinstance(v.get("message"), str) and v["message"], r
    # still exactly the first one
    mine = expect(acct.a.get("/organizations", token=owner.token), 200)
    assert mine["count"] == 1 and [o["id"] for o in mine["data"]] == [first["id"]], mine


def test_admin_may_own_several_with_distinct_codes(acct):
    orgs = [acct.a.create_org(acct.admin_token) for _ in range(3)]
    assert len({o["id"] for o in orgs}) == 3
    assert len({o["code"] for o in orgs}) == 3
    assert len({o["token"] for o in orgs}) == 3
    for o in orgs:
        assert o["owner"] == acct.admin["account"]["id"]


def test_list_mine_and_admin_all_with_paging(make_onair, redis_server):
    """On a Redis of its own, so that the counts are exact."""
    api = start_server(make_onair, redis_server)
    admin = admin_login(api)["token"]
    u1, u2, u3 = api.create_account(), api.create_account(), api.create_account()
    o1 = api.create_org(u1.token)
    o2 = api.create_org(u2.token)
    admin_orgs = [api.create_org(admin) for _ in range(3)]
    all_ids = {o1["id"], o2["id"]} | {o["id"] for o in admin_orgs}

    v = expect(api.get("/organizations", token=u1.token), 200)
    assert set(v) == {"data", "count"}, v
    assert v["count"] == 1 and len(v["data"]) == 1, v
    assert v["data"][0] == o1, v
    v = expect(api.get("/organizations", token=u3.token), 200)
    assert v == {"data": [], "count": 0}, v

    v = expect(api.get("/organizations", token=admin), 200)
    assert v["count"] == 5, v
    assert {o["id"] for o in v["data"]} == all_ids, v
    for o in v["data"]:
        assert_org(o, with_token=True)

    page1 = expect(api.get("/organizations?limit=2", token=admin), 200)
    assert page1["count"] == 5 and len(page1["data"]) == 2, page1
    page2 = expect(api.get("/organizations?limit=2&offset=2", token=admin), 200)
    assert page2["count"] == 5 and len(page2["data"]) == 2, page2
    page3 = expect(api.get("/organizations?limit=2&offset=4", token=admin), 200)
    assert page3["count"] == 5 and len(page3["data"]) == 1, page3
    seen = [o["id"] for o in page1["data"] + page2["data"] + page3["data"]]
    assert len(seen) == 5 and set(seen) == all_ids, seen
    past = expect(api.get("/organizations?offset=10", token=admin), 200)
    assert past == {"data": [], "count": 5}, past
    big = expect(api.get("/organizations?limit=200", token=admin), 200)
    assert len(big["data"]) == 5

    expect_unauthorized(api.get("/organizations"))


@pytest.mark.parametrize("query,field", [("limit=500", "limit"), ("limit=0", "limit"),
                                         ("offset=-1", "offset"), ("limit=abc", "limit")])
def test_list_paging_out_of_range(acct, query, field):
    """Unspecified whether clamped or refused; if refused, a 422 naming it."""
    r = acct.a.get("/organizations?" + query, token=acct.admin_token)
    if r.status == 200:
        v = expect(r, 200)
        assert isinstance(v["count"], int) and len(v["data"]) <= min(v["count"], 200), r
    else:
        expect_invalid(r, field)


def test_another_accounts_organization_is_404(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    stranger = acct.a.create_account()
    path = f"/organizations/{org['id']}"
    expect_not_found(acct.a.get(path, token=stranger.token))
    expect_not_found(acct.b.put(path, {"name": "Mine now"}, token=stranger.token))
    expect_not_found(acct.a.delete(path, token=stranger.token))
    # unknown ids look the same
    expect_not_found(acct.a.get(f"/organizations/{uuid.uuid4()}", token=stranger.token))
    expect_not_found(acct.a.get(f"/organizations/{uuid.uuid4()}", token=acct.admin_token))
    for odd in ("not-a-uuid", org["code"], org["id"].upper(), "%00", "x" * 300):
        expect_not_found(acct.a.get(f"/organizations/{odd}", token=acct.admin_token))
    expect_unauthorized(acct.a.get(path))
    # the stranger's list does not show it
    v = expect(acct.a.get("/organizations", token=stranger.token), 200)
    assert org["id"] not in [o["id"] for o in v["data"]], v
    # nothing changed
    got = expect(acct.a.get(path, token=owner.token), 200)["data"]
    got.pop("usage")
    assert got == org


def test_member_sees_it_without_token_and_cannot_rename(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    member = acct.b.create_account(token=owner.token, organization=org["id"])
    path = f"/organizations/{org['id']}"
    v = expect(acct.a.get(path, token=member.token), 200)
    assert set(v) == {"data"}
    seen = assert_org(v["data"], with_token=False)
    assert org["token"] not in acct.a.get(path, token=member.token).text
    assert {k: seen[k] for k in ("id", "name", "code", "plan", "owner")} == \
        {k: org[k] for k in ("id", "name", "code", "plan", "owner")}
    lst = expect(acct.b.get("/organizations", token=member.token), 200)
    assert lst["count"] == 1 and lst["data"][0]["id"] == org["id"], lst
    assert_org(lst["data"][0], with_token=False)
    assert org["token"] not in acct.b.get("/organizations", token=member.token).text
    expect_forbidden(acct.a.put(path, {"name": "Taken over"}, token=member.token))
    expect_forbidden(acct.b.delete(path, token=member.token))
    assert expect(acct.a.get(path, token=owner.token), 200)["data"]["name"] == org["name"]
    # an admin sees the token
    adm = expect(acct.b.get(path, token=acct.admin_token), 200)["data"]
    assert adm["token"] == org["token"]


def test_inactive_dealer_is_not_a_member_until_activated(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    d = acct.a.register(code=org["code"])
    assert d.token is None
    expect(acct.a.put(f"/accounts/{d.id}", {"status": "active"}, token=owner.token), 200)
    tok = acct.a.login_ok(d.password, email=d.email)["token"]
    v = expect(acct.a.get(f"/organizations/{org['id']}", token=tok), 200)
    assert_org(v["data"], with_token=False)


def test_owner_and_admin_rename(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    path = f"/organizations/{org['id']}"
    v = expect(acct.b.put(path, {"name": "Renamed Ltd"}, token=owner.token), 200)
    assert set(v) == {"data"}
    got = assert_org(v["data"], with_token=True)
    assert got["name"] == "Renamed Ltd"
    assert {k: got[k] for k in ("id", "code", "token", "plan", "owner", "createdAt")} == \
        {k: org[k] for k in ("id", "code", "token", "plan", "owner", "createdAt")}
    assert expect(acct.a.get(path, token=owner.token), 200)["data"]["name"] == "Renamed Ltd"
    expect_invalid(acct.a.put(path, {"name": ""}, token=owner.token), "name")
    v = expect(acct.a.put(path, {"name": "By Admin"}, token=acct.admin_token), 200)
    assert v["data"]["name"] == "By Admin"
    assert expect(acct.b.get(path, token=owner.token), 200)["data"]["name"] == "By Admin"


def test_delete_organization(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    path = f"/organizations/{org['id']}"
    r = acct.a.delete(path, token=owner.token)
    assert expect(r, 200) == {"status": "success"}, r
    expect_not_found(acct.a.get(path, token=owner.token))
    expect_not_found(acct.b.get(path, token=acct.admin_token))
    expect_not_found(acct.b.put(path, {"name": "Back"}, token=owner.token))
    expect_not_found(acct.a.delete(path, token=owner.token))
    v = expect(acct.a.get("/organizations", token=owner.token), 200)
    assert v == {"data": [], "count": 0}, v
    # its code no longer registers dealers
    c = Creds.new()
    expect_invalid(acct.a.post("/auth/register", c.register_body(code=org["code"])),
                   "organizationCode")
    # nor can accounts be put in it
    expect_invalid(acct.a.post("/accounts", Creds.new().accounts_body(organization=org["id"]),
                               token=acct.admin_token), "organization")


def test_admin_deletes_somebody_elses(acct):
    owner = acct.a.create_account()
    org = acct.a.create_org(owner.token)
    path = f"/organizations/{org['id']}"
    assert expect(acct.b.delete(path, token=acct.admin_token), 200) == {"status": "success"}
    expect_not_found(acct.a.get(path, token=owner.token))
