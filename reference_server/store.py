"""Persistence for users, sessions and login failures: the ``Store`` interface and its SQLite engine.

This is the only module that speaks SQL. Its one subtle duty is atomic refresh-token rotation:
the presented token's jti hash is swapped for the new one by a single conditional ``UPDATE``
inside ``BEGIN IMMEDIATE``, and the row count decides who won. Nothing is read first and written
later, so N concurrent refreshes with one token give exactly one winner whatever the interleaving.

Only SHA-256 hashes of refresh-token jtis are stored, never a token (RFC 6819 §5.1.4.1.3: store
credential hashes, not the credentials). Durability: WAL with ``synchronous=FULL``, so a commit
that returned has reached the disk and a rotation survives ``kill -9``.
"""

from __future__ import annotations

import enum
import hashlib
import random
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = [
    "DuplicateUser",
    "Outcome",
    "Rotation",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreBusy",
    "UserRecord",
    "jti_hash",
]

T = TypeVar("T")


def jti_hash(jti: str) -> str:
    """The form in which a refresh token's jti is stored: hex SHA-256."""
    return hashlib.sha256(jti.encode("utf-8")).hexdigest()


class DuplicateUser(Exception):
    """``create_user`` found the username or email taken; ``field`` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} already exists")
        #: "username" or "email"
        self.field = field


class StoreBusy(Exception):
    """The database stayed locked past the retry deadline (only if something is badly wrong)."""


class Outcome(enum.Enum):
    """What happened to a presented refresh token."""

    #: it was its session's current token; the change (rotation or revocation) is committed
    OK = "ok"
    #: it belongs to a live session but is not current (already used): the session is now revoked
    REUSED = "reused"
    #: unknown, revoked or expired session, or not this user's: nothing changed
    INACTIVE = "inactive"


@dataclass(frozen=True)
class UserRecord:
    """A stored user. ``password_hash`` never leaves the server."""

    id: str
    username: str
    email: str
    full_name: str
    password_hash: str = field(repr=False)
    #: bumped by logout-all; access tokens carry it as ``ver``
    token_version: int


@dataclass(frozen=True)
class SessionRecord:
    """A stored session (one login, one device, one refresh-token family)."""

    id: str
    user_id: str
    user_agent: str
    created_at: float
    #: the absolute cap: no token of this session lives past it (ASVS 5.0 §10.4.8)
    absolute_expires_at: float
    last_rotated_at: float | None
    revoked_at: float | None
    revoked_reason: str | None

    def is_active(self, now: float) -> bool:
        return self.revoked_at is None and now < self.absolute_expires_at


@dataclass(frozen=True)
class Rotation:
    """The result of :meth:`Store.rotate`; ``session`` and ``user`` are set when it succeeded."""

    outcome: Outcome
    session: SessionRecord | None = None
    user: UserRecord | None = None


class Store(Protocol):
    """What the session service needs from storage; another engine implements just this."""

    def create_user(self, *, username: str, email: str, full_name: str, password_hash: str, now: float) -> UserRecord:
        """Insert a user; raise :class:`DuplicateUser` if username or email is taken."""
        ...

    def get_user(self, user_id: str) -> UserRecord | None: ...

    def get_user_by_email(self, email: str) -> UserRecord | None:
        """Look a user up by email, case-insensitively."""
        ...

    def create_session(
        self,
        *,
        user_id: str,
        user_agent: str,
        jti: str,
        now: float,
        absolute_expires_at: float,
    ) -> SessionRecord:
        """Start a session whose current refresh token has ``jti``."""
        ...

    def get_session(self, session_id: str) -> SessionRecord | None: ...

    def rotate(self, *, session_id: str, user_id: str, jti: str, new_jti: str, now: float) -> Rotation:
        """Atomically replace the session's current ``jti`` by ``new_jti``.

        OK: done, and ``jti`` is remembered as used. REUSED: ``jti`` was not current although the
        session was live, so the session is now revoked (RFC 9700 §4.14.2). INACTIVE: no change.
        """
        ...

    def revoke_with_token(self, *, session_id: str, user_id: str, jti: str, reason: str, now: float) -> Outcome:
        """Revoke the session if ``jti`` is its current token (logout by refresh token)."""
        ...

    def check_reuse(self, *, session_id: str, user_id: str, jti: str, now: float) -> Outcome:
        """Use nothing up, but revoke the session if ``jti`` is a used (non-current) token.

        OK: ``jti`` is current (nothing changed). REUSED: the session is now revoked.
        """
        ...

    def revoke_session(self, session_id: str, *, reason: str, now: float) -> bool:
        """Revoke one session; True if it was live until now."""
        ...

    def revoke_all_for_user(self, user_id: str, *, reason: str, now: float) -> int:
        """Bump the user's token version and revoke every live session; return how many."""
        ...

    def is_session_active(self, session_id: str, *, user_id: str, token_version: int, now: float) -> bool:
        """The per-request check: session live, not past its cap, and the user's version equal."""
        ...

    def record_login_failure(self, account_key: str, *, now: float, window: float) -> None:
        """Remember a failed login for ``account_key``, forgetting those older than ``window``."""
        ...

    def login_failure_times(self, account_key: str, *, since: float) -> list[float]:
        """Times of failures for ``account_key`` after ``since``, oldest first."""
        ...

    def clear_login_failures(self, account_key: str) -> None: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    full_name       TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    token_version   INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_agent           TEXT NOT NULL DEFAULT '',
    created_at           REAL NOT NULL,
    absolute_expires_at  REAL NOT NULL,
    current_jti_hash     TEXT NOT NULL,
    last_rotated_at      REAL,
    revoked_at           REAL,
    revoked_reason       TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS used_refresh_jtis (
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    jti_hash    TEXT NOT NULL,
    used_at     REAL NOT NULL,
    PRIMARY KEY (session_id, jti_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS login_failures (
    account_key  TEXT NOT NULL,
    failed_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures(account_key, failed_at);
PRAGMA user_version = 1;
"""

_USER_COLUMNS = "id, username, email, full_name, password_hash, token_version"
_SESSION_COLUMNS = (
    "id, user_id, user_agent, created_at, absolute_expires_at, last_rotated_at, revoked_at, revoked_reason"
)

# SQLITE_BUSY and SQLITE_LOCKED: another connection holds the lock we need.
_BUSY_CODES = frozenset({5, 6})


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _user(row: Any) -> UserRecord | None:
    if row is None:
        return None
    id_, username, email, full_name, password_hash, token_version = row
    return UserRecord(
        id=str(id_),
        username=str(username),
        email=str(email),
        full_name=str(full_name),
        password_hash=str(password_hash),
        token_version=int(token_version),
    )


def _session(row: Any) -> SessionRecord | None:
    if row is None:
        return None
    id_, user_id, user_agent, created_at, absolute, rotated, revoked_at, reason = row
    return SessionRecord(
        id=str(id_),
        user_id=str(user_id),
        user_agent=str(user_agent),
        created_at=float(created_at),
        absolute_expires_at=float(absolute),
        last_rotated_at=None if rotated is None else float(rotated),
        revoked_at=None if revoked_at is None else float(revoked_at),
        revoked_reason=None if reason is None else str(reason),
    )


def _close_connections(connections: list[tuple[threading.Thread, sqlite3.Connection]]) -> None:
    for _thread, conn in connections:
        conn.close()
    connections.clear()


class SqliteStore:
    """:class:`Store` on one SQLite file, with one kept-open connection per thread."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0, retry_deadline: float = 60.0) -> None:
        #: the database file
        self.path = path
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._retry_deadline = retry_deadline
        self._local = threading.local()
        self._lock = threading.Lock()
        # (thread, connection) for every connection opened, so close() can close them all and
        # connections of finished threads get closed instead of piling up.
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        # A store dropped without close() still closes its connections (Python 3.13 warns about
        # unclosed sqlite3 connections, and the warning names no owner). The list is only ever
        # mutated in place, so the finalizer sees every connection without holding the store.
        weakref.finalize(self, _close_connections, self._connections)
        # journal_mode is persistent in the file; changing it needs a moment with no writer.
        self._retrying(lambda c: c.execute("PRAGMA journal_mode=WAL").fetchone(), write=False)
        self._retrying(lambda c: c.executescript(_SCHEMA), write=False)

    # -- connections and transactions ---------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise RuntimeError("store is closed")
        # isolation_level=None: autocommit; transactions are begun explicitly (BEGIN IMMEDIATE).
        # check_same_thread=False only so close() may close other threads' connections; each
        # connection is otherwise used by the thread that opened it alone.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        # FULL: a commit that returned is on disk, so a rotation survives kill -9 and power loss.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._local.conn = conn
        with self._lock:
            alive = []
            for thread, other in self._connections:
                if thread.is_alive():
                    alive.append((thread, other))
                else:
                    other.close()
            alive.append((threading.current_thread(), conn))
            self._connections[:] = alive
        return conn

    def _retrying(self, operation: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``operation`` (in ``BEGIN IMMEDIATE`` when ``write``), retrying while locked.

        The busy timeout already waits inside SQLite; this loop covers the cases it does not
        (e.g. WAL recovery), so "database is locked" never reaches a caller as an exception.
        Retrying is safe because a failed attempt is rolled back in full.
        """
        conn = self._connection()
        deadline = time.monotonic() + self._retry_deadline
        delay = 0.001
        while True:
            try:
                if write:
                    # IMMEDIATE takes the write lock up front: no read snapshot can go stale
                    # between our statements, and two writers queue instead of deadlocking.
                    conn.execute("BEGIN IMMEDIATE")
                try:
                    result = operation(conn)
                    if write:
                        conn.execute("COMMIT")
                    return result
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"{self.path}: still locked after retrying") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.05)

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._lock:
            self._closed = True
            _close_connections(self._connections)
        self._local = threading.local()

    # -- users ----------------------------------------------------------------------------------

    def create_user(self, *, username: str, email: str, full_name: str, password_hash: str, now: float) -> UserRecord:
        # ObjectId-sized random hex, like the seed's Mongo ids.
        user_id = secrets.token_hex(12)

        def insert(conn: sqlite3.Connection) -> UserRecord:
            # Inside the write lock, so check-then-insert cannot race; the UNIQUE constraints
            # (case-insensitive) remain as the backstop.
            for name, value in (("username", username), ("email", email)):
                taken = conn.execute(f"SELECT 1 FROM users WHERE {name} = ?", (value,)).fetchone()
                if taken is not None:
                    raise DuplicateUser(name)
            conn.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, "
                "token_version, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
                (user_id, username, email, full_name, password_hash, now),
            )
            return UserRecord(user_id, username, email, full_name, password_hash, 0)

        try:
            return self._retrying(insert, write=True)
        except sqlite3.IntegrityError as exc:
            raise DuplicateUser("email" if "email" in str(exc) else "username") from None

    def get_user(self, user_id: str) -> UserRecord | None:
        return self._retrying(
            lambda c: _user(c.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()),
            write=False,
        )

    def get_user_by_email(self, email: str) -> UserRecord | None:
        return self._retrying(
            lambda c: _user(c.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?", (email,)).fetchone()),
            write=False,
        )

    # -- sessions -------------------------------------------------------------------------------

    def create_session(
        self,
        *,
        user_id: str,
        user_agent: str,
        jti: str,
        now: float,
        absolute_expires_at: float,
    ) -> SessionRecord:
        session_id = secrets.token_urlsafe(16)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sessions (id, user_id, user_agent, created_at, absolute_expires_at, "
                "current_jti_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, user_id, user_agent, now, absolute_expires_at, jti_hash(jti)),
            )

        self._retrying(insert, write=True)
        return SessionRecord(
            id=session_id,
            user_id=user_id,
            user_agent=user_agent,
            created_at=now,
            absolute_expires_at=absolute_expires_at,
            last_rotated_at=None,
            revoked_at=None,
            revoked_reason=None,
        )

    def get_session(self, session_id: str) -> SessionRecord | None:
        return self._retrying(lambda c: self._get_session(c, session_id), write=False)

    @staticmethod
    def _get_session(conn: sqlite3.Connection, session_id: str) -> SessionRecord | None:
        row = conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return _session(row)

    def rotate(self, *, session_id: str, user_id: str, jti: str, new_jti: str, now: float) -> Rotation:
        old, new = jti_hash(jti), jti_hash(new_jti)

        def swap(conn: sqlite3.Connection) -> Rotation:
            # THE rotation: one conditional UPDATE; its row count, not an earlier read, decides.
            cursor = conn.execute(
                "UPDATE sessions SET current_jti_hash = ?, last_rotated_at = ? "
                "WHERE id = ? AND user_id = ? AND current_jti_hash = ? "
                "AND revoked_at IS NULL AND absolute_expires_at > ?",
                (new, now, session_id, user_id, old, now),
            )
            if cursor.rowcount != 1:
                return Rotation(self._not_current(conn, session_id, user_id, old, now))
            # RFC 9700 §4.14.2: remember the used token so a replay is recognised as reuse.
            conn.execute(
                "INSERT OR IGNORE INTO used_refresh_jtis (session_id, jti_hash, used_at) VALUES (?, ?, ?)",
                (session_id, old, now),
            )
            session = self._get_session(conn, session_id)
            user = _user(conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone())
            return Rotation(Outcome.OK, session, user)

        return self._retrying(swap, write=True)

    def revoke_with_token(self, *, session_id: str, user_id: str, jti: str, reason: str, now: float) -> Outcome:
        presented = jti_hash(jti)

        def revoke(conn: sqlite3.Connection) -> Outcome:
            cursor = conn.execute(
                "UPDATE sessions SET revoked_at = ?, revoked_reason = ? "
                "WHERE id = ? AND user_id = ? AND current_jti_hash = ? "
                "AND revoked_at IS NULL AND absolute_expires_at > ?",
                (now, reason, session_id, user_id, presented, now),
            )
            if cursor.rowcount == 1:
                return Outcome.OK
            return self._not_current(conn, session_id, user_id, presented, now)

        return self._retrying(revoke, write=True)

    def check_reuse(self, *, session_id: str, user_id: str, jti: str, now: float) -> Outcome:
        presented = jti_hash(jti)

        def check(conn: sqlite3.Connection) -> Outcome:
            # A read then a write is safe here only because BEGIN IMMEDIATE already holds the
            # write lock: no rotation can commit in between.
            current = conn.execute(
                "SELECT 1 FROM sessions WHERE id = ? AND user_id = ? AND current_jti_hash = ? "
                "AND revoked_at IS NULL AND absolute_expires_at > ?",
                (session_id, user_id, presented, now),
            ).fetchone()
            if current is not None:
                return Outcome.OK
            return self._not_current(conn, session_id, user_id, presented, now)

        return self._retrying(check, write=True)

    def _not_current(
        self,
        conn: sqlite3.Connection,
        session_id: str,
        user_id: str,
        presented: str,
        now: float,
    ) -> Outcome:
        """After a conditional UPDATE matched nothing (still inside its transaction): why not?

        A validly signed refresh token of a live session that is not the current one has been
        used before (or was never handed out, which only a key compromise explains). Either way
        RFC 9700 §4.14.2 applies: "the authorization server cannot determine which party
        submitted the invalid refresh token, it will revoke the active refresh token".
        """
        session = self._get_session(conn, session_id)
        if session is None or session.user_id != user_id or not session.is_active(now):
            return Outcome.INACTIVE
        used = conn.execute(
            "SELECT 1 FROM used_refresh_jtis WHERE session_id = ? AND jti_hash = ?",
            (session_id, presented),
        ).fetchone()
        conn.execute(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
            (now, "reuse" if used is not None else "unknown_token", session_id),
        )
        return Outcome.REUSED

    def revoke_session(self, session_id: str, *, reason: str, now: float) -> bool:
        def revoke(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
                (now, reason, session_id),
            )
            return cursor.rowcount == 1

        return self._retrying(revoke, write=True)

    def revoke_all_for_user(self, user_id: str, *, reason: str, now: float) -> int:
        def revoke(conn: sqlite3.Connection) -> int:
            # The version bump kills every access token already issued at once, even one whose
            # session row were somehow missed (the seed's tokenVersion).
            conn.execute("UPDATE users SET token_version = token_version + 1 WHERE id = ?", (user_id,))
            cursor = conn.execute(
                "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL",
                (now, reason, user_id),
            )
            return cursor.rowcount

        return self._retrying(revoke, write=True)

    def is_session_active(self, session_id: str, *, user_id: str, token_version: int, now: float) -> bool:
        # Two primary-key lookups on a kept-open connection: cheap enough for every request.
        row = self._retrying(
            lambda c: c.execute(
                "SELECT 1 FROM sessions AS s JOIN users AS u ON u.id = s.user_id "
                "WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL "
                "AND s.absolute_expires_at > ? AND u.token_version = ?",
                (session_id, user_id, now, token_version),
            ).fetchone(),
            write=False,
        )
        return row is not None

    # -- login throttling -----------------------------------------------------------------------

    def record_login_failure(self, account_key: str, *, now: float, window: float) -> None:
        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM login_failures WHERE account_key = ? AND failed_at <= ?",
                (account_key, now - window),
            )
            conn.execute(
                "INSERT INTO login_failures (account_key, failed_at) VALUES (?, ?)",
                (account_key, now),
            )

        self._retrying(record, write=True)

    def login_failure_times(self, account_key: str, *, since: float) -> list[float]:
        rows = self._retrying(
            lambda c: c.execute(
                "SELECT failed_at FROM login_failures WHERE account_key = ? AND failed_at > ? ORDER BY failed_at",
                (account_key, since),
            ).fetchall(),
            write=False,
        )
        return [float(at) for (at,) in rows]

    def count_login_failures(self, account_key: str, *, since: float) -> int:
        """How many failures ``account_key`` has after ``since``."""
        return len(self.login_failure_times(account_key, since=since))

    def clear_login_failures(self, account_key: str) -> None:
        self._retrying(
            lambda c: c.execute("DELETE FROM login_failures WHERE account_key = ?", (account_key,)),
            write=True,
        )
