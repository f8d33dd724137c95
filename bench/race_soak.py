"""Refresh races across server processes on one PostgreSQL: 0 double issuance, 0 5xx.

Not a test (tests/reference_server/test_processes.py runs a short version in CI): a soak.

    eval "$(bash scripts/postgres.sh start)"        # or --postgres postgresql://...
    python bench/race_soak.py                       # 200 rounds x 16 racers, 2 servers x 2 workers
    python bench/race_soak.py --rounds 1000 --racers 32 --servers 3 --workers 2

Starts ``--servers`` separate `tokenconform serve --workers N` instances (separate ports, so
requests certainly reach different processes) on one fresh PostgreSQL schema. Each round logs a
session in, connects ``--racers`` clients spread over the servers, releases them together with
one refresh token, and counts: a round must have exactly one 200 and only 401s besides (a second
200 is double issuance: two live token chains from one token); no 5xx ever. Then the winner's new
token is presented: the losers' replays are reuse, so the family must be revoked (401). Prints
PASS (exit 0) or FAIL (exit 1) with the counts. ``--sqlite`` runs the same on a SQLite file.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _process import ServerProcess, server_env  # noqa: E402
from engines import postgres_schema, with_schema  # noqa: E402

PASSWORD = "soak password 123"


def race(urls: list[str], token: str, racers: int) -> list[tuple[int, str]]:
    barrier = threading.Barrier(racers)
    results: list[tuple[int, str]] = [(-1, "")] * racers

    def racer(i: int) -> None:
        url = urls[i % len(urls)]
        with requests.Session() as http:
            http.get(url + "/health", timeout=30)  # the connection is open before the release
            barrier.wait()
            try:
                reply = http.post(url + "/refresh", json={"refreshToken": token}, timeout=30)
                body = reply.json().get("refreshToken", "") if reply.status_code == 200 else ""
                results[i] = (reply.status_code, body)
            except requests.RequestException as exc:
                results[i] = (-1, type(exc).__name__)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("TOKENCONFORM_TEST_POSTGRES_URL", ""), help="server URL")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--racers", type=int, default=16)
    parser.add_argument("--servers", type=int, default=2, help="separate serve instances (ports)")
    parser.add_argument("--workers", type=int, default=2, help="processes per instance")
    args = parser.parse_args(argv)
    if not args.sqlite and not args.postgres:
        parser.error("no PostgreSQL: give --postgres URL, set TOKENCONFORM_TEST_POSTGRES_URL, or use --sqlite")

    workdir = Path(tempfile.mkdtemp(prefix="tokenconform-soak-"))
    schema = ""
    if args.sqlite:
        database = str(workdir / "soak.db")
    else:
        schema = "soak_" + uuid.uuid4().hex[:12]
        postgres_schema(args.postgres, "create", schema)
        database = with_schema(args.postgres, schema)
    env = server_env()
    servers: list[ServerProcess] = []
    statuses: collections.Counter[int] = collections.Counter()
    double, none, survived, rounds_done = 0, 0, 0, 0
    started = time.monotonic()
    try:
        for _ in range(args.servers):
            servers.append(ServerProcess(database, env, "--workers", str(args.workers)))  # type: ignore[arg-type]
        urls = [server.url for server in servers]
        email = f"soak-{uuid.uuid4().hex[:8]}@example.com"
        with requests.Session() as http:
            user = {"username": email.split("@")[0], "email": email, "password": PASSWORD, "fullName": "Soak"}
            assert http.post(urls[0] + "/register", json=user, timeout=30).status_code == 201
            for round_ in range(args.rounds):
                login = http.post(
                    urls[round_ % len(urls)] + "/login", json={"email": email, "password": PASSWORD}, timeout=30
                )
                login.raise_for_status()
                results = race(urls, login.json()["refreshToken"], args.racers)
                statuses.update(status for status, _ in results)
                winners = [body for status, body in results if status == 200]
                double += len(winners) > 1
                none += not winners
                if len(winners) == 1:
                    after = http.post(urls[-1] + "/refresh", json={"refreshToken": winners[0]}, timeout=30)
                    survived += after.status_code == 200
                rounds_done += 1
    finally:
        for server in servers:
            server.stop()
        if schema:
            postgres_schema(args.postgres, "drop", schema)
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    seconds = time.monotonic() - started
    errors = sum(n for status, n in statuses.items() if status >= 500 or status < 0)
    engine = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"{engine}, {args.servers} servers x {args.workers} workers: {rounds_done} rounds x {args.racers} racers "
        f"in {seconds:.1f} s; statuses {dict(sorted(statuses.items()))}"
    )
    print(
        f"double issuance: {double} rounds; no winner: {none} rounds; 5xx or no answer: {errors}; "
        f"families alive after reuse: {survived}"
    )
    ok = double == 0 and none == 0 and errors == 0 and survived == 0 and set(statuses) <= {200, 401}
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
