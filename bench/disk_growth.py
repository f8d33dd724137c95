"""How much the database grows over 1,000 failed logins with maximal inputs.

Not a test: run it by hand (see bench/README.md).

    python bench/disk_growth.py                 # 1,000 failed logins, goal < 1 MB of growth
    python bench/disk_growth.py --logins 5000

Issue 8: 400 failed logins with unique 60 KB emails grew the database from 4 KB to 47 MB. This
sends --logins failed logins, each with the longest inputs the server accepts: a unique email of
254 characters, a 1,024-character password and a 100 KB User-Agent (kept truncated only on
success). Throttling is set so high that every attempt is a recorded failure (the worst case
for the store; with the defaults most would be 429s and record nothing). It then sends the same
number with inputs over the limits (60 KB emails, as in the issue), which must be refused
(422) without being recorded.

It prints the database size (main file + WAL) before, after, and after the server has stopped
(which checkpoints the WAL into the main file). Exit status 0 when the main file grew by less
than --goal-mb.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests
from _process import ServerProcess, server_env


def _size(db: Path) -> tuple[int, int]:
    main = db.stat().st_size if db.exists() else 0
    wal = Path(str(db) + "-wal")
    return main, wal.stat().st_size if wal.exists() else 0


def _email(i: int) -> str:
    local = f"{i:08d}" + "x" * 56  # 64 characters: RFC 5321's local-part maximum
    domain = ("d" * 62 + ".") * 2 + "e" * 58 + ".test"  # 189 characters
    return f"{local}@{domain}"


def _fmt(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=1000, help="failed logins of each kind (default 1000)")
    parser.add_argument("--goal-mb", type=float, default=1.0, help="allowed growth of the main file (default 1)")
    args = parser.parse_args(argv)
    assert len(_email(0)) == 254

    env = server_env(LOGIN_MAX_FAILURES="1000000", LOGIN_MAX_CLIENT_FAILURES="1000000")
    with tempfile.TemporaryDirectory(prefix="tokenconform-bench-") as tmp:
        db = Path(tmp) / "growth.db"
        server = ServerProcess(db, env)
        statuses: Counter[str] = Counter()
        try:
            with requests.Session() as http:
                # One registered user, so the database has its real shape.
                user = {"username": "g", "email": "g@example.com", "password": "bench password", "fullName": "G"}
                http.post(server.url + "/register", json=user, timeout=30).raise_for_status()
                main0, wal0 = _size(db)
                started = time.perf_counter()
                headers = {"User-Agent": "U" * 100_000}
                for i in range(args.logins):
                    body = {"email": _email(i), "password": "p" * 1024}
                    reply = http.post(server.url + "/login", json=body, headers=headers, timeout=30)
                    statuses[f"maximal {reply.status_code}"] += 1
                main1, wal1 = _size(db)
                for i in range(args.logins):
                    body = {"email": f"{i}" + "a" * 60_000 + "@example.com", "password": "p" * 10}
                    reply = http.post(server.url + "/login", json=body, timeout=30)
                    statuses[f"oversized {reply.status_code}"] += 1
                elapsed = time.perf_counter() - started
                main2, wal2 = _size(db)
        finally:
            code = server.stop()
        main3, wal3 = _size(db)
        # Independent check of what is stored: nothing of the 60 KB emails, one row per failure.
        import sqlite3

        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT count(*), max(length(key_hash)) FROM throttle_failures").fetchone()
        conn.close()

    print(f"responses: {dict(sorted(statuses.items()))} in {elapsed:.1f} s; server exit {code}")
    print(f"before:                         main {_fmt(main0)}, WAL {_fmt(wal0)}")
    print(f"after {args.logins} maximal failures:    main {_fmt(main1)}, WAL {_fmt(wal1)}")
    print(f"after {args.logins} oversized (422):     main {_fmt(main2)}, WAL {_fmt(wal2)}")
    print(f"after stop (WAL checkpointed):  main {_fmt(main3)}, WAL {_fmt(wal3)}")
    print(f"throttle_failures rows: {rows[0]} (key hash {rows[1]} bytes each)")
    growth = main3 - main0
    per = growth / args.logins
    print(f"growth of the main file: {_fmt(growth)} = {per:.0f} bytes per recorded failure (goal < {args.goal_mb} MB)")
    ok = growth < args.goal_mb * 1024 * 1024 and statuses["oversized 422"] == args.logins
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
