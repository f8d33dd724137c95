"""``tokenconform serve``: run the reference server in the foreground until Ctrl-C or SIGTERM.

Settings come from the seed's env vars (``Settings.from_env``); flags override them. A bad
setting is reported on one line naming the variable or flag at fault, with exit status 2 and no
traceback, the way ``argparse`` reports a bad flag.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .config import ConfigError, Settings

__all__ = ["build_parser", "main"]

PROG = "tokenconform serve"

#: flag destination -> Settings field
_OVERRIDES = {
    "host": "host",
    "port": "port",
    "db": "db_path",
    "access_ttl": "access_ttl",
    "refresh_ttl": "refresh_ttl",
    "bcrypt_rounds": "bcrypt_rounds",
    "delivery": "delivery",
    "cookie_prefix": "cookie_prefix",
    "trusted_proxy_hops": "trusted_proxy_hops",
    "connection_limit": "connection_limit",
    "channel_timeout": "channel_timeout",
    "workers": "workers",
}


#: Settings field -> its flag, for error messages
_FLAGS = {field: "--" + dest.replace("_", "-") for dest, field in _OVERRIDES.items()}
_FLAGS["database_url"] = "--db"  # --db takes a SQLite path or a postgresql:// URL


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Serve the tokenconform reference API. Settings are read from the environment "
            "(ACCESS_TOKEN_SECRET, REFRESH_TOKEN_SECRET, ACCESS_TOKEN_EXPIRY, ...); flags override them."
        ),
    )
    # Values stay strings: Settings.from_env parses and validates them, so a bad value gets the
    # same one-line error whether it came from a flag or an env var.
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", help="port to bind; 0 picks a free one (default 8000)")
    parser.add_argument(
        "--db",
        help="a SQLite database file [DATABASE_PATH] (default tokenconform.db), or a postgresql:// URL "
        "[DATABASE_URL] for the PostgreSQL store (pip install 'tokenconform[postgres]')",
    )
    parser.add_argument("--access-ttl", help="access token lifetime: 15m, 2s, 900 ... [ACCESS_TOKEN_EXPIRY]")
    parser.add_argument("--refresh-ttl", help="refresh token lifetime: 7d, 8s ... [REFRESH_TOKEN_EXPIRY]")
    parser.add_argument("--bcrypt-rounds", help="bcrypt cost factor, 4..31 [BCRYPT_ROUNDS] (default 12)")
    parser.add_argument(
        "--delivery",
        help="where tokens go: body, cookie or both [TOKEN_DELIVERY] (default both)",
    )
    parser.add_argument("--cookie-prefix", help='cookie name prefix: "" or "__Host-" [COOKIE_PREFIX]')
    parser.add_argument(
        "--trusted-proxy-hops",
        help="reverse proxies in front that append to X-Forwarded-For; the per-client login limit "
        "then counts the address they saw. 0 ignores the header [TRUSTED_PROXY_HOPS] (default 0)",
    )
    parser.add_argument(
        "--connection-limit",
        help="open connections accepted before accepting pauses [SERVER_CONNECTION_LIMIT] (default 1000)",
    )
    parser.add_argument(
        "--channel-timeout",
        help="a connection must complete a request within this: 30s, 1m ... [SERVER_CHANNEL_TIMEOUT] (default 30s)",
    )
    parser.add_argument(
        "--workers",
        help="server processes sharing the listening socket, each with --threads threads; more than 1 "
        "is meant for a postgresql:// database [SERVER_WORKERS] (default 1)",
    )
    parser.add_argument(
        "--mock",
        action="store_true",
        help="mock mode for client teams: control API under /_mock/ (clock, expiry, faults, events); loopback only",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="generate random throw-away token secrets (tokens die with the process); never in production",
    )
    return parser


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tokenconform serve``; returns the exit status (0 after Ctrl-C/SIGTERM, 2 on bad config)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    overrides: dict[str, Any] = {field: getattr(args, dest) for dest, field in _OVERRIDES.items()}
    if args.db is not None:
        from .engines import is_postgres_url

        # One flag for either engine; given, it wins over both DATABASE_PATH and DATABASE_URL.
        if is_postgres_url(args.db):
            overrides["db_path"], overrides["database_url"] = None, args.db
        else:
            overrides["database_url"] = ""
    try:
        settings = Settings.dev(**overrides) if args.dev else Settings.from_env(**overrides)
    except ConfigError as exc:
        # An overridden field is named by its flag, an env var by its own name.
        flag = _FLAGS.get(exc.variable)
        return _error(f"{flag}: {exc.message}" if flag else str(exc))
    if args.dev:
        print(
            f"{PROG}: --dev: using random throw-away token secrets; every token dies with this process",
            file=sys.stderr,
        )

    # Imported late: the server pulls in bottle, waitress and the domain, which --help and a
    # config error don't need.
    from .access_log import AccessLog, describe_routes
    from .docs_page import serve_app
    from .engines import describe
    from .server import ReferenceServer
    from .store import StoreUnavailable

    _raise_open_files_limit(settings.connection_limit)
    if settings.workers > 1:
        return _serve_workers(settings, mock=args.mock)
    app: Any = None
    try:
        app = serve_app(settings, mock=args.mock)  # /openapi.yaml, /openapi.json, /docs (+ /_mock/ with --mock)
        server = ReferenceServer(settings, app=AccessLog(app)).start()
    except (OSError, sqlite3.Error, StoreUnavailable) as exc:
        if app is not None:
            app.close()
        return _error(_startup_error(exc, settings, describe(settings.database)))

    stopping = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stopping.set())
    try:
        print(f"tokenconform reference server listening on {server.url}", flush=True)
        # The routes, so an operator sees what is exposed (the OpenAPI document describing them
        # is spec/openapi.yaml; the server does not serve it).
        print(f"{PROG}: serving {', '.join(describe_routes(app))}", file=sys.stderr, flush=True)
        print(f"{PROG}: logging each request to stderr as: address method path status ms", file=sys.stderr)
        print(f"{PROG}: Ctrl-C to stop", file=sys.stderr, flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        server.stop()
        app.close()
    return 0


def _startup_error(exc: BaseException, settings: Settings, database: str) -> str:
    """One line for a failure to start: the address that cannot be bound, or the database."""
    if isinstance(exc, OSError):
        return f"cannot serve on {settings.host}:{settings.port}: {exc.strerror or exc}"
    detail = str(exc)
    # The PostgreSQL store names its (password-free) URL itself.
    return detail if detail.startswith(database) else f"{database}: {detail}"


def _serve_workers(settings: Settings, *, mock: bool) -> int:
    """``--workers N`` (N > 1): prepare the database, bind once, fork the workers (workers.py)."""
    if mock:
        return _error("--mock runs in one process (its clock and faults live in memory): drop --workers")
    if not hasattr(os, "fork"):
        return _error("--workers needs os.fork (POSIX); run one process per port instead")
    from .docs_page import serve_app
    from .engines import describe, prepare_database
    from .server import listening_socket
    from .store import StoreUnavailable
    from .workers import run_workers

    try:
        # Once, before forking: a bad database is reported once, and the workers find the schema
        # ready. Nothing here leaves a thread or connection behind to be copied by fork().
        prepare_database(settings.database)
        sock = listening_socket(settings.host, settings.port)
    except (OSError, sqlite3.Error, StoreUnavailable) as exc:
        return _error(_startup_error(exc, settings, describe(settings.database)))
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"tokenconform reference server listening on http://{shown}:{port}", flush=True)
    print(f"{PROG}: logging each request to stderr as: address method path status ms", file=sys.stderr)
    print(f"{PROG}: Ctrl-C to stop", file=sys.stderr, flush=True)

    def log(message: str) -> None:
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)

    return run_workers(settings, sock, lambda: serve_app(settings), log=log)


def _raise_open_files_limit(connection_limit: int) -> None:
    """Raise the soft limit on open files towards what ``connection_limit`` connections need.

    Each waitress connection holds a socket and may buffer to temporary files; a soft limit of
    1024 (common) would make accept() fail with EMFILE well below a limit of 1000 connections.
    Only the soft limit moves, never past the hard one; where that is not possible (Windows, a
    container's cap) the server runs with what it has.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    wanted = 2 * connection_limit + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
