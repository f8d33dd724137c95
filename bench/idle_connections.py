"""500 idle and trickling connections, then: does a login still answer within a second?

Not a test: run it by hand (see bench/README.md).

    python bench/idle_connections.py                      # the server's defaults
    python bench/idle_connections.py --waitress-defaults  # connection_limit 100, channel_timeout 120 s: starved

Issue 8: about 100 idle or slowly trickling TCP connections made /health and /login time out for
minutes. This opens --idle connections that send nothing and --trickle connections that send the
start of a request and then one byte every second, waits a moment, and then times --logins
logins (each on a fresh connection, valid credentials) and a GET /health, with a client timeout
of --timeout seconds. Exit status 0 when every login answered 200 within --goal seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from _process import ServerProcess, server_env

PASSWORD = "bench password 123"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=450, help="connections that send nothing (default 450)")
    parser.add_argument("--trickle", type=int, default=50, help="connections that trickle a request (default 50)")
    parser.add_argument("--logins", type=int, default=10, help="logins timed while they are open (default 10)")
    parser.add_argument("--goal", type=float, default=1.0, help="seconds a login may take (default 1.0)")
    parser.add_argument("--timeout", type=float, default=15.0, help="client timeout per request (default 15)")
    parser.add_argument("--bcrypt-rounds", default="12", help="bcrypt cost of the server (default 12, production's)")
    parser.add_argument(
        "--waitress-defaults",
        action="store_true",
        help="run the server with waitress's own limits (connection_limit 100, channel_timeout 120 s)",
    )
    args = parser.parse_args(argv)

    limits = ["--connection-limit", "100", "--channel-timeout", "120"] if args.waitress_defaults else []
    with tempfile.TemporaryDirectory(prefix="tokenconform-bench-") as tmp:
        env = server_env(BCRYPT_ROUNDS=args.bcrypt_rounds)
        server = ServerProcess(Path(tmp) / "idle.db", env, *limits)
        sockets: list[socket.socket] = []
        stop_trickling = threading.Event()
        try:
            with requests.Session() as http:
                user = {"username": "idle", "email": "idle@example.com", "password": PASSWORD, "fullName": "I"}
                http.post(server.url + "/register", json=user, timeout=args.timeout).raise_for_status()
            for _ in range(args.idle):
                sockets.append(socket.create_connection((server.host, server.port), timeout=args.timeout))
            trickling = []
            for _ in range(args.trickle):
                sock = socket.create_connection((server.host, server.port), timeout=args.timeout)
                sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                trickling.append(sock)
            sockets += trickling

            def trickle() -> None:
                while not stop_trickling.wait(1.0):
                    for sock in trickling:
                        with contextlib.suppress(OSError):  # closed by the server: that is the point
                            sock.sendall(b"a")

            threading.Thread(target=trickle, daemon=True).start()
            time.sleep(2)  # let the server accept them all
            print(
                f"open: {args.idle} idle + {args.trickle} trickling connections; bcrypt cost {args.bcrypt_rounds}",
                flush=True,
            )
            if args.waitress_defaults:
                print("server limits: waitress defaults (connection_limit 100, channel_timeout 120 s)")
            else:
                print("server limits: tokenconform defaults (connection_limit 1000, channel_timeout 30 s)")

            times: list[float] = []
            failures = 0
            for _ in range(args.logins):
                started = time.perf_counter()
                try:
                    reply = requests.post(
                        server.url + "/login",
                        json={"email": user["email"], "password": PASSWORD},
                        timeout=args.timeout,
                    )
                    ok = reply.status_code == 200
                except requests.RequestException as exc:
                    print(f"  login failed: {type(exc).__name__}", flush=True)
                    ok = False
                elapsed = time.perf_counter() - started
                times.append(elapsed)
                failures += not ok
            started = time.perf_counter()
            try:
                health = requests.get(server.url + "/health", timeout=args.timeout).status_code
            except requests.RequestException as exc:
                health = type(exc).__name__
            health_s = time.perf_counter() - started
        finally:
            stop_trickling.set()
            for sock in sockets:
                sock.close()
            server.stop()

    print(
        f"login: {args.logins} timed, failed {failures}, median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms (goal < {args.goal * 1000:.0f} ms)"
    )
    print(f"/health: {health} in {health_s * 1000:.0f} ms")
    ok = failures == 0 and max(times) < args.goal
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
