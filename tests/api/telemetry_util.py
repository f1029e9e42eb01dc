"""Helpers for the telemetry tests (issue 8): an SDK-like client that posts
JSON as text/plain (what @peermetrics/sdk sends), apps made through the
account API, tokens minted with the servers' known secret, and minimal
realistic payloads."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
import redis

from accounts_util import SECRET, Api, expect, ready, server_env
from harness import request

INIT_LABEL = b"onair telemetry init token v1"
SESSION_LABEL = b"onair telemetry session token v1"
PREFIX = "onair:"


def tm_env(**extra):
    env = {"ONAIR_TELEMETRY_RATE_PER_MIN": "1000000"}
    env.update(extra)
    return server_env(**env)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, label=SESSION_LABEL, secret=SECRET):
    """An HS256 token signed with the key the server derives for `label`."""
    key = hmac.new(secret, label, hashlib.sha256).digest()
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def claims_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def expect_tm_error(resp, status, code):
    v = expect(resp, status)
    assert v.get("status") == code and v.get("error_code") == code, resp
    assert isinstance(v.get("message"), str) and v["message"], resp
    return v


class Sdk:
    """What the browser SDK does against one server: JSON bodies sent as
    text/plain, the token in the body."""

    def __init__(self, srv, api_key=None, root=""):
        self.srv, self.api_key, self.root = srv, api_key, root
        self.token = None

    @property
    def port(self):
        return self.srv.port

    def send(self, method, path, body=None, raw=None, headers=None, token=True):
        if raw is None:
            body = dict(body or {})
            if token and self.token is not None and "token" not in body:
                body["token"] = self.token
            raw = json.dumps(body).encode()
        h = {"Content-Type": "text/plain;charset=UTF-8"}
        h.update(headers or {})
        return request(self.port, method, self.root + path, body=raw, headers=h)

    def post(self, path, body=None, **kw):
        return self.send("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.send("PUT", path, body, **kw)

    def initialize(self, conference=None, user=None, **extra):
        body = {"apiKey": self.api_key, "conferenceId": conference or new_id("conf"),
                "userId": user or new_id("user")}
        body.update(extra)
        v = expect(self.post("/initialize", body, token=False), 200)
        self.token = v["token"]
        return v

    def join(self, conference=None, user=None, **session):
        """initialize + POST /sessions; returns the session token's claims."""
        self.initialize(conference, user)
        body = {"platform": {"name": "Chrome", "version": "131"}, "constraints": {"audio": True},
                "devices": [], "appVersion": "1.0", "meta": {"room": "a"},
                "webrtcSdk": "", **session}
        v = expect(self.post("/sessions", body), 200)
        assert set(v) == {"token"}, v
        self.token = v["token"]
        return claims_of(self.token)

    def add_connection(self, peer=None, **extra):
        body = {"eventName": "addConnection", "peerId": peer or new_id("peer"), **extra}
        v = expect(self.post("/connection", body), 200)
        assert set(v) == {"peer_id", "connection_id"}, v
        return v


def new_id(kind):
    return f"{kind}-{uuid.uuid4().hex[:12]}"


class TmEnv:
    """Two instances (a, b) on one Redis, an account with an organization
    and an app."""

    def __init__(self, srv_a, srv_b, redis_server):
        self.srv_a, self.srv_b, self.redis = srv_a, srv_b, redis_server
        self.a, self.b = Api(srv_a), Api(srv_b)
        self.r = redis_server.client()
        self.raw = redis.Redis(unix_socket_path=redis_server.socket_path)  # bytes, not str

    def owner_with_app(self, **app):
        owner = self.a.create_account()
        org = self.a.create_org(owner.token)
        body = {"organization": org["id"], "name": "App " + uuid.uuid4().hex[:6], **app}
        v = expect(self.a.post("/apps", body, token=owner.token), 200)
        return owner, org, v["data"]

    def sdk(self, app, srv=None, root=""):
        return Sdk(srv or self.srv_a, app["api_key"], root)

    def base(self, app_id):
        return f"{PREFIX}{{tm:{app_id}}}"

    def events(self, claims):
        """The conference's stream entries, oldest first: {bytes field: bytes value}."""
        key = f"{self.base(claims['app'])}:conf:{claims['cnf']}:events"
        return [fields for _, fields in self.raw.xrange(key)]

    def issues(self, claims):
        key = f"{self.base(claims['app'])}:conf:{claims['cnf']}:issues"
        return [fields["code"] for _, fields in self.r.xrange(key)]

    def hash(self, key):
        return self.r.hgetall(key)


@pytest.fixture(scope="module")
def tm(make_onair_module, shared_redis):
    a = ready(make_onair_module(shared_redis, env=tm_env()))
    b = ready(make_onair_module(shared_redis, env=tm_env()))
    return TmEnv(a, b, shared_redis)


def stats_body(connection_id, candidate="host", protocol="udp", **extra):
    """A /stats body shaped like the SDK's (webrtc-stats' parsed reports)."""
    now = time.time() * 1000
    rtp = {"timestamp": now, "ssrc": 1234, "packetsReceived": 500, "bytesReceived": 400000,
           "packetsLost": 3, "jitter": 0.004}
    out = {"timestamp": now, "ssrc": 4321, "packetsSent": 510, "bytesSent": 410000}
    return {
        "peerId": "peer", "connectionId": connection_id, "timeTaken": 3,
        "data": {
            "audio": {"inbound": [dict(rtp, kind="audio")], "outbound": [dict(out, kind="audio")]},
            "video": {"inbound": [dict(rtp, kind="video", framesPerSecond=30)],
                      "outbound": [dict(out, kind="video")]},
            "connection": {"id": "CP1", "state": "succeeded", "currentRoundTripTime": 0.05,
                           "availableOutgoingBitrate": 1500000, "bytesSent": 800000,
                           "bytesReceived": 790000,
                           "local": {"candidateType": candidate, "protocol": protocol,
                                     "address": "192.0.2.1", "port": 50000},
                           "remote": {"candidateType": "srflx", "protocol": protocol,
                                      "address": "198.51.100.7", "port": 50001}},
            "remote": {"audio": {"inbound": [{"roundTripTime": 0.05, "packetsLost": 1}]},
                       "video": {"inbound": []}},
        },
        **extra,
    }
