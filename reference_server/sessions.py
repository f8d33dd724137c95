"""The session rules of the reference API, with no HTTP, no SQL and no JWT code in them.

Register, log in (one session per login, each its own refresh-token family), rotate on refresh,
detect reuse, authenticate, log out one session or all of them. Routes parse the request, call
one method here and render what it returns or the :class:`~tokenconform_server.errors.ApiError` it
raises. Time comes from the injected ``clock``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import bcrypt

from .emails import InvalidEmail, normalize_email
from .errors import Conflict, ServiceUnavailable, Unauthorized, UnprocessableEntity
from .fields import (
    MAX_EMAIL_CHARS,
    MAX_FULL_NAME_CHARS,
    MAX_LOGIN_PASSWORD_CHARS,
    MAX_PASSWORD_BYTES,
    MAX_USER_AGENT_CHARS,
    MAX_USERNAME_CHARS,
    MIN_PASSWORD_CHARS,
    json_object,
    required_string,
)
from .store import DuplicateUser, Outcome, UserRecord, VersionChanged
from .throttle import LoginThrottle, account_key, client_key
from .tokens import InvalidToken, decode_access, decode_refresh, issue_access, issue_refresh, new_jti

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store

__all__ = [
    "INVALID_CREDENTIALS",
    "IssuedTokens",
    "LoginResult",
    "Principal",
    "PublicUser",
    "SessionService",
]

log = logging.getLogger(__name__)

#: The one 401 body for a failed login, whether the email is unknown or the password wrong.
INVALID_CREDENTIALS = "Invalid credentials"
# The seed's messages.
_ACCESS_DENIED = "Access denied"
_INVALID_TOKEN = "Invalid token"
_REFRESH_REQUIRED = "Refresh token required"
_INVALID_REFRESH = "Invalid refresh token"
_REFRESH_USED = "Refresh token expired or used"

#: Tries to create a session while logout-alls keep changing the user's token version.
_SESSION_ATTEMPTS = 3


class PublicUser(TypedDict):
    """What a client may see of a user (the seed's ``user`` object): never a password or hash."""

    _id: str
    username: str
    email: str
    fullName: str


@dataclass(frozen=True)
class IssuedTokens:
    """A fresh access/refresh pair and what a route needs to deliver it."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    #: ``exp`` of the access token (epoch seconds); cookie Max-Age is this minus now
    access_expires_at: int
    #: ``exp`` of the refresh token, never past the session's absolute cap
    refresh_expires_at: int
    session_id: str


@dataclass(frozen=True)
class LoginResult:
    user: PublicUser
    tokens: IssuedTokens


@dataclass(frozen=True)
class Principal:
    """The caller of an authenticated request, as proven by a verified, unrevoked access token."""

    user_id: str
    session_id: str
    #: the verified access token claims
    claims: dict[str, Any]


def _public(user: UserRecord) -> PublicUser:
    return {
        "_id": user.id,
        "username": user.username,
        "email": user.email,
        "fullName": user.full_name,
    }


class SessionService:
    """Every rule about users, sessions and tokens (see docs/CONTRACTS.md and issue 2)."""

    def __init__(self, settings: Settings, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        #: the injected time source (epoch seconds); routes use it for cookie Max-Age too
        self.clock = clock
        # A real hash at the configured cost, compared against when the email is unknown, so
        # an unknown account costs the same bcrypt work as a wrong password (ASVS 5.0 §6.3.8
        # wants no account enumeration; timing is one way to enumerate).
        self._dummy_hash = bcrypt.hashpw(secrets.token_urlsafe(24).encode(), bcrypt.gensalt(settings.bcrypt_rounds))
        window = settings.login_failure_window
        #: ASVS 5.0 V6.3.1: failures per account, known or not
        self.account_throttle = LoginThrottle(store, limit=settings.login_max_failures, window=window)
        #: failures per client, whatever the account: password spraying (see throttle.py)
        self.client_throttle = LoginThrottle(store, limit=settings.login_max_client_failures, window=window)

    # -- registration and login -----------------------------------------------------------------

    def register(self, body: object) -> PublicUser:
        """Create a user from ``{"username", "email", "password", "fullName"}``.

        Raises:
            UnprocessableEntity: a field is missing, not a string, or invalid (``.field`` names it).
            Conflict: the username or email is taken.
        """
        data = json_object(body)
        username = required_string(data, "username", max_chars=MAX_USERNAME_CHARS)
        email = required_string(data, "email", max_chars=MAX_EMAIL_CHARS)
        password = required_string(data, "password", max_chars=MAX_LOGIN_PASSWORD_CHARS)
        full_name = required_string(data, "fullName", max_chars=MAX_FULL_NAME_CHARS)
        try:
            # Issue 8: one mailbox, one account, whatever Unicode tricks its spelling uses.
            email = normalize_email(email)
        except InvalidEmail as exc:
            raise UnprocessableEntity(str(exc), field="email") from None
        if len(password) < MIN_PASSWORD_CHARS:
            raise UnprocessableEntity(f"password must be at least {MIN_PASSWORD_CHARS} characters", field="password")
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            # Checked before hashing: bcrypt 5 raises above 72 bytes (a 500 otherwise), and
            # older versions silently ignore the rest of the password.
            raise UnprocessableEntity(f"password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8", field="password")
        password_hash = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.settings.bcrypt_rounds))
        try:
            user = self.store.create_user(
                username=username,
                email=email,
                full_name=full_name,
                password_hash=password_hash.decode("ascii"),
                now=self.clock(),
            )
        except DuplicateUser as exc:
            raise Conflict(f"User with this {exc.field} already exists") from None
        return _public(user)

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        """Check ``{"email", "password"}`` and start a new session (a new refresh family).

        Raises:
            UnprocessableEntity: a field is missing, not a string, or over its length cap.
            TooManyRequests: too many recent failures for this email, known or not.
            Unauthorized: ``{"message": "Invalid credentials"}``, the same for both causes.
            ServiceUnavailable: (via ``StoreUnavailable``) a failure could not be recorded.
        """
        data = json_object(body)
        # Capped like registration's fields (issue 8: a 60 KB email per failed login grew the
        # database by megabytes), with 422 before any work is done.
        email = required_string(data, "email", max_chars=MAX_EMAIL_CHARS)
        password = data.get("password")
        if not isinstance(password, str):
            field_error = "password is required" if password is None else "password must be a string"
            raise UnprocessableEntity(field_error, field="password")
        if len(password) > MAX_LOGIN_PASSWORD_CHARS:
            raise UnprocessableEntity(
                f"password must be at most {MAX_LOGIN_PASSWORD_CHARS} characters", field="password"
            )
        now = self.clock()
        try:
            email = normalize_email(email)
        except InvalidEmail:
            # Never registrable, so never a valid login; refused with the same 401 (and the same
            # bcrypt work) as any other failure, so the answer reveals nothing.
            email = email.strip().lower()
        # ASVS 5.0 §6.3.1: throttle per account. The key is the normalised email whether or not
        # the account exists, so a 429 reveals nothing about which emails are registered.
        key = account_key(email.lower())
        self.account_throttle.check(key, now)

        user = self.store.get_user_by_email(email)
        secret = password.encode("utf-8")
        too_long = len(secret) > MAX_PASSWORD_BYTES
        # Always one bcrypt comparison at the configured cost, so the response time does not
        # tell an unknown email from a wrong password. A password over 72 bytes can never have
        # been registered; it is compared (truncated, so bcrypt 5 does not raise) and refused.
        stored = user.password_hash.encode("ascii") if user is not None else self._dummy_hash
        matches = bcrypt.checkpw(secret[:MAX_PASSWORD_BYTES], stored)
        if user is None or too_long or not matches:
            # Fails closed: a store that cannot record this raises StoreUnavailable (503).
            self.account_throttle.record(key, now)
            raise Unauthorized(INVALID_CREDENTIALS)
        self.account_throttle.clear(key)

        absolute = int(now) + self.settings.session_max_age
        refresh_jti = new_jti()
        for _ in range(_SESSION_ATTEMPTS):
            try:
                # Issue 8: created only under the token version the tokens will carry, checked
                # atomically with the insert, so a racing logout-all cannot be outlived.
                session = self.store.create_session(
                    user_id=user.id,
                    user_agent=(user_agent or "")[:MAX_USER_AGENT_CHARS],
                    jti=refresh_jti,
                    now=now,
                    absolute_expires_at=absolute,
                    token_version=user.token_version,
                )
            except VersionChanged:
                # A logout-all committed since the user was read: this login comes after it.
                fresh = self.store.get_user(user.id)
                if fresh is None:  # deleted meanwhile
                    raise Unauthorized(INVALID_CREDENTIALS) from None
                user = fresh
                continue
            tokens = self._issue(user, session.id, refresh_jti, now=now, not_after=absolute)
            return LoginResult(user=_public(user), tokens=tokens)
        raise ServiceUnavailable()

    def check_client(self, client: str) -> None:
        """429 when ``client`` (see ``throttle.client_address``) has too many recent failures."""
        self.client_throttle.check(client_key(client), self.clock())

    def record_client_failure(self, client: str) -> None:
        """Count a failed login against ``client``; never cleared by a success, or one account
        the sprayer owns would reset the count."""
        self.client_throttle.record(client_key(client), self.clock())

    def _issue(
        self, user: UserRecord, session_id: str, refresh_jti: str, *, now: float, not_after: int
    ) -> IssuedTokens:
        access = issue_access(
            self.settings,
            user_id=user.id,
            email=user.email,
            username=user.username,
            full_name=user.full_name,
            session_id=session_id,
            token_version=user.token_version,
            now=now,
            not_after=not_after,
        )
        # ASVS 5.0 §10.4.8: each rotation gives a fresh refresh lifetime, but never past the
        # session's absolute expiry.
        refresh = issue_refresh(
            self.settings,
            user_id=user.id,
            session_id=session_id,
            now=now,
            jti=refresh_jti,
            not_after=not_after,
        )
        return IssuedTokens(
            access_token=access.token,
            refresh_token=refresh.token,
            access_expires_at=access.expires_at,
            refresh_expires_at=refresh.expires_at,
            session_id=session_id,
        )

    # -- refresh ---------------------------------------------------------------------------------

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        """Rotate: use up ``refresh_token`` and issue a new access and refresh token.

        A validly signed but already used token revokes its whole session first (RFC 9700
        §4.14.2), so the newest token of the family dies too; then 401.
        """
        if not refresh_token:
            raise Unauthorized(_REFRESH_REQUIRED)
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token, now=now)
        except InvalidToken:
            raise Unauthorized(_INVALID_REFRESH, invalid_token=True) from None
        replacement = new_jti()
        rotation = self.store.rotate(
            session_id=claims["sid"],
            user_id=claims["_id"],
            jti=claims["jti"],
            new_jti=replacement,
            now=now,
        )
        if rotation.outcome is Outcome.REUSED:
            log.warning("refresh token reuse detected; session %s revoked", claims["sid"])
        if rotation.outcome is not Outcome.OK or rotation.session is None or rotation.user is None:
            raise Unauthorized(_REFRESH_USED, invalid_token=True)
        return self._issue(
            rotation.user,
            rotation.session.id,
            replacement,
            now=now,
            not_after=int(rotation.session.absolute_expires_at),
        )

    def check_reuse(self, refresh_token: str | None) -> None:
        """Apply reuse detection to ``refresh_token`` without using it up.

        For a request that carries two different refresh tokens (body and cookie): neither is
        rotated, but one that was already used still revokes its session (RFC 9700 §4.14.2).
        Tokens that do not verify are ignored; the caller refuses the request anyway.
        """
        if not refresh_token:
            return
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token, now=now)
        except InvalidToken:
            return
        outcome = self.store.check_reuse(session_id=claims["sid"], user_id=claims["_id"], jti=claims["jti"], now=now)
        if outcome is Outcome.REUSED:
            log.warning("refresh token reuse detected; session %s revoked", claims["sid"])

    # -- authenticated requests ------------------------------------------------------------------

    def authenticate(self, access_token: str | None) -> Principal:
        """Verify an access token and that its session and token version are still live.

        Raises:
            Unauthorized: without an error code when no token was given, with
                ``error="invalid_token"`` when one was given and rejected (RFC 6750 §3.1).
        """
        if not access_token:
            raise Unauthorized(_ACCESS_DENIED)
        now = self.clock()
        try:
            claims = decode_access(self.settings, access_token, now=now)
        except InvalidToken as exc:
            raise Unauthorized(
                _INVALID_TOKEN,
                invalid_token=True,
                error_description="The access token expired" if exc.expired else None,
            ) from None
        # ASVS 5.0 §7.4.1: after logout (or logout-all, or reuse) the session's access tokens
        # are refused at once, not at their expiry.
        if not self.store.is_session_active(claims["sid"], user_id=claims["_id"], token_version=claims["ver"], now=now):
            raise Unauthorized(
                _INVALID_TOKEN,
                invalid_token=True,
                error_description="The access token has been revoked",
            )
        return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))

    def profile(self, principal: Principal) -> PublicUser:
        """The caller's public user, from the verified claims (the seed's design: no lookup)."""
        claims = principal.claims
        return {
            "_id": principal.user_id,
            "username": str(claims["username"]),
            "email": str(claims["email"]),
            "fullName": str(claims["fullName"]),
        }

    # -- logout ----------------------------------------------------------------------------------

    def logout(self, *, access_token: str | None, refresh_token: str | None) -> None:
        """Revoke this session: by its access token or, failing a valid one, its refresh token.

        The refresh-token path lets a client whose access token has expired still log out.

        Raises:
            Unauthorized: neither token is valid for a live session.
        """
        now = self.clock()
        if access_token:
            try:
                principal = self.authenticate(access_token)
            except Unauthorized:
                pass
            else:
                # False only if it was revoked a moment ago by someone else: same end state.
                self.store.revoke_session(principal.session_id, reason="logout", now=now)
                return
        if refresh_token:
            try:
                claims = decode_refresh(self.settings, refresh_token, now=now)
            except InvalidToken:
                pass
            else:
                outcome = self.store.revoke_with_token(
                    session_id=claims["sid"],
                    user_id=claims["_id"],
                    jti=claims["jti"],
                    reason="logout",
                    now=now,
                )
                if outcome is Outcome.OK:
                    return
                if outcome is Outcome.REUSED:
                    log.warning("refresh token reuse detected; session %s revoked", claims["sid"])
        if access_token or refresh_token:
            raise Unauthorized(_INVALID_TOKEN, invalid_token=True)
        raise Unauthorized(_ACCESS_DENIED)

    def logout_all(self, access_token: str | None) -> None:
        """Revoke every session of the caller and bump the token version (the seed's
        ``tokenVersion``), so every access token issued before is refused at once."""
        principal = self.authenticate(access_token)
        self.store.revoke_all_for_user(principal.user_id, reason="logout_all", now=self.clock())
