"""The wrk measurement of bench/server.py on each storage engine: SQLite and PostgreSQL, 1 and N processes.

Not a test: run it by hand on an idle machine (see bench/README.md).

    eval "$(bash scripts/postgres.sh start)"      # or --postgres postgresql://...
    python bench/engines.py                       # 3 interleaved rounds x 3 s, N = 2 processes
    python bench/engines.py --workers 4 --rounds 5

Each configuration is one `tokenconform serve` (python -m tokenconform_server), with `--workers N`
for the multi-process ones, on a fresh database: a SQLite file in a temporary directory, or a
PostgreSQL schema of its own made and dropped here. The targets and the load are bench/server.py's
(its wrk Lua script and its Python fallback, imported from it): GET /profile with one access
token, POST /refresh chaining each connection's own token, POST /login with one account.
Rounds are interleaved over configurations and targets, so machine noise hits all alike; the
table gives req/s and the ratio to SQLite with one process. Everything runs on this machine's
cores, the PostgreSQL server and wrk included. Exit status 0 when every request got a 2xx.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _process import ServerProcess, server_env  # noqa: E402
from server import PASSWORD, Target, measure, print_table, register_and_login  # noqa: E402


@dataclass
class Config:
    label: str
    engine: str
    workers: int
    database: str = ""
    server: ServerProcess | None = None


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"] + [("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def postgres_schema(base: str, action: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        if action == "create":
            conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # hex name made here
        else:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("TOKENCONFORM_TEST_POSTGRES_URL", ""), help="server URL")
    parser.add_argument("--workers", type=int, default=2, help="N, the processes of the multi-process runs")
    parser.add_argument("--threads", type=int, default=8, help="threads per server process (default 8)")
    parser.add_argument("--bcrypt-rounds", type=int, default=4, help="bcrypt cost (default 4: storage, not bcrypt)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--round-seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    args.generator = "wrk" if shutil.which("wrk") else "python"
    if not args.postgres:
        parser.error("no PostgreSQL: give --postgres URL or set TOKENCONFORM_TEST_POSTGRES_URL")
    print(f"load generator: {args.generator}; {args.connections} connections; {args.threads} threads per process")

    workdir = Path(tempfile.mkdtemp(prefix="tokenconform-bench-"))
    configs = [
        Config("sqlite x1", "sqlite", 1),
        Config(f"sqlite x{args.workers}", "sqlite", args.workers),
        Config("postgres x1", "postgres", 1),
        Config(f"postgres x{args.workers}", "postgres", args.workers),
    ]
    schemas: list[str] = []
    env = server_env(BCRYPT_ROUNDS=str(args.bcrypt_rounds), SERVER_THREADS=str(args.threads))
    env["LOGIN_MAX_FAILURES"] = "1000000"
    targets: dict[str, list[Target]] = {}
    try:
        for n, config in enumerate(configs):
            if config.engine == "sqlite":
                config.database = str(workdir / f"{n}.db")
            else:
                schema = "bench_" + uuid.uuid4().hex[:12]
                postgres_schema(args.postgres, "create", schema)
                schemas.append(schema)
                config.database = with_schema(args.postgres, schema)
            # The string as it is: Path() would fold a URL's "//".
            config.server = ServerProcess(config.database, env, "--workers", str(config.workers))  # type: ignore[arg-type]
            email, logins = register_and_login(config.server, 1 + args.rounds * args.connections)  # type: ignore[arg-type]
            refresh_sets = [
                [login["refreshToken"] for login in logins[start : start + args.connections]]
                for start in range(1, len(logins), args.connections)
            ]
            body = json.dumps({"email": email, "password": PASSWORD})
            server: object = config.server
            targets[config.label] = [
                Target(
                    f"{config.label} GET /profile",
                    server,
                    "GET",
                    "/profile",
                    "bearer",  # type: ignore[arg-type]
                    tokens=[logins[0]["accessToken"]],
                ),
                Target(
                    f"{config.label} POST /refresh",
                    server,
                    "POST",
                    "/refresh",
                    "refresh",  # type: ignore[arg-type]
                    token_sets=refresh_sets,
                ),
                Target(f"{config.label} POST /login", server, "POST", "/login", "login", body=body),  # type: ignore[arg-type]
            ]
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds}", flush=True)
            for kind in range(3):
                for config in configs:
                    measure(targets[config.label][kind], args.round_seconds, args, workdir)
        rows = [["target", "req/s", "x sqlite x1", "requests", "non-2xx", "5xx", "socket err"]]
        failed = False
        for kind in range(3):
            base = targets[configs[0].label][kind].rate
            for config in configs:
                t = targets[config.label][kind]
                failed |= bool(t.non_2xx or t.server_errors or t.socket_errors)
                rows.append(
                    [
                        t.label,
                        f"{t.rate:.0f}",
                        f"{t.rate / base:.2f}",
                        str(t.requests),
                        str(t.non_2xx),
                        str(t.server_errors),
                        str(t.socket_errors),
                    ]
                )
        print_table(rows, sys.stdout)
        return 1 if failed else 0
    finally:
        for config in configs:
            if config.server is not None:
                config.server.stop()
        for schema in schemas:
            postgres_schema(args.postgres, "drop", schema)
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
