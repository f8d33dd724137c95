"""What the session rules need from storage: the ``Store`` protocol, its records and its errors.

The SQLite engine is :class:`tokenconform_server.sqlite_store.SqliteStore`, re-exported here so that
``from tokenconform_server.store import SqliteStore`` keeps working. Any engine must keep rotation
atomic (N concurrent refreshes with one token give exactly one winner), create a session only
under the token version it was asked for, and raise :class:`StoreUnavailable` rather than let a
write fail silently.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .sqlite_store import SqliteStore

__all__ = [
    "DuplicateUser",
    "Outcome",
    "Rotation",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreBusy",
    "StoreUnavailable",
    "UserRecord",
    "VersionChanged",
    "jti_hash",
    "throttle_key_hash",
]


def jti_hash(jti: str) -> str:
    """The form in which a refresh token's jti is stored: hex SHA-256."""
    return hashlib.sha256(jti.encode("utf-8")).hexdigest()


class DuplicateUser(Exception):
    """``create_user`` found the username or email taken; ``field`` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} already exists")
        #: "username" or "email"
        self.field = field


class StoreUnavailable(Exception):
    """The store cannot read or write right now (disk full, I/O error, read-only file...).

    Callers fail closed on it: the app answers 503 with Retry-After, so a login whose failure
    could not be recorded is refused instead of let through unthrottled (issue 8).
    """


class StoreBusy(StoreUnavailable):
    """The database stayed locked past the retry deadline (only if something is badly wrong)."""


class VersionChanged(Exception):
    """``create_session(token_version=...)`` found the user's token version changed meanwhile:
    a logout-all committed between reading the user and creating the session."""


def throttle_key_hash(key: str) -> bytes:
    """The form in which a throttling key is stored: 32 bytes of SHA-256, whatever the key's
    length, so each recorded failure costs the same few bytes (issue 8: disk growth)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


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
        token_version: int | None = None,
    ) -> SessionRecord:
        """Start a session whose current refresh token has ``jti``.

        With ``token_version``, the session is created only if the user's token version still
        equals it, checked in the same transaction as the insert (else :class:`VersionChanged`):
        a login racing a logout-all can then never leave a live session issued under the old
        version.
        """
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
        """Remember a failed login for ``account_key`` (any throttling key: an account or a
        client), forgetting every failure, of any key, older than ``window``. The growth per
        call is a small constant whatever the key's length (it is stored hashed)."""
        ...

    def login_failure_times(self, account_key: str, *, since: float) -> list[float]:
        """Times of failures for ``account_key`` after ``since``, oldest first."""
        ...

    def clear_login_failures(self, account_key: str) -> None: ...

    def close(self) -> None: ...


def __getattr__(name: str) -> Any:
    # Lazy, so that importing sqlite_store first (which imports this module) cannot find a
    # half-initialised sqlite_store here.
    if name == "SqliteStore":
        from .sqlite_store import SqliteStore

        return SqliteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
