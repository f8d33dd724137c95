"""The PostgreSQL engine of :class:`~tokenconform_server.store.Store`: the same rules as SQLite's,
exactly as atomic across processes and hosts as within one.

SQLite serialises every write behind one lock (``BEGIN IMMEDIATE``), so a read followed by a
write in one transaction is safe there. PostgreSQL runs writers concurrently; at READ COMMITTED
(its default, used here) each statement sees the data committed when it started, and a
statement that finds a row locked by another writer waits for it, then re-checks its ``WHERE``
on the row's newest version. The choices, operation by operation:

- **Rotation: one conditional UPDATE, no lock taken beforehand.** ``UPDATE sessions SET
  current_jti_hash = new WHERE id = .. AND current_jti_hash = old AND revoked_at IS NULL ...``
  in one statement that also records the used jti and returns the session and user. Of N
  concurrent rotations with one token, the first locks the row; the others wait, re-check
  ``current_jti_hash = old`` on the committed row, find it changed and update nothing. The row
  count decides, as in SQLite. A lock taken first (``SELECT ... FOR UPDATE``) would give the
  same answer in two more round trips. ``revoke_with_token`` is the same statement shape.
- **Not current: the session row locked (``SELECT ... FOR UPDATE``).** When the conditional
  UPDATE matched nothing, a second transaction locks the session row and decides between
  INACTIVE and REUSED (RFC 9700 §4.14.2: revoke). Splitting is safe because "this jti is not
  current" can never become false again: a jti is current once, a revocation is final, time
  only moves on. The lock only orders the revocation after any rotation in flight.
- **Session creation under a token version: the user row share-locked in the same statement.**
  ``INSERT INTO sessions SELECT ... FROM users WHERE id = .. AND token_version = .. FOR SHARE``.
  If a logout-all has bumped the version but not committed, the insert waits for it and then
  sees the new version: nothing is inserted (:class:`VersionChanged`). If the insert holds the
  share lock first, the logout-all's version bump waits for the session to commit, and its
  session revocation, a later statement, sees that session and revokes it. (A plain
  ``WHERE EXISTS`` would read a snapshot without waiting: the issue 8 race again.)
- **Logout-all: two statements in one transaction, users row first.** The version bump takes
  the user row's lock; the session revocation is a separate statement so that it sees every
  session committed while the bump waited. (One statement with a CTE would revoke from the
  snapshot taken before that wait and miss them.)
- **Throttling** records and reads failures as SQLite does: each record is one statement
  (purge of every key's expired rows plus the insert), each check one read.

Only SHA-256 hashes of refresh-token jtis and throttling keys are stored. PostgreSQL text cannot
hold a NUL character: client-chosen text (usernames, names, user agents) is stored with NUL
escaped losslessly, and an id with a NUL (only a forged token could carry one) finds nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg

from .postgres_db import Conn, PostgresDatabase, escape_nul, unescape_nul
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

__all__ = ["PostgresStore"]

_USER_COLUMNS = "u.id, u.username, u.email, u.full_name, u.password_hash, u.token_version"
_SESSION_COLUMNS = (
    "s.id, s.user_id, s.user_agent, s.created_at, s.absolute_expires_at, s.last_rotated_at, s.revoked_at, "
    "s.revoked_reason"
)


def _user(row: Any) -> UserRecord | None:
    if row is None:
        return None
    id_, username, email, full_name, password_hash, token_version = row
    return UserRecord(str(id_), str(username), str(email), str(full_name), str(password_hash), int(token_version))


def _session(row: Any) -> SessionRecord | None:
    if row is None:
        return None
    id_, user_id, user_agent, created_at, absolute, rotated, revoked_at, reason = row
    return SessionRecord(
        id=str(id_),
        user_id=str(user_id),
        user_agent=unescape_nul(str(user_agent)),
        created_at=float(created_at),
        absolute_expires_at=float(absolute),
        last_rotated_at=None if rotated is None else float(rotated),
        revoked_at=None if revoked_at is None else float(revoked_at),
        revoked_reason=None if reason is None else str(reason),
    )


def _storable(*values: str) -> bool:
    """False if a value has a NUL, which no PostgreSQL text can hold (so no stored row has it)."""
    return not any("\x00" in value for value in values)


class PostgresStore(PostgresDatabase):
    """:class:`Store` on PostgreSQL through a pool of at most ``pool_size`` connections."""

    # -- users ----------------------------------------------------------------------------------

    def create_user(self, *, username: str, email: str, full_name: str, password_hash: str, now: float) -> UserRecord:
        user_id = secrets.token_hex(12)
        # No NUL in PostgreSQL text; a lossless escape keeps what the client sent, as SQLite does.
        name, full = escape_nul(username), escape_nul(full_name)

        def insert(conn: Conn) -> UserRecord:
            # Which field is taken, username first as in SQLite; the unique indexes stay the
            # backstop against a concurrent registration (handled below).
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower(%s)), "
                "EXISTS (SELECT 1 FROM users WHERE lower(email) = lower(%s))",
                (name, escape_nul(email)),
            ).fetchone()
            if row is not None and row[0]:
                raise DuplicateUser("username")
            if row is not None and row[1]:
                raise DuplicateUser("email")
            conn.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, token_version, created_at) "
                "VALUES (%s, %s, %s, %s, %s, 0, %s)",
                (user_id, name, escape_nul(email), full, password_hash, now),
            )
            return UserRecord(user_id, username, email, full_name, password_hash, 0)

        try:
            return self._run(insert, write=True, transaction=True)
        except psycopg.errors.UniqueViolation as exc:
            constraint = exc.diag.constraint_name or ""
            raise DuplicateUser("email" if "email" in constraint else "username") from None

    def get_user(self, user_id: str) -> UserRecord | None:
        if not _storable(user_id):
            return None
        return self._run(
            lambda c: _unescape_user(c.execute(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = %s", (user_id,))),
            write=False,
        )

    def get_user_by_email(self, email: str) -> UserRecord | None:
        return self._run(
            lambda c: _unescape_user(
                c.execute(f"SELECT {_USER_COLUMNS} FROM users u WHERE lower(u.email) = lower(%s)", (escape_nul(email),))
            ),
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
        values = (session_id, escape_nul(user_agent), now, absolute_expires_at, jti_hash(jti))
        if token_version is None:
            # Unconditional, as in SQLite: an unknown user is the foreign key's IntegrityError.
            query = (
                "INSERT INTO sessions (id, user_agent, created_at, absolute_expires_at, current_jti_hash, user_id) "
                "VALUES (%s, %s, %s, %s, %s, %s)"
            )
            params: tuple[Any, ...] = (*values, user_id)
        else:
            # FOR SHARE: see the module docstring (the logout-all race of issue 8).
            query = (
                "INSERT INTO sessions (id, user_id, user_agent, created_at, absolute_expires_at, current_jti_hash) "
                "SELECT %s, u.id, %s, %s, %s, %s FROM users u WHERE u.id = %s AND u.token_version = %s FOR SHARE"
            )
            params = (*values, user_id, token_version)
        inserted = _storable(user_id) and self._run(lambda c: c.execute(query, params).rowcount == 1, write=True)
        if not inserted:
            # The version moved on (or there is no such user any more).
            raise VersionChanged(user_id)
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
        if not _storable(session_id):
            return None
        return self._run(
            lambda c: _session(
                c.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = %s", (session_id,)).fetchone()
            ),
            write=False,
        )

    def rotate(self, *, session_id: str, user_id: str, jti: str, new_jti: str, now: float) -> Rotation:
        if not _storable(session_id, user_id):
            return Rotation(Outcome.INACTIVE)
        old, new = jti_hash(jti), jti_hash(new_jti)

        def swap(conn: Conn) -> Any:
            # THE rotation: one statement. The UPDATE's row count (0 or 1 rows in `s`) decides;
            # the used jti is recorded and the user read in the same statement and transaction.
            return conn.execute(
                "WITH s AS ("
                " UPDATE sessions SET current_jti_hash = %(new)s, last_rotated_at = %(now)s"
                " WHERE id = %(sid)s AND user_id = %(uid)s AND current_jti_hash = %(old)s"
                " AND revoked_at IS NULL AND absolute_expires_at > %(now)s"
                f" RETURNING *), used AS ("
                " INSERT INTO used_refresh_jtis (session_id, jti_hash, used_at)"
                " SELECT id, %(old)s, %(now)s FROM s ON CONFLICT DO NOTHING)"
                f" SELECT {_SESSION_COLUMNS}, {_USER_COLUMNS} FROM s JOIN users u ON u.id = s.user_id",
                {"new": new, "old": old, "now": now, "sid": session_id, "uid": user_id},
            ).fetchone()

        row = self._run(swap, write=True)
        if row is None:
            return Rotation(self._not_current(session_id, user_id, old, now))
        return Rotation(Outcome.OK, _session(row[:8]), _unescape(_user(row[8:])))

    def revoke_with_token(self, *, session_id: str, user_id: str, jti: str, reason: str, now: float) -> Outcome:
        if not _storable(session_id, user_id):
            return Outcome.INACTIVE
        presented = jti_hash(jti)
        revoked = self._run(
            lambda c: (
                c.execute(
                    "UPDATE sessions SET revoked_at = %s, revoked_reason = %s "
                    "WHERE id = %s AND user_id = %s AND current_jti_hash = %s "
                    "AND revoked_at IS NULL AND absolute_expires_at > %s",
                    (now, reason, session_id, user_id, presented, now),
                ).rowcount
            ),
            write=True,
        )
        if revoked == 1:
            return Outcome.OK
        return self._not_current(session_id, user_id, presented, now)

    def check_reuse(self, *, session_id: str, user_id: str, jti: str, now: float) -> Outcome:
        if not _storable(session_id, user_id):
            return Outcome.INACTIVE
        presented = jti_hash(jti)
        current = self._run(
            lambda c: c.execute(
                "SELECT 1 FROM sessions WHERE id = %s AND user_id = %s AND current_jti_hash = %s "
                "AND revoked_at IS NULL AND absolute_expires_at > %s",
                (session_id, user_id, presented, now),
            ).fetchone(),
            write=False,
        )
        if current is not None:
            return Outcome.OK
        return self._not_current(session_id, user_id, presented, now)

    def _not_current(self, session_id: str, user_id: str, presented: str, now: float) -> Outcome:
        """After a conditional statement matched nothing: why not? (RFC 9700 §4.14.2)

        A validly signed refresh token of a live session that is not its current one was used
        before (or never handed out, which only a key compromise explains): "the authorization
        server cannot determine which party submitted the invalid refresh token, it will revoke
        the active refresh token". The session row is locked while deciding.
        """

        def decide(conn: Conn) -> Outcome:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = %s FOR UPDATE", (session_id,)
            ).fetchone()
            session = _session(row)
            if session is None or session.user_id != user_id or not session.is_active(now):
                return Outcome.INACTIVE
            if conn.execute(
                "SELECT 1 FROM sessions WHERE id = %s AND current_jti_hash = %s", (session_id, presented)
            ).fetchone():
                # Cannot happen (a jti is current once, and was not a moment ago); if it does,
                # nothing is revoked on a guess.
                return Outcome.INACTIVE
            used = conn.execute(
                "SELECT 1 FROM used_refresh_jtis WHERE session_id = %s AND jti_hash = %s", (session_id, presented)
            ).fetchone()
            conn.execute(
                "UPDATE sessions SET revoked_at = %s, revoked_reason = %s WHERE id = %s AND revoked_at IS NULL",
                (now, "reuse" if used is not None else "unknown_token", session_id),
            )
            return Outcome.REUSED

        return self._run(decide, write=True, transaction=True)

    def revoke_session(self, session_id: str, *, reason: str, now: float) -> bool:
        if not _storable(session_id):
            return False
        return self._run(
            lambda c: (
                c.execute(
                    "UPDATE sessions SET revoked_at = %s, revoked_reason = %s WHERE id = %s AND revoked_at IS NULL",
                    (now, reason, session_id),
                ).rowcount
                == 1
            ),
            write=True,
        )

    def revoke_all_for_user(self, user_id: str, *, reason: str, now: float) -> int:
        if not _storable(user_id):
            return 0

        def revoke(conn: Conn) -> int:
            # Two statements, users first: see the module docstring.
            conn.execute("UPDATE users SET token_version = token_version + 1 WHERE id = %s", (user_id,))
            return conn.execute(
                "UPDATE sessions SET revoked_at = %s, revoked_reason = %s WHERE user_id = %s AND revoked_at IS NULL",
                (now, reason, user_id),
            ).rowcount

        return self._run(revoke, write=True, transaction=True)

    def is_session_active(self, session_id: str, *, user_id: str, token_version: int, now: float) -> bool:
        if not _storable(session_id, user_id):
            return False
        row = self._run(
            lambda c: c.execute(
                "SELECT 1 FROM sessions AS s JOIN users AS u ON u.id = s.user_id "
                "WHERE s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL "
                "AND s.absolute_expires_at > %s AND u.token_version = %s",
                (session_id, user_id, now, token_version),
            ).fetchone(),
            write=False,
        )
        return row is not None

    # -- login throttling -----------------------------------------------------------------------

    def record_login_failure(self, account_key: str, *, now: float, window: float) -> None:
        key = throttle_key_hash(account_key)
        # Every key's expired failures, not only this one's (issue 8: disk growth), in the same
        # statement as the insert.
        self._run(
            lambda c: c.execute(
                "WITH purged AS (DELETE FROM throttle_failures WHERE failed_at <= %s) "
                "INSERT INTO throttle_failures (key_hash, failed_at) VALUES (%s, %s)",
                (now - window, key, now),
            ),
            write=True,
        )

    def login_failure_times(self, account_key: str, *, since: float) -> list[float]:
        key = throttle_key_hash(account_key)
        rows = self._run(
            lambda c: c.execute(
                "SELECT failed_at FROM throttle_failures WHERE key_hash = %s AND failed_at > %s ORDER BY failed_at",
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
        row = self._run(lambda c: c.execute("SELECT count(*) FROM throttle_failures").fetchone(), write=False)
        return int(row[0]) if row is not None else 0

    def clear_login_failures(self, account_key: str) -> None:
        key = throttle_key_hash(account_key)
        self._run(lambda c: c.execute("DELETE FROM throttle_failures WHERE key_hash = %s", (key,)), write=True)


def _unescape(user: UserRecord | None) -> UserRecord | None:
    if user is None:
        return None
    return UserRecord(
        user.id,
        unescape_nul(user.username),
        unescape_nul(user.email),
        unescape_nul(user.full_name),
        user.password_hash,
        user.token_version,
    )


def _unescape_user(cursor: psycopg.Cursor[Any]) -> UserRecord | None:
    return _unescape(_user(cursor.fetchone()))
