"""The reference server's settings: one frozen dataclass, read from the seed's env vars.

Precedence is flag over env var over default: ``tokenconform serve`` passes its flags as
``**overrides`` to :meth:`Settings.from_env`. Every error names the variable (or field) at fault,
so the CLI can print one line and exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConfigError",
    "Settings",
    "generate_secret",
    "parse_duration",
]


class ConfigError(ValueError):
    """A setting is missing or invalid; ``variable`` names the env var (or field) at fault."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(variable, message)
        #: the env var (``ACCESS_TOKEN_SECRET``) or, for an override, the field (``access_ttl``)
        self.variable = variable
        self.message = message

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")


def parse_duration(value: str | int, *, name: str = "duration") -> int:
    """Parse ``"15m"``, ``"7d"``, ``"2s"``, ``"1h"``, ``"900"`` (seconds) or an int into seconds.

    The seed's ``expiresIn`` values (vercel/ms syntax) are used in this subset: a whole number
    with an optional unit s, m, h, d or w. ``name`` goes into the :class:`ConfigError`.
    """
    if isinstance(value, bool):  # bool is an int; True seconds is always a mistake
        raise ConfigError(name, f"expected a duration such as 15m, 7d, 2s or 900, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(name, f"a duration cannot be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ConfigError(name, f"expected a duration such as 15m, 7d, 2s or 900, got {value!r}")
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise ConfigError(name, f"expected a duration such as 15m, 7d, 2s or 900, got {value!r}")
    number, unit = match.groups()
    return int(number) * _UNITS[unit or "s"]


def generate_secret() -> str:
    """A fresh random secret of 48 bytes of entropy (64 URL-safe characters)."""
    return secrets.token_urlsafe(48)


# RFC 7518 §3.2: "A key of the same size as the hash output (for instance, 256 bits for "HS256")
# or larger MUST be used with this algorithm."  Only HMAC algorithms: the two secrets are
# symmetric keys, and pinning the family rules out algorithm-confusion attacks (RFC 8725 §3.1).
_MIN_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_DELIVERIES = ("body", "cookie", "both")
_COOKIE_PREFIXES = ("", "__Host-")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the reference server is configured by (see docs/CONTRACTS.md).

    Keyword-only, so the two required secrets can sit in the contract's field order.
    """

    host: str = "127.0.0.1"
    #: 0 binds an ephemeral port
    port: int = 8000
    #: SQLite database file [DATABASE_PATH]; used unless ``database_url`` is set
    db_path: str = "tokenconform.db"
    #: a ``postgresql://`` URL selecting the PostgreSQL store instead of SQLite [DATABASE_URL];
    #: kept out of repr, since it may carry a password
    database_url: str = field(default="", repr=False)
    #: secret for access tokens [ACCESS_TOKEN_SECRET]; at least 32 bytes
    access_secret: str = field(repr=False)
    #: secret for refresh tokens [REFRESH_TOKEN_SECRET]; at least 32 bytes, differs from the above
    refresh_secret: str = field(repr=False)
    #: access token lifetime in seconds [ACCESS_TOKEN_EXPIRY], seed default 15m
    access_ttl: int = 900
    #: refresh token lifetime in seconds, renewed at each rotation [REFRESH_TOKEN_EXPIRY], 7d
    refresh_ttl: int = 604800
    #: absolute cap on a session's life, rotation never extends past it [SESSION_MAX_AGE], 30d
    session_max_age: int = 2592000
    #: bcrypt cost factor [BCRYPT_ROUNDS]
    bcrypt_rounds: int = 12
    #: ``iss`` of every token, verified on decode [TOKEN_ISSUER]
    issuer: str = "tokenconform-reference"
    #: ``aud`` of every token, verified on decode [TOKEN_AUDIENCE]
    audience: str = "tokenconform-reference"
    #: the only JWS algorithm issued and accepted
    algorithm: str = "HS256"
    #: where tokens go: "body", "cookie" or "both" [TOKEN_DELIVERY]
    delivery: str = "both"
    #: "" or "__Host-" [COOKIE_PREFIX]
    cookie_prefix: str = ""
    #: failed logins per account key allowed in the window before 429 [LOGIN_MAX_FAILURES]
    login_max_failures: int = 20
    #: the throttling window in seconds [LOGIN_FAILURE_WINDOW]
    login_failure_window: int = 300
    #: failed logins per client, any account, allowed in the window before 429: password
    #: spraying (see throttle.py) [LOGIN_MAX_CLIENT_FAILURES]
    login_max_client_failures: int = 100
    #: reverse proxies in front of the server that append to X-Forwarded-For; 0 ignores the
    #: header and the client is the TCP peer [TRUSTED_PROXY_HOPS]
    trusted_proxy_hops: int = 0
    #: WSGI worker threads [SERVER_THREADS]
    threads: int = 8
    #: server processes sharing the listening socket (``serve --workers``); more than one needs
    #: a database every process can share safely, PostgreSQL above all [SERVER_WORKERS]
    workers: int = 1
    #: request bodies over this get 413
    max_body_bytes: int = 65536
    #: open connections waitress accepts before it stops accepting; idle ones count, so this is
    #: what an idle-connection flood must exhaust (waitress's default is 100) [SERVER_CONNECTION_LIMIT]
    connection_limit: int = 1000
    #: seconds a connection may go without completing a request (idle keep-alive, or a request
    #: trickling in) before it is closed; waitress's default is 120 [SERVER_CHANNEL_TIMEOUT]
    channel_timeout: int = 30

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _validate(f.name, getattr(self, f.name), _ENV_BY_FIELD.get(f.name, f.name))
        if self.algorithm not in _MIN_SECRET_BYTES:
            raise ConfigError(
                "algorithm",
                f"unsupported algorithm {self.algorithm!r}; use one of {', '.join(_MIN_SECRET_BYTES)}",
            )
        minimum = _MIN_SECRET_BYTES[self.algorithm]
        for name in ("access_secret", "refresh_secret"):
            size = len(getattr(self, name).encode("utf-8"))
            if size < minimum:
                raise ConfigError(
                    _ENV_BY_FIELD[name],
                    f"secret is {size} bytes; {self.algorithm} needs at least {minimum} "
                    "(RFC 7518 §3.2). Generate one with: "
                    "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                )
        if self.access_secret == self.refresh_secret:
            # Separate keys keep one kind of token from ever verifying as the other, even before
            # the `typ` check (RFC 8725 §3.12 "Use Mutually Exclusive Validation Rules").
            raise ConfigError("REFRESH_TOKEN_SECRET", "must differ from ACCESS_TOKEN_SECRET")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
        """Read the seed's env vars from ``environ``; ``overrides`` (field names) win over them.

        An override of ``None`` is ignored, so argparse defaults can be passed straight through.
        Raises :class:`ConfigError` naming the env var (or overridden field) at fault, including
        for a missing or too-short secret.
        """
        unknown = set(overrides) - _FIELD_NAMES
        if unknown:
            raise ConfigError(sorted(unknown)[0], "no such setting")
        values: dict[str, Any] = {}
        #: field -> the name its value came from (env var, or the field name for an override)
        sources: dict[str, str] = {}
        for name, env in _ENV_BY_FIELD.items():
            raw = environ.get(env)
            if raw is not None and raw != "":
                values[name], sources[name] = _parse(name, raw, env), env
        for name, raw in overrides.items():
            if raw is not None:
                values[name], sources[name] = _parse(name, raw, name), name
        for name in ("access_secret", "refresh_secret"):
            if name not in values:
                raise ConfigError(
                    _ENV_BY_FIELD[name],
                    "is not set; the server refuses to start without both token secrets "
                    "(use --dev for random throw-away secrets)",
                )
        for name, value in values.items():
            _validate(name, value, sources[name])
        try:
            return cls(**values)
        except ConfigError as exc:
            # __post_init__ names the env var; name the override instead when that was the source.
            field_name = _FIELD_BY_ENV.get(exc.variable, exc.variable)
            source = sources.get(field_name, exc.variable)
            if source == exc.variable:
                raise
            raise ConfigError(source, exc.message) from None

    @classmethod
    def dev(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
        """Like :meth:`from_env`, but with freshly generated random secrets (``serve --dev``).

        Tokens die with the process: never use this in production. The caller says so.
        """
        overrides.setdefault("access_secret", generate_secret())
        overrides.setdefault("refresh_secret", generate_secret())
        return cls.from_env(environ, **overrides)

    @classmethod
    def for_testing(cls, **overrides: Any) -> Settings:
        """Settings for tests: random 48-byte secrets, bcrypt cost 4, a new temporary SQLite
        database (unless ``db_path`` or ``database_url`` is given), 127.0.0.1 on port 0, and
        throttling generous enough that only a test aiming at it trips it.
        """
        values: dict[str, Any] = {
            "access_secret": generate_secret(),
            "refresh_secret": generate_secret(),
            "bcrypt_rounds": 4,
            "port": 0,
            "host": "127.0.0.1",
            "login_max_failures": 1000,
            "login_max_client_failures": 100_000,
        }
        values.update(overrides)
        if "db_path" not in values and not values.get("database_url"):
            # Only when the caller gives none; under this process's scratch root, removed at exit
            # (a copy made by replace() may outlive this object, so nothing smaller can own it).
            values["db_path"] = os.path.join(tempfile.mkdtemp(dir=_scratch_root()), "tokenconform.db")
        return cls(**values)

    @property
    def database(self) -> str:
        """What the store opens: ``database_url`` when set, else the SQLite file ``db_path``."""
        return self.database_url or self.db_path

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


#: field -> the seed's (or our) env var name
_ENV_BY_FIELD: dict[str, str] = {
    "db_path": "DATABASE_PATH",
    "database_url": "DATABASE_URL",
    "access_secret": "ACCESS_TOKEN_SECRET",
    "refresh_secret": "REFRESH_TOKEN_SECRET",
    "access_ttl": "ACCESS_TOKEN_EXPIRY",
    "refresh_ttl": "REFRESH_TOKEN_EXPIRY",
    "session_max_age": "SESSION_MAX_AGE",
    "bcrypt_rounds": "BCRYPT_ROUNDS",
    "issuer": "TOKEN_ISSUER",
    "audience": "TOKEN_AUDIENCE",
    "delivery": "TOKEN_DELIVERY",
    "cookie_prefix": "COOKIE_PREFIX",
    "login_max_failures": "LOGIN_MAX_FAILURES",
    "login_failure_window": "LOGIN_FAILURE_WINDOW",
    "login_max_client_failures": "LOGIN_MAX_CLIENT_FAILURES",
    "trusted_proxy_hops": "TRUSTED_PROXY_HOPS",
    "threads": "SERVER_THREADS",
    "workers": "SERVER_WORKERS",
    "connection_limit": "SERVER_CONNECTION_LIMIT",
    "channel_timeout": "SERVER_CHANNEL_TIMEOUT",
}
_FIELD_BY_ENV = {env: name for name, env in _ENV_BY_FIELD.items()}
_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Settings))
_DURATIONS = frozenset({"access_ttl", "refresh_ttl", "session_max_age", "login_failure_window", "channel_timeout"})
_INTS = frozenset(
    {
        "port",
        "bcrypt_rounds",
        "login_max_failures",
        "login_max_client_failures",
        "trusted_proxy_hops",
        "threads",
        "workers",
        "max_body_bytes",
        "connection_limit",
    }
)


def _parse_int(value: str | int, name: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(name, f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {value!r}") from None


def _parse(field_name: str, raw: Any, name: str) -> Any:
    """Turn an env var string (or an override) into the field's type; ``name`` goes in errors."""
    if field_name in _DURATIONS:
        return parse_duration(raw, name=name)
    if field_name in _INTS:
        return _parse_int(raw, name)
    return raw


def _check_range(low: int, high: int | None = None) -> Callable[[Any, str], None]:
    def check(value: Any, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(name, f"expected an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(name, f"must be {bound}, got {value}")

    return check


def _check_choice(*choices: str) -> Callable[[Any, str], None]:
    def check(value: Any, name: str) -> None:
        if value not in choices:
            raise ConfigError(name, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")

    return check


def _check_text(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(name, f"expected a non-empty string, got {value!r}")


def _check_database_url(value: Any, name: str) -> None:
    # Lazy: engines imports store, which config must not need at import time.
    from .engines import POSTGRES_SCHEMES, is_postgres_url

    if not isinstance(value, str):
        raise ConfigError(name, f"expected a URL, got {value!r}")
    if value and not is_postgres_url(value):
        # Any other value is refused rather than guessed at: a SQLite file is DATABASE_PATH.
        raise ConfigError(name, f"expected a URL starting with {' or '.join(POSTGRES_SCHEMES)}")


_VALIDATORS: dict[str, Callable[[Any, str], None]] = {
    "access_secret": _check_text,
    "refresh_secret": _check_text,
    "host": _check_text,
    "port": _check_range(0, 65535),
    "db_path": _check_text,
    "database_url": _check_database_url,
    "access_ttl": _check_range(1),
    "refresh_ttl": _check_range(1),
    "session_max_age": _check_range(1),
    # bcrypt accepts cost factors 4..31.
    "bcrypt_rounds": _check_range(4, 31),
    "issuer": _check_text,
    "audience": _check_text,
    "algorithm": _check_text,
    "delivery": _check_choice(*_DELIVERIES),
    "cookie_prefix": _check_choice(*_COOKIE_PREFIXES),
    "login_max_failures": _check_range(1),
    "login_failure_window": _check_range(1),
    "login_max_client_failures": _check_range(1),
    "trusted_proxy_hops": _check_range(0, 32),
    "threads": _check_range(1, 1024),
    "workers": _check_range(1, 256),
    "max_body_bytes": _check_range(1),
    "connection_limit": _check_range(1, 100_000),
    "channel_timeout": _check_range(1),
}


def _validate(field_name: str, value: Any, name: str) -> None:
    _VALIDATORS[field_name](value, name)


_scratch: dict[int, str] = {}
_scratch_lock = threading.Lock()


def _scratch_root() -> str:
    """One directory per process for throw-away databases, removed when that process exits.

    Keyed by pid: a forked child inherits the parent's exit handlers and must not remove the
    parent's databases when it ends (nor use them as its own root).
    """
    pid = os.getpid()
    with _scratch_lock:
        root = _scratch.get(pid)
        if root is None or not os.path.isdir(root):
            root = tempfile.mkdtemp(prefix="tokenconform-")
            _scratch[pid] = root
            atexit.register(_remove_scratch, pid, root)
        return root


def _remove_scratch(pid: int, root: str) -> None:
    if os.getpid() == pid:
        shutil.rmtree(root, ignore_errors=True)
