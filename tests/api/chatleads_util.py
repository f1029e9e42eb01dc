"""Helpers for the lead and chat tests (docs/streams.md, API.md §5).

Organizations with their owner, active dealers, streams requested by a
shopper (who gets a guest token) and accepted by a dealer, the lead and chat
message shapes, and reading one kind of event from GET /events."""

import time
import uuid

from accounts_util import UUID_RE, assert_time, expect

VIN = "1HGCM82633A004352"
LEAD_KEYS = {"id", "organization", "streamId", "vin", "email", "phone", "firstName", "lastName",
             "comment", "createdAt"}
MESSAGE_KEYS = {"id", "from", "message", "createdAt"}
PREFIX = "onair:"  # ONAIR_KEY_PREFIX's default


class Org:
    """An organization (as its owner sees it, token included) and its owner's Creds."""

    def __init__(self, data, owner):
        self.data, self.owner = data, owner

    @property
    def id(self):
        return self.data["id"]

    @property
    def code(self):
        return self.data["code"]

    @property
    def token(self):
        return self.data["token"]


def new_org(api, owner=None):
    """An organization owned by a fresh user account (or by owner)."""
    owner = owner or api.create_account()
    return Org(api.create_org(owner.token), owner)


def dealer(api, admin_token, org, eligible=True):
    """An active dealer of org (made by the admin, so it has a token); when
    eligible, online and pinged, so that a request is offered to it and can
    be accepted (a request nobody is eligible for is missed-offline)."""
    d = api.create_account(token=admin_token, type="dealer", organization=org.id)
    assert d.account["type"] == "dealer" and d.account["status"] == "active", d.account
    assert d.token, d.account
    if eligible:
        expect(api.post("/accounts/status/online", token=d.token), 200)
        expect(api.post("/ping", token=d.token), 200)
    return d


class Stream:
    """A stream requested by a shopper: its object (latest seen) and the
    guest's token and id."""

    def __init__(self, stream, token):
        self.stream, self.token = stream, token

    @property
    def id(self):
        return self.stream["id"]

    @property
    def guest(self):
        return self.stream["guest"]


def request_stream(api, org, vin=VIN):
    r = api.post(f"/streams/request/{org.code}", {"vin": vin})
    v = expect(r, 201)
    assert set(v) == {"stream", "token"}, r
    assert v["stream"]["organization"] == org.id and v["stream"]["vin"] == vin, r
    assert UUID_RE.match(v["stream"]["guest"]), r
    return Stream(v["stream"], v["token"])


def accept(api, s, dealer_creds):
    v = expect(api.post(f"/streams/accept/{s.id}", token=dealer_creds.token), 200)
    assert v["stream"]["status"] == "streaming" and v["stream"]["dealer"] == dealer_creds.id, v
    s.stream = v["stream"]
    return s


def assert_lead(lead, **expected):
    """The lead object's exact shape and types, then the expected values."""
    assert isinstance(lead, dict) and set(lead) == LEAD_KEYS, f"lead keys {sorted(lead)}"
    assert isinstance(lead["id"], str) and UUID_RE.match(lead["id"]), lead
    assert isinstance(lead["organization"], str) and UUID_RE.match(lead["organization"]), lead
    for k in LEAD_KEYS - {"id", "organization", "createdAt"}:
        assert lead[k] is None or (isinstance(lead[k], str) and lead[k]), lead
    assert_time(lead["createdAt"])
    for k, v in expected.items():
        assert lead[k] == v, f"lead[{k!r}] = {lead[k]!r}, expected {v!r}: {lead}"
    return lead


def assert_message(m, **expected):
    assert isinstance(m, dict) and set(m) == MESSAGE_KEYS, f"message keys {m!r}"
    assert isinstance(m["id"], int) and not isinstance(m["id"], bool) and m["id"] >= 1, m
    assert isinstance(m["from"], str) and UUID_RE.match(m["from"]), m
    assert isinstance(m["message"], str) and m["message"], m
    assert_time(m["createdAt"])
    for k, v in expected.items():
        assert m[k] == v, f"message[{k!r}] = {m[k]!r}, expected {v!r}: {m}"
    return m


def events_of(stream, kind, timeout=3.0, until=None):
    """The data (parsed) of every `kind` event arriving within timeout, or
    until one satisfies until(data) (then returned last); other events are
    skipped."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        ev = stream.poll_event(max(0.0, deadline - time.monotonic()))
        if ev is None:
            if until is not None:
                raise AssertionError(f"no matching {kind!r} event within {timeout}s "
                                     f"(events: {stream.events!r})")
            return out
        if ev.event != kind:
            continue
        assert ev.data_lines == 1, ev
        d = ev.json()
        out.append(d)
        if until is not None and until(d):
            return out


def random_token():
    return uuid.uuid4().hex
