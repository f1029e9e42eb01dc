"""Telemetry ingestion (API.md §6.1–§6.2, issue 8): /initialize's checks in
order, tokens, every SDK route's happy path and refusals, and what is stored
(the raw JSON slices, byte for byte)."""

import json
import threading
import time

from accounts_util import expect, ready
from telemetry_util import (INIT_LABEL, SESSION_LABEL, Sdk, TmEnv, claims_of,  # noqa: F401
                            expect_tm_error, mint, new_id, stats_body, tm, tm_env)


# ---- /initialize ------------------------------------------------------------

def test_initialize_answers_the_sdk_shape(tm):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    before = time.time()
    v = sdk.initialize(conferenceName="Standup", userName="Ann")
    assert set(v) == {"token", "getStatsInterval", "batchConnectionEvents", "time"}, v
    assert v["getStatsInterval"] == 10000
    assert isinstance(v["batchConnectionEvents"], bool)
    assert before - 1 <= v["time"] <= time.time() + 1
    c = claims_of(v["token"])
    assert c["typ"] == "tm-init" and c["exp"] - c["iat"] == 86400, c
    assert c["app"] == app["id"]


def test_initialize_checks_in_order(tm):
    owner, _, app = tm.owner_with_app(domain="Example.com")
    sdk = tm.sdk(app)
    good = {"apiKey": app["api_key"], "conferenceId": new_id("c"), "userId": new_id("u")}
    # 1. JSON beats everything
    expect_tm_error(sdk.post("/initialize", raw=b'{"apiKey":'), 400, "bad-json")
    # 2. missing parameters beat invalid ones (userId too long, apiKey malformed)
    expect_tm_error(sdk.post("/initialize", {"apiKey": "x", "conferenceId": "", "userId": "u" * 65},
                             token=False), 400, "missing_parameters")
    expect_tm_error(sdk.post("/initialize", {"conferenceId": "c", "userId": "u"}, token=False),
                    400, "missing_parameters")
    # 3. invalid parameters beat a bad api key
    expect_tm_error(sdk.post("/initialize", {**good, "apiKey": "x", "userId": "u" * 65},
                             token=False), 400, "invalid_parameters")
    expect_tm_error(sdk.post("/initialize", {**good, "conferenceId": 5}, token=False), 400,
                    "invalid_parameters")
    expect_tm_error(sdk.post("/initialize", {**good, "conferenceName": "n" * 65}, token=False),
                    400, "invalid_parameters")
    # 4. the key: shape, then an app
    expect_tm_error(sdk.post("/initialize", {**good, "apiKey": "A" * 32}, token=False), 400,
                    "invalid_api_key")
    expect_tm_error(sdk.post("/initialize", {**good, "apiKey": "0" * 32}, token=False), 400,
                    "invalid_api_key")
    # 5. not recording beats the domain
    expect(tm.a.put(f"/apps/{app['id']}", {"recording": False}, token=owner.token), 200)
    expect_tm_error(sdk.post("/initialize", good, token=False,
                             headers={"Origin": "https://evil.test"}), 400, "app_not_recording")
    expect(tm.a.put(f"/apps/{app['id']}", {"recording": True}, token=owner.token), 200)
    # 6. the Origin's host must be the domain
    expect_tm_error(sdk.post("/initialize", good, token=False,
                             headers={"Origin": "https://evil.test"}), 403, "domain_not_allowed")
    expect_tm_error(sdk.post("/initialize", good, token=False), 403, "domain_not_allowed")
    v = expect(sdk.post("/initialize", good, token=False,
                        headers={"Origin": "https://EXAMPLE.com:8443"}), 200)
    assert v["token"]


def test_initialize_refuses_the_key_of_a_deleted_organizations_app(tm):
    """Deleting the organization makes its apps inactive (404 on their routes): the key
    names no active app, and the refused call counts no conference for the quota."""
    owner, org, app = tm.owner_with_app()
    expect(tm.a.delete(f"/organizations/{org['id']}", token=owner.token), 200)
    expect(tm.a.get(f"/apps/{app['id']}", token=owner.token), 404)
    body = {"apiKey": app["api_key"], "conferenceId": new_id("c"), "userId": "u"}
    expect_tm_error(tm.sdk(app).post("/initialize", body, token=False), 400, "invalid_api_key")
    month = time.strftime("%Y%m", time.gmtime())
    assert tm.r.hget(f"onair:{{org:{org['id']}}}:usage:{month}", "conferences") is None
    assert tm.r.get(f"{tm.base(app['id'])}:confid:{body['conferenceId']}") is None


def test_quota_exceeded_after_the_plan_limit(make_onair, redis_server):
    env = TmEnv(*[ready(make_onair(redis_server, env=tm_env(
        ONAIR_PLANS="tiny:conferences=2;big:conferences=0")))] * 2, redis_server)
    _, org, app = env.owner_with_app(domain="example.com")
    sdk = env.sdk(app)
    origin = {"Origin": "https://example.com"}

    def body():
        return {"apiKey": app["api_key"], "conferenceId": new_id("c"), "userId": "u"}

    first = body()
    for b in (first, body()):
        expect(sdk.post("/initialize", b, token=False, headers=origin), 200)
    # joining a conference that exists is not a new one
    expect(sdk.post("/initialize", {**first, "userId": "v"}, token=False, headers=origin), 200)
    # the domain check comes before the quota
    expect_tm_error(sdk.post("/initialize", body(), token=False), 403, "domain_not_allowed")
    expect_tm_error(sdk.post("/initialize", body(), token=False, headers=origin), 403,
                    "quota_exceeded")
    month = time.strftime("%Y%m", time.gmtime())
    assert env.r.hget(f"onair:{{org:{org['id']}}}:usage:{month}", "conferences") == "2"
    # an organization on an unlimited plan is not held back
    env.r.hset(f"onair:{{org:{org['id']}}}", "plan", "big")
    expect(sdk.post("/initialize", body(), token=False, headers=origin), 200)


def test_concurrent_initialize_makes_one_conference(tm):
    _, _, app = tm.owner_with_app()
    conference = new_id("race")
    answers = []

    def go(srv, i):
        sdk = tm.sdk(app, srv)
        r = sdk.post("/initialize", {"apiKey": app["api_key"], "conferenceId": conference,
                                     "userId": f"user{i}"}, token=False)
        answers.append(expect(r, 200))

    threads = [threading.Thread(target=go, args=(tm.srv_a if i % 2 else tm.srv_b, i))
               for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 12
    confs = {claims_of(v["token"])["cnf"] for v in answers}
    assert len(confs) == 1, confs
    assert tm.r.zcard(f"{tm.base(app['id'])}:confs") == 1
    assert tm.r.zcard(f"{tm.base(app['id'])}:conf:{confs.pop()}:pars") == 12


# ---- tokens -----------------------------------------------------------------

def test_token_misuse(tm):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    init = sdk.initialize()["token"]
    claims = sdk.join()
    body = {"eventName": "focus"}
    # missing
    expect_tm_error(sdk.post("/events/browser", body, token=False), 401, "missing_token")
    expect_tm_error(sdk.post("/events/browser", {**body, "token": None}), 401, "missing_token")
    # invalid: garbage, wrong type, tampered, another key, alg none
    for bad in ("nope", 42, sdk.token[:-2] + ("AA" if not sdk.token.endswith("AA") else "BB"),
                mint(claims, label=b"another label"),
                mint({**claims, "typ": "tm-init"}, label=SESSION_LABEL)):
        expect_tm_error(sdk.post("/events/browser", {**body, "token": bad}), 401, "invalid_token")
    # the init token on a session route, and the session token on /sessions
    expect_tm_error(sdk.post("/events/browser", {**body, "token": init}), 401, "invalid_token")
    expect_tm_error(sdk.post("/sessions", {"token": sdk.token}), 401, "invalid_token")
    # expired (minted with the known secret)
    old = {**claims, "iat": int(time.time()) - 90000, "exp": int(time.time()) - 3600}
    expect_tm_error(sdk.post("/events/browser", {**body, "token": mint(old)}), 401,
                    "expired_token")
    expect_tm_error(sdk.post("/sessions", {"token": mint({**claims_of(init), **old},
                                                         label=INIT_LABEL)}),
                    401, "expired_token")
    # a well-minted one is accepted: verification needs nothing from the store
    fresh = {**claims, "iat": int(time.time()), "exp": int(time.time()) + 60}
    assert sdk.post("/events/browser", {**body, "token": mint(fresh)}).status == 200
    assert tm.events(claims)[-1][b"t"] == b"focus"


# ---- sessions ---------------------------------------------------------------

def test_sessions_create_and_update(tm):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    c = sdk.join(meta={"room": "blue", "n": 3, "ok": True})
    assert c["typ"] == "tm-session" and c["ses"] and c["exp"] - c["iat"] == 86400
    s = tm.hash(f"{tm.base(c['app'])}:ses:{c['ses']}")
    assert s["ongoing"] == "1" and s["participant"] == c["par"] and s["conference"] == c["cnf"]
    assert json.loads(s["meta"]) == {"room": "blue", "n": 3, "ok": True}
    v = expect(sdk.put("/sessions", {"devices": [{"kind": "audioinput", "label": "Mic"}],
                                     "platform": {"name": "Firefox"}}), 200)
    d = v["data"]
    assert d["id"] == c["ses"] and d["conference"] == c["cnf"] and d["participant"] == c["par"]
    assert d["devices"] == [{"kind": "audioinput", "label": "Mic"}]
    assert d["platform"] == {"name": "Firefox"}
    assert d["meta"] == {"room": "blue", "n": 3, "ok": True}
    assert d["ongoing"] is True and d["end"] is None and d["start"].endswith("Z")
    # PUT wants the session token
    init = Sdk(tm.srv_a, app["api_key"])
    init.initialize()
    expect_tm_error(init.put("/sessions", {"devices": []}), 401, "invalid_token")


def test_delta_on_initialize_and_sessions_backdates_and_is_validated(tm):
    """§6.1: delta on POSTs backdates (now - delta): a new conference's creation on
    /initialize, the session's start on POST /sessions; negative or not a number is 400
    invalid_parameters, and nothing is written."""
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    base = tm.base(app["id"])
    good = {"apiKey": app["api_key"], "conferenceId": new_id("c"), "userId": new_id("u")}
    for bad in (-1, "10", [], {}, True):
        expect_tm_error(sdk.post("/initialize", {**good, "delta": bad}, token=False), 400,
                        "invalid_parameters")
    assert tm.r.get(f"{base}:confid:{good['conferenceId']}") is None
    now = time.time() * 1000
    sdk.token = expect(sdk.post("/initialize", {**good, "delta": 30000}, token=False), 200)["token"]
    cnf = claims_of(sdk.token)["cnf"]
    created = int(tm.hash(f"{base}:conf:{cnf}")["createdMs"])
    assert now - 30000 - 2000 <= created <= now - 30000 + 2000, (now, created)
    assert tm.r.zscore(f"{base}:confs", cnf) == created
    init = sdk.token
    for bad in (-5, "5", [], {}, True):
        sdk.token = init
        expect_tm_error(sdk.post("/sessions", {"platform": {}, "delta": bad}), 400,
                        "invalid_parameters")
    assert tm.r.zcard(f"{base}:conf:{cnf}:sessions") == 0
    now = time.time() * 1000
    ses = claims_of(expect(sdk.post("/sessions", {"platform": {}, "delta": 20000}),
                           200)["token"])["ses"]
    start = int(tm.hash(f"{base}:ses:{ses}")["startMs"])
    assert now - 20000 - 2000 <= start <= now - 20000 + 2000, (now, start)
    assert tm.r.zscore(f"{base}:conf:{cnf}:sessions", ses) == start
    assert int(tm.hash(f"{base}:conf:{cnf}")["startMs"]) == start


def test_meta_validation(tm):
    _, _, app = tm.owner_with_app()
    sdk = tm.sdk(app)
    sdk.initialize()
    for meta in ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}, {"k" * 65: 1},
                 {"s": "x" * 128}, {"o": {"nested": 1}}, {"l": [1]}, {"n": None}, "text", [1]):
        expect_tm_error(sdk.post("/sessions", {"meta": meta}), 400, "invalid_meta")
    for meta in ({"a": 1, "b": "x" * 127, "c": True, "d": 1.5, "é" * 64: "ü" * 127}, {}, None):
        r = sdk.post("/sessions", {"meta": meta})
        assert r.status == 200, (meta, r)


def test_multiple_rejoins_is_an_issue(tm):
    _, _, app = tm.owner_with_app()
    conference, user = new_id("c"), new_id("u")
    for _ in range(3):
        c = tm.sdk(app).join(conference, user)
    assert tm.issues(c).count("multiple_rejoins") == 1
