"""One PostgreSQL database through a psycopg 3 connection pool, its schema, and its error mapping.

The base of :class:`~tokenconform_server.postgres_store.PostgresStore`, which holds the queries (the
split of :mod:`~tokenconform_server.sqlite_db` and :mod:`~tokenconform_server.sqlite_store`). Here:

- **The pool.** ``psycopg_pool.ConnectionPool`` with at most one connection per server thread, in
  autocommit mode: a single statement is its own transaction (one round trip), and a statement
  group that must be atomic runs in an explicit ``conn.transaction()``.
- **Errors.** A serialization failure or a deadlock (SQLSTATE 40001, 40P01) rolled the
  transaction back in full, so it is retried until ``retry_deadline``, then
  :class:`~tokenconform_server.store.StoreBusy`. No connection within ``pool_timeout`` (server down,
  every connection busy) is ``StoreBusy`` too. A lost connection is retried for reads only: a
  write whose connection died may have committed before the answer was lost, and running it
  again could, say, present a refresh token that its first run had already rotated, which is
  reuse. It is :class:`~tokenconform_server.store.StoreUnavailable` instead, as is every other
  database error (disk full, read-only, shut down...): callers answer 503 with Retry-After and
  fail closed, never 500. A broken connection is discarded by the pool when it is returned.
- **Schema.** :func:`migrate` creates and upgrades the schema in one transaction that first takes
  ``pg_advisory_xact_lock``: several processes starting at once queue on the lock, the first
  creates the tables, the others find ``tokenconform_schema.version`` current and change
  nothing. PostgreSQL's DDL is transactional, so a migration is applied whole or not at all.
  (``CREATE TABLE IF NOT EXISTS`` alone is not enough: two sessions running it at once can both
  pass the check and one then fails on the catalogue's unique index.)

The schema lives in the first schema of the connection's ``search_path``, so
``?options=-csearch_path%3Dname`` in the URL puts a server (or a test) in a schema of its own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from .engines import describe as redact
from .store import StoreBusy, StoreUnavailable

__all__ = ["SCHEMA_VERSION", "PostgresDatabase", "escape_nul", "migrate", "prepare", "unescape_nul"]

T = TypeVar("T")
Conn = psycopg.Connection[Any]

#: key of the advisory lock held while the schema is created or migrated ("tokncnfm")
_SCHEMA_LOCK = 0x746F6B6E636E666D

#: version -> its statements, applied in order to reach it. Never edit a released version: add one.
_MIGRATIONS: dict[int, Sequence[str]] = {
    1: (
        """CREATE TABLE users (
            id              TEXT PRIMARY KEY,
            username        TEXT NOT NULL,
            email           TEXT NOT NULL,
            full_name       TEXT NOT NULL,
            password_hash   TEXT NOT NULL,
            token_version   INTEGER NOT NULL DEFAULT 0,
            created_at      DOUBLE PRECISION NOT NULL
        )""",
        # Case-insensitive uniqueness, as SQLite's COLLATE NOCASE; lookups use the same lower().
        "CREATE UNIQUE INDEX users_username_key ON users (lower(username))",
        "CREATE UNIQUE INDEX users_email_key ON users (lower(email))",
        """CREATE TABLE sessions (
            id                   TEXT PRIMARY KEY,
            user_id              TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            user_agent           TEXT NOT NULL DEFAULT '',
            created_at           DOUBLE PRECISION NOT NULL,
            absolute_expires_at  DOUBLE PRECISION NOT NULL,
            current_jti_hash     TEXT NOT NULL,
            last_rotated_at      DOUBLE PRECISION,
            revoked_at           DOUBLE PRECISION,
            revoked_reason       TEXT
        )""",
        "CREATE INDEX sessions_by_user ON sessions (user_id) WHERE revoked_at IS NULL",
        """CREATE TABLE used_refresh_jtis (
            session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            jti_hash    TEXT NOT NULL,
            used_at     DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (session_id, jti_hash)
        )""",
        # One row per failed login per throttling key: a 32-byte hash and a time (issue 8).
        """CREATE TABLE throttle_failures (
            key_hash   BYTEA NOT NULL,
            failed_at  DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX throttle_failures_by_key ON throttle_failures (key_hash, failed_at)",
        "CREATE INDEX throttle_failures_by_time ON throttle_failures (failed_at)",
    ),
}
#: the schema version this code reads and writes
SCHEMA_VERSION = max(_MIGRATIONS)

# SQLSTATEs after which the whole transaction was rolled back and may simply run again.
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable)
#: a lost connection is retried this many times for a read (each try takes another connection)
_READ_RECONNECTS = 3


def migrate(conn: Conn) -> int:
    """Create or upgrade the schema on ``conn`` (autocommit); return the version found before.

    Safe to run from any number of processes at once (see the module docstring).
    """
    with conn.transaction():
        # Transaction-scoped: released by COMMIT or ROLLBACK, even if this process dies.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS tokenconform_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM tokenconform_schema").fetchone()
        found = int(row[0]) if row is not None and row[0] is not None else 0
        if found > SCHEMA_VERSION:
            # A newer server migrated this database; writing it with older rules could corrupt it.
            raise StoreUnavailable(
                f"the database schema is version {found}, newer than this server's {SCHEMA_VERSION}: upgrade the server"
            )
        for version in sorted(v for v in _MIGRATIONS if v > found):
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
        if found < SCHEMA_VERSION:
            conn.execute("DELETE FROM tokenconform_schema")
            conn.execute("INSERT INTO tokenconform_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
    return found


def prepare(url: str, *, connect_timeout: float = 10.0) -> None:
    """Connect once, migrate, disconnect: what ``serve --workers`` does before it forks, so a bad
    URL or an unreachable server is reported once, and no pool thread exists at fork time."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout))) as conn:
            migrate(conn)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"{redact(url)}: {_first_line(exc)}") from exc


# A NUL cannot be stored in PostgreSQL text. Usernames and names are client-chosen, and SQLite
# keeps them byte for byte, so they are escaped losslessly: "\" doubles, NUL becomes "\0".
def escape_nul(value: str) -> str:
    if "\x00" not in value and "\\" not in value:
        return value
    return value.replace("\\", "\\\\").replace("\x00", "\\0")


def unescape_nul(value: str) -> str:
    if "\\" not in value:
        return value
    out, chars = [], iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append("\x00" if nxt == "0" else nxt)
        else:
            out.append(char)
    return "".join(out)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PostgresDatabase:
    """Pooled connections to the database at ``url``, its schema created or migrated on open."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        pool_timeout: float = 10.0,
        retry_deadline: float = 30.0,
    ) -> None:
        #: the database URL, password removed (for messages)
        self.where = redact(url)
        self._retry_deadline = retry_deadline
        self._pool_timeout = pool_timeout
        self._closed = False
        prepare(url, connect_timeout=pool_timeout)
        self._pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            url,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max(1, pool_size),
            timeout=pool_timeout,
            name="tokenconform",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=pool_timeout)
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(f"{self.where}: no connection within {pool_timeout} s") from exc

    def _run(self, operation: Callable[[Conn], T], *, write: bool, transaction: bool = False) -> T:
        """Run ``operation`` on a pooled connection, in one transaction when ``transaction``.

        ``operation`` of a single statement needs no ``transaction``: autocommit makes the
        statement atomic on its own. ``write`` says whether it may change anything, which
        decides whether a lost connection may be retried (see the module docstring).
        """
        if self._closed:
            raise RuntimeError("store is closed")
        deadline = time.monotonic() + self._retry_deadline
        delay = 0.002
        reconnects = 0
        while True:
            try:
                with self._pool.connection(timeout=self._pool_timeout) as conn:
                    if transaction:
                        with conn.transaction():
                            return operation(conn)
                    return operation(conn)
            except psycopg_pool.PoolTimeout as exc:
                raise StoreBusy(f"{self.where}: no free connection within {self._pool_timeout} s") from exc
            except psycopg.IntegrityError:
                raise  # a constraint, e.g. a duplicate username: the caller's business
            except _RETRYABLE as exc:
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"{self.where}: {_first_line(exc)} (still, after retrying)") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.05)
            except psycopg.OperationalError as exc:
                lost = exc.sqlstate is None or exc.sqlstate.startswith("08") or exc.sqlstate in _SHUTDOWN
                if lost and not write and reconnects < _READ_RECONNECTS:
                    reconnects += 1
                    continue
                raise StoreUnavailable(f"{self.where}: {_first_line(exc)}") from exc
            except psycopg.DatabaseError as exc:
                # DataError, InternalError, NotSupportedError... and anything else the server
                # says: fail closed (503), never as if the write had happened. ProgrammingError
                # (a bug in our SQL) is left alone, so it shows as the bug it is.
                if isinstance(exc, psycopg.ProgrammingError):
                    raise
                raise StoreUnavailable(f"{self.where}: {_first_line(exc)}") from exc
            except psycopg.InterfaceError as exc:
                raise StoreUnavailable(f"{self.where}: {_first_line(exc)}") from exc

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Close the pool and every connection in it. Idempotent."""
        if not self._closed:
            self._closed = True
            self._pool.close()


# 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now: the server went away.
_SHUTDOWN = frozenset({"57P01", "57P02", "57P03"})
