#!/usr/bin/python3
"""Organizations and dealers for the dealer-stream benchmarks (bench/run.sh:
ping, stream_expiry).

Ensures that the running onair has, under its key prefix, ORGS organizations
(made by the bootstrap admin, whose e-mail and password the server was
started with) and DEALERS dealer accounts, dealer i in organization i % ORGS,
in the state they were in right after creation: no pings, no streams, no
events. Writes their ids, tokens and codes to --out (JSON) and, with
--tokens-file, the first --tokens dealers' tokens one a line (for wrk).

Creating an account hashes its password with Argon2id (~12 accounts/s on
the 2-core machine this was written on), so 10 000 dealers take ~15
minutes. They are created once and cached like bench/gig_setup.py's
accounts (bench/setup_common.py): the ids and tokens, and a DUMP of every
key under the prefix taken right after creation. A later run RESTOREs those
keys (seconds) instead. Every run starts from the cached state: the keys
under the prefix that the cache does not hold (an earlier scenario's pings,
streams and events; the bootstrap admin this server made at start-up, which
the cached one replaces) are deleted first. For the cached tokens to stay
valid the server must sign with a fixed ONAIR_SECRET and a long
ONAIR_TOKEN_TTL_S (bench/run.sh sets both); a sample of the tokens is
checked with GET /accounts/me, and the cache is tagged with the Redis
version, prefix, secret and the account and organization creation sources.

Account creation stops after --budget seconds (0: no limit); what was made
is cached, and the next run adds the rest.

Human-readable lines go to stderr; the last line of stdout is key=value pairs.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from setup_common import (ACCOUNT_SOURCES, Failure, Redis, cache_tag,  # noqa: E402
                          check_tokens, create_accounts, delete_prefix, dump_prefix,
                          load_cache, log, request, restore_keys, run_reporting, run_requests,
                          save_cache, set_log_name)

PASSWORD = "bench-password"
SOURCES = ACCOUNT_SOURCES + ("storage/scripts/org_create.lua",)


def email(i):
    return f"sb-dealer-{i}@bench.test"


async def admin_login(port, email_, password):
    (status, body), = await run_requests(
        port, [(request("POST", "/auth", body={"email": email_, "password": password}),
                {200, 401, 403, 429})], 1, "admin login")
    if status != 200:
        raise Failure(f"the bootstrap admin {email_} cannot log in ({status}: {body[:200]!r}); "
                      f"start onair with ONAIR_ADMIN_EMAIL/ONAIR_ADMIN_PASSWORD")
    doc = json.loads(body)
    return [doc["account"]["id"], doc["token"]]


async def make_orgs(port, admin_token, first, n):
    reqs = [(request("POST", "/organizations", admin_token, {"name": f"Bench Motors {i}"}), {200})
            for i in range(first, first + n)]
    out = []
    for _, body in await run_requests(port, reqs, 4, "POST /organizations"):
        d = json.loads(body)["data"]
        out.append([d["id"], d["code"]])
    return out


async def run(args):
    out = {}
    rds = Redis(args.redis_sock)
    tag = cache_tag(rds, args.prefix, args.source_root, SOURCES)
    cache = None if args.fresh else load_cache(args.cache, tag)
    accounts = {"admin": None, "orgs": [], "dealers": []}

    if cache is not None:
        t = time.monotonic()
        cached = {k for k, _, _ in cache["keys"]}
        stale = [k for k in rds.keys(args.prefix) if k not in cached]
        for i in range(0, len(stale), 1000):
            rds.call("DEL", *stale[i:i + 1000])
        restore_keys(rds, cache["keys"])
        accounts = cache["accounts"]
        log(f"restored {len(cache['keys'])} keys ({len(accounts['orgs'])} organizations, "
            f"{len(accounts['dealers'])} dealers) from {args.cache} and dropped {len(stale)} "
            f"others in {time.monotonic() - t:.1f}s")
        d = accounts["dealers"]
        samples = [(accounts["admin"][1], accounts["admin"][0], "admin")] + \
            [(d[i][1], d[i][0], "dealer") for i in sorted({0, len(d) // 2, len(d) - 1}) if d]
        problem = await check_tokens(args.port, samples)
        if problem:
            delete_prefix(rds, args.prefix)
            os.remove(args.cache)
            raise Failure(f"the cache no longer works ({problem}); it is deleted, and so are "
                          f"the keys under {args.prefix!r}, the bootstrap admin's too: run again "
                          f"(a fresh server makes the admin)")
    if accounts["admin"] is None:
        accounts["admin"] = await admin_login(args.port, args.admin_email, args.admin_password)

    admin_token = accounts["admin"][1]
    created = 0
    if len(accounts["orgs"]) < args.orgs:
        accounts["orgs"] += await make_orgs(args.port, admin_token, len(accounts["orgs"]),
                                            args.orgs - len(accounts["orgs"]))
        created += 1
    orgs = accounts["orgs"]
    have = len(accounts["dealers"])
    if have < args.dealers:
        log(f"creating {args.dealers - have} dealers ({args.concurrency} in flight"
            + (f"; for at most {args.budget:g}s" if args.budget > 0 else "") + ")")

        def body_of(i):
            return {"type": "dealer", "organization": orgs[i % len(orgs)][0], "firstName": "Bench",
                    "lastName": f"Dealer{i}", "password": PASSWORD,
                    "identities": [{"type": "email", "value": email(i)}]}

        t = time.monotonic()
        made = await create_accounts(args.port, [(i, False) for i in range(have, args.dealers)],
                                     body_of, args.concurrency, args.budget, have,
                                     token=admin_token)
        for i in range(have, args.dealers):
            if i not in made:
                break
            accounts["dealers"].append(list(made[i]))
        elapsed = time.monotonic() - t
        log(f"created {len(made)} dealers in {elapsed:.1f}s "
            f"({len(made) / max(elapsed, 1e-9):.1f}/s)")
        created += len(made)
        out["created"] = len(made)
    if created:
        t = time.monotonic()
        keys = dump_prefix(rds, args.prefix)
        save_cache(args.cache, tag, f"{tag}-{time.time_ns()}", accounts, keys)
        log(f"cached {len(keys)} keys in {args.cache} ({os.path.getsize(args.cache) >> 10} KiB, "
            f"{time.monotonic() - t:.1f}s)")

    n = len(accounts["dealers"])
    out["dealers"] = n
    out["orgs"] = len(orgs)
    if n < args.dealers:
        log(f"ONLY {n} OF {args.dealers} DEALERS exist (creation budget {args.budget:g}s); "
            f"run again to add more (the cache grows)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"orgs": orgs, "dealers": accounts["dealers"],
                       "admin": accounts["admin"]}, f)
    if args.tokens_file:
        k = min(args.tokens, n)
        with open(args.tokens_file, "w") as f:
            f.writelines(tok + "\n" for _, tok in accounts["dealers"][:k])
        out["tokens"] = k
    return out


def main():
    set_log_name("stream_setup")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="onair on 127.0.0.1:PORT")
    ap.add_argument("--redis-sock", required=True, help="its Redis unix socket")
    ap.add_argument("--prefix", required=True, help="its ONAIR_KEY_PREFIX")
    ap.add_argument("--cache", required=True, help="the cache file (gzipped JSON)")
    ap.add_argument("--fresh", action="store_true", help="ignore the cache: create anew")
    ap.add_argument("--source-root", default=os.path.join(os.path.dirname(__file__), ".."),
                    help="onair's source tree (the cache tag hashes creation sources)")
    ap.add_argument("--admin-email", required=True, help="the server's ONAIR_ADMIN_EMAIL")
    ap.add_argument("--admin-password", required=True, help="its ONAIR_ADMIN_PASSWORD")
    ap.add_argument("--orgs", type=int, default=10, help="organizations")
    ap.add_argument("--dealers", type=int, required=True, help="dealers in all")
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds after which no more dealers are created (0: no limit)")
    ap.add_argument("--concurrency", type=int, default=16, help="POST /accounts in flight")
    ap.add_argument("--out", help="write the organizations and dealers here (JSON)")
    ap.add_argument("--tokens-file", help="write dealer tokens here, one a line")
    ap.add_argument("--tokens", type=int, default=0, help="how many (the first ones)")
    args = ap.parse_args()
    if args.orgs < 1 or args.dealers < 0 or args.concurrency < 1:
        ap.error("counts must be positive")
    return run_reporting(run(args), {})


if __name__ == "__main__":
    sys.exit(main())
