#!/usr/bin/python3
"""Chat rooms for the room_message benchmark (bench/run.sh).

Takes bench/stream_setup.py's accounts (--accounts, its --out JSON: cached
dealers, which may chat like any account), pairs them (dealer 2i with 2i+1),
has the first of each pair add the pair's room (POST /room/add, which reuses
it when it exists), and writes one request per member to --out, one a line:
"<token>\\t<JSON body of POST /room/message>", for bench/ping.lua.

Human-readable lines go to stderr; the last line of stdout is key=value pairs.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from setup_common import (Failure, log, request, run_reporting, run_requests,  # noqa: E402
                          set_log_name)

MESSAGE = "Is the blue one still available? Could you show me the back seats, please?"


async def run(args):
    with open(args.accounts) as f:
        dealers = json.load(f)["dealers"]
    pairs = min(args.pairs, len(dealers) // 2)
    if pairs < args.pairs:
        raise Failure(f"only {len(dealers)} accounts for {args.pairs} pairs")
    members = [(dealers[2 * i], dealers[2 * i + 1]) for i in range(pairs)]
    reqs = [(request("POST", "/room/add", a[1], {"owner": a[0], "abonent": b[0]}), {200})
            for a, b in members]
    answers = await run_requests(args.port, reqs, 8, "POST /room/add")
    with open(args.out, "w") as f:
        for (a, b), (_, body) in zip(members, answers):
            room = json.loads(body)["id"]
            for who in (a, b):
                msg = {"author": {"id": who[0]}, "room_id": room, "message": MESSAGE}
                f.write(who[1] + "\t" + json.dumps(msg, separators=(",", ":")) + "\n")
    log(f"{pairs} rooms, {2 * pairs} senders")
    return {"pairs": pairs}


def main():
    set_log_name("room_setup")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="onair on 127.0.0.1:PORT")
    ap.add_argument("--accounts", required=True, help="bench/stream_setup.py --out JSON")
    ap.add_argument("--pairs", type=int, required=True, help="rooms (pairs of accounts)")
    ap.add_argument("--out", required=True, help="the requests for bench/ping.lua")
    return run_reporting(run(ap.parse_args()), {})


if __name__ == "__main__":
    sys.exit(main())
