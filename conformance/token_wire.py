"""How tokens travel for the client helpers: the pair, read from answers, written into headers.

Pure functions over a profile and a ``requests`` response: reading tokens and CSRF values from
JSON bodies and raw ``Set-Cookie`` lines, editing a ``Cookie`` header, the OAuth 2.0 Basic
client credentials, and the ``Retry-After`` delay. No state and no I/O (token_keeper.py has those).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .evidence import decode_unverified
from .profile import Profile

__all__ = ["Tokens", "basic_authorization", "cookie_header", "origin", "read_token", "retry_after", "tokens_from"]


@dataclass(frozen=True)
class Tokens:
    """The current pair. ``repr`` never shows a token or a CSRF value."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    #: ``exp`` of the access token (unverified; epoch seconds), if it is a JWT with one
    access_expires_at: float | None = None
    #: ``exp - iat`` of the access token, if known
    access_lifetime: float | None = None
    #: the double-submit CSRF values issued with each token (profile ``[csrf]``); they rotate
    #: with the tokens, so they live in the same immutable pair and are swapped in the same step
    access_csrf: str | None = field(default=None, repr=False)
    refresh_csrf: str | None = field(default=None, repr=False)


def tokens_from(profile: Profile, response: requests.Response, *, previous: Tokens | None) -> Tokens | None:
    """The pair a login (``previous=None``) or refresh answer delivers; None without an access token."""
    access = read_token(response, profile.tokens_access.json, profile.tokens_access.cookie)
    if not access:
        return None
    refresh = read_token(response, profile.tokens_refresh.json, profile.tokens_refresh.cookie)
    if not refresh and previous is not None:
        refresh = previous.refresh_token  # a server that does not rotate keeps the old one valid
    access_csrf = refresh_csrf = None
    csrf = profile.csrf
    if csrf is not None:
        access_csrf = read_token(response, "", csrf.access_cookie) if csrf.access_cookie else None
        refresh_csrf = read_token(response, "", csrf.refresh_cookie) if csrf.refresh_cookie else None
        if previous is not None:
            # A refresh that issues no new refresh token (flask-jwt-extended's documented one)
            # sets no new refresh CSRF cookie either: the old value still goes with the old token.
            access_csrf = access_csrf or previous.access_csrf
            refresh_csrf = refresh_csrf or previous.refresh_csrf
    expires_at = lifetime = None
    decoded = decode_unverified(access)
    if decoded is not None:
        claims = decoded[1]
        if isinstance(claims.get("exp"), (int, float)):
            expires_at = float(claims["exp"])
            if isinstance(claims.get("iat"), (int, float)):
                lifetime = expires_at - float(claims["iat"])
    return Tokens(access, refresh or None, expires_at, lifetime, access_csrf, refresh_csrf)


def read_token(response: requests.Response, json_path: str, cookie: str) -> str | None:
    if json_path:
        try:
            value: Any = response.json()
        except ValueError:
            value = None
        for part in json_path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            return value
    if cookie:
        # Raw Set-Cookie lines: the joined header is ambiguous (Expires holds a comma).
        raw = getattr(response.raw, "headers", None)
        lines = raw.getlist("Set-Cookie") if raw is not None and hasattr(raw, "getlist") else []
        for line in lines:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0].strip()
            if name.strip() == cookie and value:
                return str(value)
    return None


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def cookie_header(existing: str | None, name: str, value: str) -> str:
    """``existing`` with ``name`` set to ``value``: a retry replaces the stale token, never adds a second."""
    pairs = [p.strip() for p in (existing or "").split(";") if p.strip()]
    kept = [p for p in pairs if p.partition("=")[0].strip() != name]
    return "; ".join([*kept, f"{name}={value}"])


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or an HTTP-date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value for client_secret_basic (RFC 6749 §2.3.1).

    The id and secret are form-urlencoded before they become the Basic user-id and password, so
    a ':' in the id cannot shift the split. quote() writes a space as %20, which decoders using
    unquote() (Authlib) and unquote_plus() both read back as a space.
    """
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
