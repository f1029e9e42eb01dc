#!/usr/bin/python3
"""Participants and request bodies for the telemetry ingest benchmarks
(bench/run.sh: stats_small, stats_large, batch_large).

Against the running onair: one account (POST /accounts), its organization
(POST /organizations) and an app (POST /apps); then PARTICIPANTS SDK clients
in 2-party conferences, each doing what @peermetrics/sdk does on start —
POST /initialize, POST /sessions, POST /connection addConnection for its
peer — so every client holds a session token and the server's connection id.

Writes, one JSON body a line (for bench/ping.lua's `body` mode), from
tests/api/telemetry_payloads.py:
  --small-out  each participant's /stats body of a 2-party video call at
               10 s (audio and video each way, the pair and its candidates,
               remote-inbound reports): ~7 KiB
  --large-out  the first --large participants' /stats bodies of an SFU
               connection forwarding many participants: >= --large-kib KiB
  --batch-out  the same participants' /connection/batch bodies of connection
               events: >= --large-kib KiB
With --offline no server is asked: placeholder tokens and ids (for a run of
nginx alone, which reads the bodies and answers a fixed response).

Human-readable lines go to stderr; the last line of stdout is key=value
pairs: ok, participants, and the mean body size of each file in bytes
(small_bytes, large_bytes, batch_bytes), from which run.sh computes MB/s.
"""
import argparse
import asyncio
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))

import telemetry_payloads as tp  # noqa: E402
from setup_common import Failure, log, request, run_requests, set_log_name  # noqa: E402

PASSWORD = "bench-password"


def post(path, body, token=None):
    return request("POST", path, token, body=body)


def created(what, resp, key="data"):
    status, body = resp
    try:
        return json.loads(body)[key] if key else json.loads(body)
    except (ValueError, KeyError, TypeError):
        raise Failure(f"{what}: unexpected answer {status}: {body[:300]!r}")


async def owner(port):
    """A fresh account, its organization and an app; returns the app's key."""
    return (await owner_and_app(port))[1]


async def owner_and_app(port):
    """A fresh account, its organization and an app; returns the account's
    token and the app's key."""
    email = f"tb-{os.getpid()}-{time.time_ns()}@bench.test"
    account = {"firstName": "Telemetry", "lastName": "Bench", "password": PASSWORD,
               "identities": [{"type": "email", "value": email}]}
    (resp,) = await run_requests(port, [(post("/accounts", account), {201})], 1, "account")
    token = created("POST /accounts", resp, key=None)["token"]
    (resp,) = await run_requests(
        port, [(post("/organizations", {"name": "Telemetry bench"}, token), {200, 201})], 1,
        "organization")
    org = created("POST /organizations", resp)["id"]
    (resp,) = await run_requests(
        port, [(post("/apps", {"organization": org, "name": "bench"}, token), {200, 201})], 1,
        "app")
    return token, created("POST /apps", resp)["api_key"]


def session_body(i):
    """POST /sessions as User.getUserDetails() fills it."""
    return {
        "platform": {"browser": {"name": "Chrome", "version": "131.0.0.0"},
                     "os": {"name": "macOS", "version": "14.6"}, "platform": {"type": "desktop"},
                     "engine": {"name": "Blink", "version": "131.0.0.0"}},
        "constraints": {"audio": True, "video": {"width": 1280, "height": 720}},
        "devices": [{"deviceId": f"dev{i}a", "kind": "audioinput", "label": "Built-in Microphone",
                     "groupId": "g1"},
                    {"deviceId": f"dev{i}v", "kind": "videoinput", "label": "FaceTime HD Camera",
                     "groupId": "g2"}],
        "appVersion": "1.0.0", "meta": {"plan": "bench"}, "webrtcSdk": "",
    }


async def participants(port, api_key, n, concurrency):
    """n SDK clients in 2-party conferences; returns [(session token, peer id,
    connection id)]."""
    init = [(post("/initialize", {"apiKey": api_key, "conferenceId": f"bench-{i // 2}",
                                  "conferenceName": f"Bench call {i // 2}",
                                  "userId": f"user-{i}", "userName": f"User {i}"}), {200})
            for i in range(n)]
    tokens = [created("POST /initialize", r, key=None)["token"]
              for r in await run_requests(port, init, concurrency, "initialize")]
    log(f"  {n} /initialize")
    sessions = [(post("/sessions", dict(session_body(i), token=tokens[i])), {200})
                for i in range(n)]
    tokens = [created("POST /sessions", r, key=None)["token"]
              for r in await run_requests(port, sessions, concurrency, "sessions")]
    log(f"  {n} /sessions")
    adds = [(post("/connection", tp.add_connection(tokens[i], f"user-{i ^ 1}", f"User {i ^ 1}")),
             {200}) for i in range(n)]
    out = []
    for i, r in enumerate(await run_requests(port, adds, concurrency, "addConnection")):
        doc = created("POST /connection addConnection", r, key=None)
        out.append((tokens[i], doc["peer_id"], doc["connection_id"]))
    log(f"  {n} addConnection")
    return out


def write_bodies(path, bodies):
    """One body a line; returns the mean size in bytes."""
    total = count = 0
    with open(path, "w") as f:
        for b in bodies:
            line = tp.dumps(b)
            total += len(line)
            count += 1
            f.write(line + "\n")
    return total // max(1, count)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int)
    ap.add_argument("--offline", action="store_true", help="placeholder tokens, no server")
    ap.add_argument("--participants", type=int, default=200)
    ap.add_argument("--large", type=int, default=16, help="participants with large bodies")
    ap.add_argument("--large-kib", type=int, default=110)
    ap.add_argument("--small-out", required=True)
    ap.add_argument("--large-out", required=True)
    ap.add_argument("--batch-out", required=True)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    set_log_name("telemetry_setup")
    try:
        n = args.participants
        if args.offline:
            clients = [("offline", f"peer-{i}", f"conn-{i}") for i in range(n)]
        else:
            if not args.port:
                raise Failure("--port is required unless --offline")
            log(f"{n} participants in {(n + 1) // 2} conferences on 127.0.0.1:{args.port}")
            clients = asyncio.run(participants(args.port, asyncio.run(owner(args.port)), n,
                                               args.concurrency))
        small = write_bodies(args.small_out, (
            tp.stats_body(tok, peer, conn, tp.Call(seed=i + 1).sample(3))
            for i, (tok, peer, conn) in enumerate(clients)))
        big = clients[:args.large]
        large = write_bodies(args.large_out, (
            tp.stats_body(tok, peer, conn, tp.large_stats_data(seed=i + 1,
                                                               min_bytes=args.large_kib * 1024))
            for i, (tok, peer, conn) in enumerate(big)))
        batch = write_bodies(args.batch_out, (
            tp.batch_body(tok, peer, conn, min_bytes=args.large_kib * 1024, seed=i + 1)
            for i, (tok, peer, conn) in enumerate(big)))
    except Failure as e:
        log(str(e))
        print("ok=0")
        return 1
    log(f"bodies: small {small} B, large {large} B, batch {batch} B (mean)")
    print(f"ok=1 participants={n} small_bytes={small} large_bytes={large} batch_bytes={batch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
