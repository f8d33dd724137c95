"""Benchmarks the reference server against a bare Bottle route on the same WSGI server.

Not a test: run it by hand on an idle machine (see bench/README.md).

    python bench/server.py                      # defaults: 8 server threads, bcrypt cost 12
    python bench/server.py --rounds 3 --round-seconds 2 --rss-requests 20000   # quicker

What it does, and why:
- Two server subprocesses, `reference` (create_app) and `bare` (one Bottle route returning a
  small JSON), both served by `ReferenceServer` with the same Settings, so the waitress
  configuration and thread count are identical and the bare route is the ceiling the
  reference server is measured against. Subprocesses, so each one's RSS is its own.
- Rounds are interleaved (bare, /profile, /refresh, /login, bare, ...) so machine noise hits
  every target alike; rates are summed over the rounds.
- /refresh chains tokens: each client connection sends the refresh token returned by its
  previous /refresh, as a real client does; a broken chain shows up as non-2xx. Each round
  starts from sessions logged in beforehand, because the request in flight when a round
  stops is rotated by the server but its answer is never read.
- /login is bcrypt-bound at the default cost, so the time of one bcrypt hash at that cost is
  printed beside it; its rounds last at least 5 s, since requests in flight at the end of a
  round are not counted and a login takes about a second under load.
- After the rounds, /profile load continues until the reference server has answered
  --rss-requests requests, then its VmRSS is read from /proc/PID/status.

The load generator is `wrk` with a generated Lua script when installed (`apt-get install wrk`),
else a Python keep-alive client in threads (much slower: it shares the 2 cores and the GIL, so
its ratios understate the server). The output says which one ran. Loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 123"
#: the goals of issue 2 ("Speed")
PROFILE_GOAL = 0.55
RSS_GOAL_MB = 100.0
#: the shortest /login round (see run())
LOGIN_MIN_SECONDS = 5.0


# ------------------------------------------------------------------ server side (subprocess)


def bare_app() -> Any:
    """The limit: one Bottle route returning a small JSON, nothing else.

    Plus the calibration point that issue 2 quotes (Bottle + waitress + one PyJWT HS256 verify
    measured 0.64 x bare): `/bare-verify` decodes the Bearer token and returns the same JSON,
    and `/bare-token` hands out a token for it (setup only, never measured).
    """
    import secrets

    import bottle
    import jwt

    app = bottle.Bottle()
    key = secrets.token_bytes(48)
    # Claims shaped like the reference server's access token, so both verify a token of about
    # the same length (PyJWT's decode cost grows with it: it checks every base64url character).
    claims = {
        "_id": secrets.token_hex(12),
        "email": "bench-0123456789@example.com",
        "username": "bench-0123456789",
        "fullName": "Bench",
        "sid": secrets.token_urlsafe(16),
        "ver": 0,
        "jti": secrets.token_urlsafe(18),
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
        "iss": "tokenconform-reference",
        "aud": "tokenconform-reference",
    }

    @app.get("/bare")
    def bare() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bare-token")
    def bare_token() -> dict[str, str]:
        return {"token": jwt.encode(claims, key, algorithm="HS256")}

    @app.get("/bare-verify")
    def bare_verify() -> dict[str, str]:
        token = bottle.request.get_header("Authorization", "")[len("Bearer ") :]
        try:
            jwt.decode(token, key, algorithms=["HS256"], issuer=claims["iss"], audience=claims["aud"])
        except jwt.InvalidTokenError:
            bottle.response.status = 401
            return {"message": "invalid token"}
        return {"status": "ok"}

    return app


def serve(target: str, threads: int, bcrypt_rounds: int, db_path: str) -> None:
    """Run one server until stdin closes; print its URL first so the parent can connect."""
    from tokenconform_server.config import Settings
    from tokenconform_server.server import ReferenceServer

    settings = Settings.for_testing(
        bcrypt_rounds=bcrypt_rounds,
        threads=threads,
        db_path=db_path,
        # The bench logs in many times with one account; only failures are throttled, but be
        # explicit that throttling is not what is measured.
        login_max_failures=1_000_000,
    )
    app = bare_app() if target == "bare" else None
    server = ReferenceServer(settings, app=app).start()
    try:
        print(f"READY {server.url}", flush=True)
        # The parent closes our stdin to stop us; if the parent dies, so do we.
        sys.stdin.read()
    finally:
        server.stop()


# ------------------------------------------------------------------ client side


@dataclass
class ServerProcess:
    """A server subprocess started by `serve()`."""

    name: str
    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, name: str, args: argparse.Namespace, workdir: Path) -> ServerProcess:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            name,
            "--threads",
            str(args.threads),
            "--bcrypt-rounds",
            str(args.bcrypt_rounds),
            "--db",
            str(workdir / f"{name}.db"),
        ]
        # The server's log (waitress warns about queue depth under load) goes to a file, so
        # it neither floods the table nor blocks on a full pipe.
        log_path = workdir / f"{name}.log"
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=str(REPO),
            )
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("READY "):
            process.kill()
            process.wait()
            detail = log_path.read_text(encoding="utf-8").strip()[-2000:]
            raise SystemExit(f"bench: the {name} server did not start:\n{detail}")
        return cls(name, process, line.split(" ", 1)[1])

    def rss_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the server process in MB."""
        values: dict[str, float] = {}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024  # kB -> MB
        return values["VmRSS"], values["VmHWM"]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if not 200 <= response.status < 300:
            raise SystemExit(f"bench: setup {method} {path} answered {response.status}: {data!r}")
        result: dict[str, Any] = json.loads(data)
        return result
    finally:
        connection.close()


@dataclass
class Target:
    """One thing to measure: a request shape, and the totals over all rounds."""

    label: str
    server: ServerProcess
    method: str
    path: str
    #: "plain" | "bearer" | "refresh" | "login"
    mode: str
    #: bearer: [access token]; refresh: one refresh token per client connection
    tokens: list[str] = field(default_factory=list)
    #: refresh: a fresh set of `tokens` for each round (see the module docstring)
    token_sets: list[list[str]] = field(default_factory=list)
    body: str = ""
    requests: int = 0
    seconds: float = 0.0
    non_2xx: int = 0
    server_errors: int = 0
    socket_errors: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class RoundResult:
    requests: int
    seconds: float
    non_2xx: int
    server_errors: int
    socket_errors: int


# wrk's Lua: one state per wrk thread. With one connection per thread, request() is called only
# after the previous response, so the refresh chain per thread is strict (no token sent twice).
WRK_SCRIPT = r"""
-- generated by bench/server.py
local mode, path, body = %(mode)s, %(path)s, %(body)s
local initial = { %(tokens)s }
local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("token", #initial > 0 and initial[((counter - 1) %% #initial) + 1] or "")
  table.insert(threads, thread)
end

function init(args)
  non2xx, fivexx = 0, 0
end

function request()
  if mode == "bearer" then
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
  elseif mode == "refresh" then
    return wrk.format("POST", path, { ["Content-Type"] = "application/json" },
                      '{"refreshToken":"' .. token .. '"}')
  elseif mode == "login" then
    return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
  end
  return wrk.format("GET", path)
end

-- Defined for every target (not only /refresh) so the client pays the same parsing cost on all.
function response(status, headers, resp_body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if status >= 500 then fivexx = fivexx + 1 end
  if mode == "refresh" and status == 200 then
    local t = resp_body:match('"refreshToken"%%s*:%%s*"([^"]+)"')
    if t then token = t end
  end
end

function done(summary, latency, requests)
  local n, f = 0, 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("non2xx")
    f = f + thread:get("fivexx")
  end
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
                         n, f, e.connect + e.read + e.write + e.timeout))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal of ASCII text is a valid Lua literal


def run_wrk(target: Target, seconds: float, connections: int, workdir: Path) -> RoundResult:
    script = workdir / "bench.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "mode": lua_string(target.mode),
            "path": lua_string(target.path),
            "body": lua_string(target.body),
            "tokens": ", ".join(lua_string(t) for t in target.tokens),
        },
        encoding="utf-8",
    )
    command = [
        "wrk",
        f"--threads={connections}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=30s",
        f"--script={script}",
        target.server.url + target.path,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((x for x in completed.stdout.splitlines() if x.startswith("BENCH ")), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    requests, micros, non_2xx, server_errors, socket_errors = (int(x) for x in line.split()[1:])
    return RoundResult(requests, micros / 1e6, non_2xx, server_errors, socket_errors)


def run_python(target: Target, seconds: float, connections: int, workdir: Path) -> RoundResult:
    """Fallback load generator: one keep-alive HTTP/1.1 connection per thread."""
    parts = urlsplit(target.server.url)
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()
    totals = {"requests": 0, "non_2xx": 0, "server_errors": 0, "socket_errors": 0}
    tokens = [target.tokens[i % len(target.tokens)] if target.tokens else "" for i in range(connections)]

    def worker(index: int) -> None:
        counts = dict.fromkeys(totals, 0)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while time.perf_counter() < deadline:
            headers: dict[str, str] = {}
            body: str | None = None
            if target.mode == "bearer":
                headers["Authorization"] = f"Bearer {tokens[index]}"
            elif target.mode == "refresh":
                headers["Content-Type"] = "application/json"
                body = json.dumps({"refreshToken": tokens[index]})
            elif target.mode == "login":
                headers["Content-Type"] = "application/json"
                body = target.body
            try:
                connection.request(target.method, target.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                counts["socket_errors"] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            counts["requests"] += 1
            if not 200 <= response.status < 300:
                counts["non_2xx"] += 1
            if response.status >= 500:
                counts["server_errors"] += 1
            if target.mode == "refresh" and response.status == 200:
                tokens[index] = json.loads(data)["refreshToken"]
        connection.close()
        with lock:
            for key, value in counts.items():
                totals[key] += value

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    return RoundResult(
        totals["requests"],
        elapsed,
        totals["non_2xx"],
        totals["server_errors"],
        totals["socket_errors"],
    )


def measure(target: Target, seconds: float, args: argparse.Namespace, workdir: Path) -> None:
    runner = run_wrk if args.generator == "wrk" else run_python
    if target.token_sets:
        target.tokens = target.token_sets.pop()
    result = runner(target, seconds, args.connections, workdir)
    target.requests += result.requests
    target.seconds += result.seconds
    target.non_2xx += result.non_2xx
    target.server_errors += result.server_errors
    target.socket_errors += result.socket_errors


def bcrypt_hash_seconds(rounds: int, samples: int = 3) -> float:
    import bcrypt

    times = []
    for _ in range(samples):
        started = time.perf_counter()
        bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def register_and_login(server: ServerProcess, sessions: int) -> tuple[str, list[dict[str, Any]]]:
    tag = uuid.uuid4().hex[:10]
    email = f"bench-{tag}@example.com"
    user = {"username": f"bench-{tag}", "email": email, "password": PASSWORD, "fullName": "Bench"}
    call(server.url, "POST", "/register", user)
    credentials = {"email": email, "password": PASSWORD}
    # Logins are bcrypt-bound: run them on as many threads as the server has cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        logins = list(pool.map(lambda _: call(server.url, "POST", "/login", credentials), range(sessions)))
    return email, logins


def print_table(rows: list[list[str]], out: IO[str]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(w) if i and i < 6 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
        if index == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tokenconform-bench-"))
    servers: list[ServerProcess] = []
    try:
        reference = ServerProcess.start("reference", args, workdir)
        servers.append(reference)
        bare = ServerProcess.start("bare", args, workdir)
        servers.append(bare)
        rss_start = reference.rss_mb()[0]

        # /refresh: one session per client connection and round, so no two connections share a
        # token family and no round inherits a chain broken by the previous round's stop.
        email, logins = register_and_login(reference, 1 + args.rounds * args.connections)
        refresh_sets = [
            [login["refreshToken"] for login in logins[start : start + args.connections]]
            for start in range(1, len(logins), args.connections)
        ]
        login_body = json.dumps({"email": email, "password": PASSWORD})
        targets = [
            Target("GET /bare (limit)", bare, "GET", "/bare", "plain"),
            Target(
                "GET /bare-verify",
                bare,
                "GET",
                "/bare-verify",
                "bearer",
                [call(bare.url, "GET", "/bare-token")["token"]],
            ),
            Target("GET /profile", reference, "GET", "/profile", "bearer", [logins[0]["accessToken"]]),
            Target(
                "POST /refresh",
                reference,
                "POST",
                "/refresh",
                "refresh",
                token_sets=refresh_sets,
            ),
            Target("POST /login", reference, "POST", "/login", "login", body=login_body),
        ]
        print(
            f"bench: {args.rounds} interleaved rounds x {args.round_seconds:g} s per target, "
            f"generator {args.generator}, {args.connections} keep-alive connections",
            file=sys.stderr,
        )
        for number in range(1, args.rounds + 1):
            for target in targets:
                # A login takes about a second under 8-way load at cost 12, and the requests in
                # flight when wrk stops are not counted: a longer round keeps that bias small.
                seconds = max(args.round_seconds, LOGIN_MIN_SECONDS) if target.mode == "login" else args.round_seconds
                measure(target, seconds, args, workdir)
            print(f"bench: round {number}/{args.rounds} done", file=sys.stderr)

        # Keep loading /profile until the reference server has answered --rss-requests requests.
        profile = next(t for t in targets if t.path == "/profile")
        answered = sum(t.requests for t in targets if t.server is reference) + len(logins) + 1
        rss_load = Target("GET /profile (RSS)", reference, "GET", "/profile", "bearer", profile.tokens)
        rss_deadline = time.monotonic() + args.rss_max_seconds
        while answered < args.rss_requests and time.monotonic() < rss_deadline:
            remaining = args.rss_requests - answered
            seconds = min(10.0, max(1.0, remaining / max(profile.rate, 1.0)))
            before = rss_load.requests
            measure(rss_load, seconds, args, workdir)
            answered += rss_load.requests - before
        rss_end, rss_peak = reference.rss_mb()
        bare_rss = bare.rss_mb()[0]
        hash_seconds = bcrypt_hash_seconds(args.bcrypt_rounds)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    limit = targets[0].rate
    rows = [["target", "req/s", "x bare", "requests", "non-2xx", "5xx", "socket err", "note"]]
    for target in targets:
        note = ""
        if target.path == "/profile":
            verdict = "met" if target.rate >= PROFILE_GOAL * limit else "NOT met"
            note = f"goal >= {PROFILE_GOAL} x bare: {verdict}"
        elif target.path == "/bare-verify":
            note = "calibration: bare + one PyJWT HS256 verify of a same-size token (issue 2: 0.64 x)"
        elif target.path == "/login":
            note = (
                f"one bcrypt hash at cost {args.bcrypt_rounds}: {hash_seconds * 1000:.0f} ms "
                f"(= {1 / hash_seconds:.1f} hashes/s per core)"
            )
        rows.append(
            [
                target.label,
                f"{target.rate:.0f}" if target.rate >= 100 else f"{target.rate:.1f}",
                f"{target.rate / limit:.3f}" if limit else "-",
                str(target.requests),
                str(target.non_2xx),
                str(target.server_errors),
                str(target.socket_errors),
                note,
            ]
        )
    out = sys.stdout
    generator = (
        f"wrk ({subprocess.run(['wrk', '--version'], capture_output=True, text=True).stdout.split()[1]}, Lua script)"
        if args.generator == "wrk"
        else "python threads + http.client" + ("" if shutil.which("wrk") else " (fallback: wrk not found)")
    )
    out.write(
        f"load generator : {generator}, {args.connections} connections, keep-alive, loopback\n"
        f"server         : ReferenceServer (waitress), {args.threads} threads, "
        f"bcrypt cost {args.bcrypt_rounds}; the bare route runs on the same server config\n"
        f"schedule       : {args.rounds} interleaved rounds x {args.round_seconds:g} s per target, "
        f"{os.cpu_count()} CPUs\n\n"
    )
    print_table(rows, out)
    rss_verdict = "met" if rss_end < RSS_GOAL_MB else "NOT met"
    out.write(
        f"\nRSS of the reference server after {answered} requests: {rss_end:.1f} MB "
        f"(peak {rss_peak:.1f} MB, {rss_start:.1f} MB at start; goal < {RSS_GOAL_MB:.0f} MB: "
        f"{rss_verdict}); bare server: {bare_rss:.1f} MB\n"
    )
    failures = sum(t.non_2xx + t.server_errors + t.socket_errors for t in targets) + (
        rss_load.non_2xx + rss_load.socket_errors
    )
    if rss_load.non_2xx or rss_load.socket_errors:
        out.write(f"RSS phase: {rss_load.non_2xx} non-2xx, {rss_load.socket_errors} socket errors\n")
    return 1 if failures else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8, help="server threads (default 8)")
    parser.add_argument("--bcrypt-rounds", type=int, default=12, help="bcrypt cost (default 12)")
    parser.add_argument("--connections", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--round-seconds", type=float, default=3.0, help="seconds per target per round")
    parser.add_argument("--rss-requests", type=int, default=100_000, help="requests before reading RSS")
    parser.add_argument("--rss-max-seconds", type=float, default=180.0, help="time cap of the RSS phase")
    parser.add_argument(
        "--generator",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator (default: wrk when installed)",
    )
    # Internal: how the parent starts each server subprocess.
    parser.add_argument("--serve", choices=["reference", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.threads, args.bcrypt_rounds, args.db)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
