"""Issue and verify the server's two kinds of JWT; the only module that imports ``jwt``.

Both kinds are HMAC-signed with their own secret, carry ``iss`` and ``aud``, and are explicitly
typed in the JOSE header (RFC 8725 §3.11): ``typ: at+jwt`` for access tokens (RFC 9068 §2.1) and
``typ: rt+jwt`` for refresh tokens. Decoding checks the type, so one kind is never accepted as the
other even if the secrets were shared (RFC 8725 §3.12). Time comes from the caller (``now``), so
an injected clock drives expiry in tests; PyJWT's own wall-clock checks are switched off and
replaced by the equivalent ones below.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import jwt

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "ACCESS_TYP",
    "REFRESH_TYP",
    "AccessClaims",
    "InvalidToken",
    "IssuedToken",
    "RefreshClaims",
    "decode_access",
    "decode_refresh",
    "issue_access",
    "issue_refresh",
    "new_jti",
]

#: RFC 9068 §2.1: access tokens "MUST include this media type in the "typ" header parameter".
ACCESS_TYP = "at+jwt"
#: Our own explicit type for refresh tokens (RFC 8725 §3.11 leaves the name to the application).
REFRESH_TYP = "rt+jwt"


class AccessClaims(TypedDict):
    """The access token payload: the seed's fields plus session id, token version and jti."""

    _id: str
    email: str
    username: str
    fullName: str
    sid: str
    ver: int
    jti: str
    iat: int
    exp: int
    iss: str
    aud: str


class RefreshClaims(TypedDict):
    """The refresh token payload: the seed's ``_id`` plus session id and jti; nothing personal."""

    _id: str
    sid: str
    jti: str
    iat: int
    exp: int
    iss: str
    aud: str


class InvalidToken(Exception):
    """The token was presented but cannot be accepted; ``reason`` is for logs and challenges."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        #: short human-readable cause, e.g. "wrong token type"
        self.reason = reason
        #: True when the only fault is that ``exp`` has passed
        self.expired = expired


@dataclass(frozen=True)
class IssuedToken:
    """A freshly signed token and the facts the caller needs about it."""

    #: the compact JWS
    token: str
    #: its ``jti``
    jti: str
    #: its ``exp`` (epoch seconds)
    expires_at: int


def new_jti() -> str:
    """A fresh token id: 144 random bits, URL-safe (RFC 7519 §4.1.7 wants negligible collisions)."""
    return secrets.token_urlsafe(18)


def issue_access(
    settings: Settings,
    *,
    user_id: str,
    email: str,
    username: str,
    full_name: str,
    session_id: str,
    token_version: int,
    now: float,
    not_after: int | None = None,
) -> IssuedToken:
    """Sign an access token valid for ``settings.access_ttl``, never past ``not_after``."""
    iat = int(now)
    exp = iat + settings.access_ttl
    if not_after is not None:
        exp = min(exp, not_after)
    jti = new_jti()
    payload: AccessClaims = {
        "_id": user_id,
        "email": email,
        "username": username,
        "fullName": full_name,
        "sid": session_id,
        "ver": token_version,
        "jti": jti,
        "iat": iat,
        "exp": exp,
        "iss": settings.issuer,
        "aud": settings.audience,
    }
    token = jwt.encode(
        dict(payload),
        settings.access_secret,
        algorithm=settings.algorithm,
        headers={"typ": ACCESS_TYP},
    )
    return IssuedToken(token=token, jti=jti, expires_at=exp)


def issue_refresh(
    settings: Settings,
    *,
    user_id: str,
    session_id: str,
    now: float,
    jti: str | None = None,
    not_after: int | None = None,
) -> IssuedToken:
    """Sign a refresh token valid for ``settings.refresh_ttl``, never past ``not_after``.

    ``jti`` is passed in when the store must record it before the token exists (rotation).
    """
    iat = int(now)
    exp = iat + settings.refresh_ttl
    if not_after is not None:
        exp = min(exp, not_after)
    jti = jti or new_jti()
    payload: RefreshClaims = {
        "_id": user_id,
        "sid": session_id,
        "jti": jti,
        "iat": iat,
        "exp": exp,
        "iss": settings.issuer,
        "aud": settings.audience,
    }
    token = jwt.encode(
        dict(payload),
        settings.refresh_secret,
        algorithm=settings.algorithm,
        headers={"typ": REFRESH_TYP},
    )
    return IssuedToken(token=token, jti=jti, expires_at=exp)


_ACCESS_FIELDS: dict[str, type] = {
    "_id": str,
    "email": str,
    "username": str,
    "fullName": str,
    "sid": str,
    "ver": int,
    "jti": str,
    "iat": int,
    "exp": int,
}
_REFRESH_FIELDS: dict[str, type] = {"_id": str, "sid": str, "jti": str, "iat": int, "exp": int}

# PyJWT checks signature, algorithm, iss and aud; the time claims are ours (see module docstring).
_OPTIONS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_iss": True,
    "verify_aud": True,
    "strict_aud": True,
    "require": ["exp", "iat", "iss", "aud", "jti"],
}


def _same_typ(actual: object, expected: str) -> bool:
    # RFC 7515 §4.1.9: "typ" values are case-insensitive, and the "application/" prefix may be
    # omitted (and should be, per RFC 9068 §2.1's "at+jwt").
    if not isinstance(actual, str):
        return False
    actual = actual.lower()
    if actual.startswith("application/"):
        actual = actual[len("application/") :]
    return actual == expected


#: Longer tokens are refused before any decoding. Ours are about 400-600 characters; the cap
#: bounds the work a hostile token can cause (issue 8) and sits far above any real one.
MAX_TOKEN_CHARS = 8192
#: RFC 7493 (I-JSON) §2.2: integers outside ±(2**53 - 1) do not survive every JSON parser; a
#: claim outside it also cannot be stored (SQLite integers are 64-bit: issue 8, a huge "ver"
#: was a 500).
MAX_CLAIM_INT = 2**53 - 1
#: No string claim of ours is anywhere near this long (ids, email, names, jti).
MAX_CLAIM_CHARS = 1024

#: RFC 7515 §7.1 compact serialization: three base64url segments (RFC 7515 §2: no padding, no
#: "+" or "/"). PyJWT's decoder is lenient about "=" padding, so the shape is checked first.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _decode(settings: Settings, token: str, *, key: str, typ: str, now: float) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise InvalidToken("no token")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken(f"token longer than {MAX_TOKEN_CHARS} characters")
    payload = dict(_verified(token, key, typ, settings.algorithm, settings.audience, settings.issuer))
    # Time is checked on every use, never cached. RFC 7519 §4.1.4: "the current date/time MUST
    # be before the expiration date/time".
    if now >= payload["exp"]:
        raise InvalidToken("token expired", expired=True)
    # A token issued in the future was not issued by this server's clock (1 s of slack: ``iat``
    # is whole seconds and another thread's clock reading may be a hair behind).
    if payload["iat"] > now + 1:
        raise InvalidToken("token issued in the future")
    # RFC 7519 §4.1.5: "The "nbf" (not before) claim identifies the time before which the JWT
    # MUST NOT be accepted for processing." We never issue one, but one that verifies is
    # honoured exactly (issue 8), with no leeway: a clock of ours issued nothing with it.
    if "nbf" in payload and now < payload["nbf"]:
        raise InvalidToken("token not valid yet (nbf)")
    return payload


#: Verified tokens kept for reuse: a client presents the same access token on every request of
#: its lifetime, and PyJWT's decode is most of a request's cost. Only tokens that passed every
#: check are cached (lru_cache does not cache exceptions), keyed by the token AND the key and
#: rules that verified it; expiry is re-checked on every use and revocation is the store's
#: question, asked on every request, so a cached signature check never outlives its token.
@functools.lru_cache(maxsize=4096)
def _verified(token: str, key: str, typ: str, algorithm: str, audience: str, issuer: str) -> dict[str, Any]:
    if _COMPACT_JWS.fullmatch(token) is None:
        raise InvalidToken("not a compact JWS (three unpadded base64url segments)")
    try:
        decoded = jwt.decode_complete(
            token,
            key,
            # RFC 8725 §3.1: the verifier decides the algorithm, never the token; "none" and any
            # other algorithm than the configured one are refused here.
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options=_OPTIONS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        # Garbage must never become a 500. RecursionError: a header or payload nested
        # thousands of levels deep makes json.loads recurse past the limit (issue 8), and PyJWT
        # only turns ValueError into DecodeError.
        raise InvalidToken(f"undecodable token: {type(exc).__name__}") from None
    header = decoded["header"]
    if not _same_typ(header.get("typ"), typ):
        # RFC 8725 §3.11: explicit typing stops a token of one kind being used as another.
        raise InvalidToken(f"wrong token type {header.get('typ')!r}, expected {typ!r}")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extensions, so any "crit" must be rejected.
        raise InvalidToken("unsupported critical header parameters")
    payload: dict[str, Any] = decoded["payload"]
    for name, kind in (_ACCESS_FIELDS if typ == ACCESS_TYP else _REFRESH_FIELDS).items():
        value = payload.get(name)
        # bool is an int subclass; a JSON true is never a valid time or version
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidToken(f"claim {name!r} missing or not a {kind.__name__}")
        _check_bounds(name, value)
    if "nbf" in payload:
        nbf = payload["nbf"]
        # RFC 7519 §4.1.5: a NumericDate, i.e. a JSON number.
        if not isinstance(nbf, (int, float)) or isinstance(nbf, bool) or not -MAX_CLAIM_INT <= nbf <= MAX_CLAIM_INT:
            raise InvalidToken("claim 'nbf' is not a NumericDate")
    return payload


def _check_bounds(name: str, value: object) -> None:
    """Refuse claim values this server cannot process, even in a token signed with its key
    (issue 8: an oversized ``ver`` and a lone-surrogate ``jti`` were 500s in the store)."""
    if isinstance(value, int) and not 0 <= value <= MAX_CLAIM_INT:
        raise InvalidToken(f"claim {name!r} out of range")
    if isinstance(value, str):
        if len(value) > MAX_CLAIM_CHARS:
            raise InvalidToken(f"claim {name!r} too long")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # RFC 8259 §8.2: an unpaired surrogate is not Unicode text.
            raise InvalidToken(f"claim {name!r} is not valid Unicode") from None


def decode_access(settings: Settings, token: str, *, now: float) -> AccessClaims:
    """Verify an access token completely and return its claims; raise :class:`InvalidToken`."""
    payload = _decode(
        settings,
        token,
        key=settings.access_secret,
        typ=ACCESS_TYP,
        now=now,
    )
    return payload  # type: ignore[return-value]  # shape checked field by field above


def decode_refresh(settings: Settings, token: str, *, now: float) -> RefreshClaims:
    """Verify a refresh token's signature, type, iss, aud and time; raise :class:`InvalidToken`.

    Whether the token is still its session's current one is the store's question, not this one.
    """
    payload = _decode(
        settings,
        token,
        key=settings.refresh_secret,
        typ=REFRESH_TYP,
        now=now,
    )
    return payload  # type: ignore[return-value]  # shape checked field by field above
