"""The SQLite engine of :class:`~tokenconform_server.store.Store`: the only module that speaks SQL.

Its one subtle duty is atomic refresh-token rotation: the presented token's jti hash is swapped
for the new one by a single conditional ``UPDATE`` inside ``BEGIN IMMEDIATE``, and the row count
decides who won. Nothing is read first and written later, so N concurrent refreshes with one
token give exactly one winner whatever the interleaving. Session creation is conditional on the
user's token version in the same way, so a logout-all and a login cannot interleave into a
session that outlives the logout-all.

Only SHA-256 hashes of refresh-token jtis and throttling keys are stored, never a token or a
client-chosen string of client-chosen length (RFC 6819 §5.1.4.1.3: store credential hashes).
Durability: WAL with ``synchronous=FULL``, so a commit that returned has reached the disk and a
rotation survives ``kill -9``. A database that cannot be written (disk full, I/O error,
read-only) raises :class:`~tokenconform_server.store.StoreUnavailable`: callers fail closed.
Connections, transactions and retries are :class:`~tokenconform_server.sqlite_db.SqliteDatabase`'s.
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any

from .sqlite_db import SqliteDatabase
from .store import (
    DuplicateUser,
    Outcome,
    Rotation,
    SessionRecord,
    UserRecord,
    VersionChanged,
    jti_hash,
    throttle_key_hash,
)

__all__ = ["SqliteStore"]

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
-- Version 1 kept the client-chosen key itself (a 60 KB email made a 60 KB row). Its rows are
-- throttling state only, at most one window old: dropping them forgets nothing that matters.
DROP TABLE IF EXISTS login_failures;
-- One row per failed login per throttling key (an account, a client): a 32-byte hash and a
-- time. Rows older than the window are purged on every insert, so the table holds at most
-- (failures per window) rows whatever the keys look like.
CREATE TABLE IF NOT EXISTS throttle_failures (
    key_hash   BLOB NOT NULL,
    failed_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_failures_by_key ON throttle_failures(key_hash, failed_at);
CREATE INDEX IF NOT EXISTS throttle_failures_by_time ON throttle_failures(failed_at);
PRAGMA user_version = 2;
"""

_USER_COLUMNS = "id, username, email, full_name, password_hash, token_version"
_SESSION_COLUMNS = (
    "id, user_id, user_agent, created_at, absolute_expires_at, last_rotated_at, revoked_at, revoked_reason"
)


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


class SqliteStore(SqliteDatabase):
    """:class:`Store` on one SQLite file, with one kept-open connection per thread."""

    def __init__(self, path: str, *, busy_timeout: float = 5.0, retry_deadline: float = 60.0) -> None:
        super().__init__(path, schema=_SCHEMA, busy_timeout=busy_timeout, retry_deadline=retry_deadline)

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
        token_version: int | None = None,
    ) -> SessionRecord:
        session_id = secrets.token_urlsafe(16)

        def insert(conn: sqlite3.Connection) -> None:
            values = (session_id, user_id, user_agent, now, absolute_expires_at, jti_hash(jti))
            if token_version is None:
                conn.execute(
                    "INSERT INTO sessions (id, user_id, user_agent, created_at, absolute_expires_at, "
                    "current_jti_hash) VALUES (?, ?, ?, ?, ?, ?)",
                    values,
                )
                return
            # Issue 8: the version check and the insert are one statement under the write lock.
            # revoke_all_for_user bumps the version and revokes in one transaction too, so either
            # this insert is serialised before it (and the session is revoked by it) or after it
            # (and the version no longer matches): never a session issued under the old version
            # that outlives the logout-all.
            cursor = conn.execute(
                "INSERT INTO sessions (id, user_id, user_agent, created_at, absolute_expires_at, "
                "current_jti_hash) SELECT ?, ?, ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND token_version = ?)",
                (*values, user_id, token_version),
            )
            if cursor.rowcount != 1:
                raise VersionChanged(user_id)

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
        key = throttle_key_hash(account_key)

        def record(conn: sqlite3.Connection) -> None:
            # Every key's expired failures, not only this one's: unique keys (one per sprayed
            # email) would otherwise leave a row each behind for ever (issue 8: disk growth).
            conn.execute("DELETE FROM throttle_failures WHERE failed_at <= ?", (now - window,))
            conn.execute("INSERT INTO throttle_failures (key_hash, failed_at) VALUES (?, ?)", (key, now))

        self._retrying(record, write=True)

    def login_failure_times(self, account_key: str, *, since: float) -> list[float]:
        key = throttle_key_hash(account_key)
        rows = self._retrying(
            lambda c: c.execute(
                "SELECT failed_at FROM throttle_failures WHERE key_hash = ? AND failed_at > ? ORDER BY failed_at",
                (key, since),
            ).fetchall(),
            write=False,
        )
        return [float(at) for (at,) in rows]

    def count_login_failures(self, account_key: str, *, since: float) -> int:
        """How many failures ``account_key`` has after ``since``."""
        return len(self.login_failure_times(account_key, since=since))

    def count_all_login_failures(self) -> int:
        """How many failure rows are stored, of every key (for tests of the purge)."""
        row = self._retrying(lambda c: c.execute("SELECT count(*) FROM throttle_failures").fetchone(), write=False)
        return int(row[0])

    def clear_login_failures(self, account_key: str) -> None:
        key = throttle_key_hash(account_key)
        self._retrying(
            lambda c: c.execute("DELETE FROM throttle_failures WHERE key_hash = ?", (key,)),
            write=True,
        )
