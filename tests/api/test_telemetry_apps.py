"""Telemetry apps (API.md §6.2–§6.3): create, read, change, delete and
reset-key, for the organization's members and admins; another
organization's app is 404."""

import re

from accounts_util import admin_login, expect, expect_invalid, expect_not_found, expect_unauthorized
from telemetry_util import Sdk, expect_tm_error, new_id, tm  # noqa: F401

APP_KEYS = {"id", "name", "api_key", "domain", "recording", "interval", "organization",
            "createdAt"}


def assert_app(app, org_id):
    assert set(app) == APP_KEYS, app
    assert re.fullmatch(r"[0-9a-f]{32}", app["api_key"]), app
    assert app["organization"] == org_id
    assert isinstance(app["recording"], bool) and isinstance(app["interval"], int)


def test_create_shape_and_defaults(tm):
    owner, org, app = tm.owner_with_app()
    assert_app(app, org["id"])
    assert app["recording"] is True and app["interval"] == 10000 and app["domain"] is None
    _, _, with_domain = tm.owner_with_app(domain="Meet.Example.COM")
    assert with_domain["domain"] == "meet.example.com"
    got = expect(tm.b.get(f"/apps/{app['id']}", token=owner.token), 200)
    assert got == {"data": app}


def test_create_validation(tm):
    owner = tm.a.create_account()
    org = tm.a.create_org(owner.token)
    for body, field in (({"name": "x"}, "organization"),
                        ({"organization": org["id"]}, "name"),
                        ({"organization": org["id"], "name": ""}, "name"),
                        ({"organization": org["id"], "name": "n" * 101}, "name"),
                        ({"organization": org["id"], "name": "x", "domain": 5}, "domain"),
                        ({"organization": "nope", "name": "x"}, "organization")):
        expect_invalid(tm.a.post("/apps", body, token=owner.token), field)
    expect_unauthorized(tm.a.post("/apps", {"organization": org["id"], "name": "x"}))
    # someone else's organization, or none, is not found
    stranger = tm.a.create_account()
    expect_not_found(tm.a.post("/apps", {"organization": org["id"], "name": "x"},
                               token=stranger.token))
    expect_not_found(tm.a.post("/apps", {"organization": new_uuid(), "name": "x"},
                               token=owner.token))


def new_uuid():
    import uuid
    return str(uuid.uuid4())


def test_visibility_members_admins_and_strangers(tm):
    owner, org, app = tm.owner_with_app()
    member = tm.a.create_account(token=owner.token, organization=org["id"])
    stranger = tm.a.create_account()
    other_owner, _, other_app = tm.owner_with_app()
    admin = admin_login(tm.a)["token"]
    for token in (owner.token, member.token, admin):
        assert expect(tm.a.get(f"/apps/{app['id']}", token=token), 200)["data"] == app
    for token in (stranger.token, other_owner.token):
        expect_not_found(tm.a.get(f"/apps/{app['id']}", token=token))
        expect_not_found(tm.a.put(f"/apps/{app['id']}", {"name": "x"}, token=token))
        expect_not_found(tm.a.post(f"/apps/{app['id']}/reset-key", token=token))
        expect_not_found(tm.a.delete(f"/apps/{app['id']}", token=token))
    expect_not_found(tm.a.get(f"/apps/{other_app['id']}", token=owner.token))
    expect_not_found(tm.a.get("/apps/not-an-id", token=owner.token))
    expect_unauthorized(tm.a.get(f"/apps/{app['id']}"))
    # a member may create one in its organization
    v = expect(tm.a.post("/apps", {"organization": org["id"], "name": "Mine"},
                         token=member.token), 200)
    assert_app(v["data"], org["id"])
    # nothing changed for the strangers' attempts
    assert expect(tm.a.get(f"/apps/{app['id']}", token=owner.token), 200)["data"] == app


def test_update(tm):
    owner, _, app = tm.owner_with_app()
    v = expect(tm.a.put(f"/apps/{app['id']}", {"name": "Renamed", "domain": "A.test",
                                               "interval": 5000, "recording": False},
                        token=owner.token), 200)["data"]
    assert (v["name"], v["domain"], v["interval"], v["recording"]) == ("Renamed", "a.test", 5000,
                                                                      False)
    assert v["api_key"] == app["api_key"]
    v = expect(tm.a.put(f"/apps/{app['id']}", {"domain": None}, token=owner.token), 200)["data"]
    assert v["domain"] is None and v["name"] == "Renamed"
    for body, field in (({"interval": 10.5}, "interval"), ({"interval": 10}, "interval"),
                        ({"recording": "yes"}, "recording"), ({"name": ""}, "name")):
        expect_invalid(tm.a.put(f"/apps/{app['id']}", body, token=owner.token), field)
    # the interval reaches the SDK
    sdk = tm.sdk(app)
    expect(tm.a.put(f"/apps/{app['id']}", {"recording": True}, token=owner.token), 200)
    assert sdk.initialize()["getStatsInterval"] == 5000


def test_reset_key_and_delete(tm):
    owner, _, app = tm.owner_with_app()
    v = expect(tm.a.post(f"/apps/{app['id']}/reset-key", token=owner.token), 200)["data"]
    assert v["api_key"] != app["api_key"] and re.fullmatch(r"[0-9a-f]{32}", v["api_key"])
    old = Sdk(tm.srv_a, app["api_key"])
    body = {"apiKey": app["api_key"], "conferenceId": new_id("c"), "userId": "u"}
    expect_tm_error(old.post("/initialize", body, token=False), 400, "invalid_api_key")
    Sdk(tm.srv_b, v["api_key"]).initialize()
    expect(tm.a.delete(f"/apps/{app['id']}", token=owner.token), 200)
    expect_not_found(tm.a.get(f"/apps/{app['id']}", token=owner.token))
    expect_tm_error(old.post("/initialize", {**body, "apiKey": v["api_key"]}, token=False), 400,
                    "invalid_api_key")
