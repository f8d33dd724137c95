"""kill -9 during refresh loops: is any acknowledged rotation lost?

Not a test: run it by hand (see bench/README.md).

    python bench/crash_refresh.py                # 5 rounds x 16 sessions
    python bench/crash_refresh.py --rounds 20 --sessions 32

Each round starts a server subprocess on a fresh database, logs in --sessions sessions and runs
one refresh loop per session (each rotation presents the refresh token of the previous 200),
then sends SIGKILL after a random 1-3 s: no shutdown, no flush. The database is then read
directly. For each session, the last refresh token the client got a 200 for (acknowledged) must
be either
- still the session's current token (kept), or
- used by a rotation that was in flight when the server died, whose answer never arrived
  (committed, unacknowledged: the store is one rotation ahead of the client, which is allowed);
anything else is an acknowledged rotation lost. Finally a server restarted on the same database
is asked to refresh every kept token: each must answer 200.

Exit status 0 when nothing acknowledged was lost and every kept token still refreshes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from _process import ServerProcess, server_env

PASSWORD = "bench password 123"


def _jti_hash(token: str) -> str:
    payload = token.split(".")[1]
    jti = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]
    return hashlib.sha256(jti.encode()).hexdigest()


def _sid(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


@dataclass
class Loop:
    """One session's refresh loop, as the client saw it."""

    acknowledged: str
    rotations: int = 0
    in_flight: bool = False


def _run_loop(url: str, loop: Loop, stop: threading.Event) -> None:
    with requests.Session() as http:
        while not stop.is_set():
            loop.in_flight = True
            try:
                reply = http.post(url + "/refresh", json={"refreshToken": loop.acknowledged}, timeout=10)
            except requests.RequestException:
                return  # the server died with this request in flight: in_flight stays True
            if reply.status_code != 200:
                loop.in_flight = False
                return
            loop.acknowledged = reply.json()["refreshToken"]
            loop.rotations += 1
            loop.in_flight = False


def _round(tmp: Path, sessions: int, rng: random.Random) -> dict[str, int]:
    db = tmp / f"crash-{rng.randrange(1 << 30)}.db"
    env = server_env()
    server = ServerProcess(db, env)
    user = {"username": "crash", "email": "crash@example.com", "password": PASSWORD, "fullName": "C"}
    with requests.Session() as http:
        http.post(server.url + "/register", json=user, timeout=30).raise_for_status()
        loops = []
        for _ in range(sessions):
            login = http.post(server.url + "/login", json={"email": user["email"], "password": PASSWORD}, timeout=30)
            loops.append(Loop(acknowledged=login.json()["refreshToken"]))
    stop = threading.Event()
    threads = [threading.Thread(target=_run_loop, args=(server.url, loop, stop), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(1.0, 3.0))
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(15)

    counts = {"sessions": sessions, "acknowledged": 0, "kept": 0, "committed_unacknowledged": 0, "lost": 0}
    with sqlite3.connect(db) as conn:
        for loop in loops:
            counts["acknowledged"] += loop.rotations
            sid, acked = _sid(loop.acknowledged), _jti_hash(loop.acknowledged)
            current, revoked = conn.execute(
                "SELECT current_jti_hash, revoked_at FROM sessions WHERE id = ?", (sid,)
            ).fetchone()
            used = conn.execute(
                "SELECT 1 FROM used_refresh_jtis WHERE session_id = ? AND jti_hash = ?", (sid, acked)
            ).fetchone()
            if current == acked and revoked is None:
                counts["kept"] += 1
            elif loop.in_flight and used is not None and revoked is None:
                counts["committed_unacknowledged"] += 1
                loop.acknowledged = ""  # the client cannot go on; the store is one step ahead
            else:
                counts["lost"] += 1
                loop.acknowledged = ""
    conn.close()

    # The kept tokens work on a restarted server (same secrets, same database).
    restarted = ServerProcess(db, env)
    refused = 0
    try:
        with requests.Session() as http:
            for loop in loops:
                if loop.acknowledged:
                    reply = http.post(restarted.url + "/refresh", json={"refreshToken": loop.acknowledged}, timeout=30)
                    refused += reply.status_code != 200
    finally:
        restarted.stop()
    counts["refused_after_restart"] = refused
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 rounds (default 5)")
    parser.add_argument("--sessions", type=int, default=16, help="refresh loops per round (default 16)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for the kill times")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    totals: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="tokenconform-bench-") as tmp:
        for number in range(1, args.rounds + 1):
            counts = _round(Path(tmp), args.sessions, rng)
            print(f"round {number}: {counts}", flush=True)
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    print(f"total: {totals}")
    ok = totals["lost"] == 0 and totals["refused_after_restart"] == 0
    print("PASS: nothing acknowledged was lost" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
