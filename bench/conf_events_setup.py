#!/usr/bin/python3
"""One conference holding EVENTS events, for bench/run.sh's conf_events
(GET /conferences/:id/events pages at offsets across it).

Against the running onair: an account, its organization and an app
(bench/telemetry_setup.py), one participant joined as the SDK does
(POST /initialize, POST /sessions, addConnection), then EVENTS connection
events (ICE candidates, as the SDK sends them) posted through the real
ingest route, POST /connection/batch, BATCH a request.

Writes to --paths-out the requests for bench/ping.lua (`get` mode): pages
of 50 of GET /conferences/:id/events at 997 offsets spread over the whole
stream, in a scattered order.  The last line of stdout is key=value pairs:
ok, token (the account's), conference (its server id) and events (how many
the stream holds).  With --offline nothing is asked: placeholders, for a run
of nginx alone.
"""
import argparse
import asyncio
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))

import telemetry_payloads as tp  # noqa: E402
from setup_common import Failure, log, request, run_requests, set_log_name  # noqa: E402
from telemetry_setup import created, owner_and_app, post, session_body  # noqa: E402


async def conference(port, events, batch, concurrency):
    token, api_key = await owner_and_app(port)
    (r,) = await run_requests(port, [(post("/initialize", {
        "apiKey": api_key, "conferenceId": f"bench-events-{time.time_ns()}",
        "conferenceName": "Events bench", "userId": "user-0", "userName": "User 0"}), {200})],
        1, "initialize")
    init = created("POST /initialize", r, key=None)["token"]
    (r,) = await run_requests(port, [(post("/sessions", dict(session_body(0), token=init)),
                                      {200})], 1, "sessions")
    session = created("POST /sessions", r, key=None)["token"]
    (r,) = await run_requests(port, [(post("/connection", tp.add_connection(session, "user-1")),
                                      {200})], 1, "addConnection")
    conn = created("POST /connection", r, key=None)["connection_id"]
    rng = random.Random(1)
    left = events - 1  # addConnection is the first
    bodies = []
    while left > 0:
        n = min(batch, left)
        items = [{"eventName": "onicecandidate", "peerId": "user-1", "connectionId": conn,
                  "timeDelta": k, "data": tp.ice_candidate_data(rng)} for k in range(n)]
        bodies.append((post("/connection/batch", {"token": session, "data": items}), {200}))
        left -= n
    await run_requests(port, bodies, concurrency, "batch")
    # the account's only conference, through the query route itself
    (r,) = await run_requests(port, [(request("GET", "/conferences?created_at_gte=0", token),
                                      {200})], 1, "conferences")
    return token, created("GET /conferences", r)[0]["id"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int)
    ap.add_argument("--offline", action="store_true", help="placeholders, no server")
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--paths-out", required=True)
    args = ap.parse_args()
    set_log_name("conf_events_setup")
    try:
        if args.offline:
            token, conf = "none", "00000000-0000-4000-8000-000000000000"
        else:
            if not args.port:
                raise Failure("--port is required unless --offline")
            t0 = time.monotonic()
            token, conf = asyncio.run(conference(args.port, args.events, args.batch,
                                                 args.concurrency))
            log(f"{args.events} events in {time.monotonic() - t0:.1f}s through "
                f"/connection/batch ({args.batch} a request)")
    except Failure as e:
        log(str(e))
        print("ok=0")
        return 1
    steps = 997  # a prime: k * 7919 % steps visits every step once, out of order
    with open(args.paths_out, "w") as f:
        for k in range(steps):
            offset = (k * 7919) % steps * ((args.events - 50) // (steps - 1))
            f.write(f"/conferences/{conf}/events?limit=50&offset={offset}\n")
    print(f"ok=1 token={token} conference={conf} events={args.events}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
