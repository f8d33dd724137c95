"""A ``requests`` session for access/refresh-token APIs that gets refresh right.

``TokenSession`` attaches the access token to requests for its API (never to another origin);
on a 401 it refreshes once and retries once; concurrent 401s across threads share ONE refresh
(single-flight); the rotated refresh token replaces the old one atomically (RFC 6749 §6: "the
client MUST discard the old refresh token") and ``on_tokens`` lets the application persist it; a
refused refresh (expired, revoked, reuse detected) raises :class:`SessionExpired` and is never
retried; the refresh token goes only to the refresh endpoint; 429/503 answers with a bounded
``Retry-After`` are waited out and retried. An optional ``refresh_margin`` refreshes shortly
before the access token's ``exp`` (capped at half its lifetime, so it cannot storm).

Any API a profile describes works (``tokenconform.profile``: paths, body fields, where tokens
travel, double-submit CSRF, OAuth 2.0 client authentication)::

    session = TokenSession("https://api.example.com", profile="simplejwt", on_tokens=save)
    session.login("alice@example.com", password)
    session.get("/api/profile")          # relative URLs resolve against the base URL

The same guarantees for any ``requests`` call or session, as an auth object::

    auth = TokenAuth("https://auth.example.com", profile="oauth2", client_id="app", client_secret=secret)
    auth.login("alice", password)
    requests.get("https://auth.example.com/userinfo", auth=auth)

Both keep their tokens in :class:`~tokenconform.token_keeper.TokenKeeper` (one implementation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from .profile import Profile
from .token_auth import TokenAuth
from .token_keeper import RefreshUnavailable, SessionExpired, TokenKeeper, Tokens

__all__ = ["RefreshUnavailable", "SessionExpired", "TokenAuth", "TokenKeeper", "TokenSession", "Tokens"]


class _NoCookies(RequestsCookieJar):
    """A jar that keeps nothing: tokens in cookies are handled explicitly, so a refresh cookie
    with ``Path=/`` can never ride along to a resource endpoint."""

    def set_cookie(self, cookie: Any, *args: Any, **kwargs: Any) -> None:
        return None


class TokenSession(TokenKeeper, requests.Session):
    """See the module docstring; the arguments are :class:`TokenKeeper`'s."""

    def __init__(
        self,
        base_url: str,
        profile: Profile | str = "reference",
        *,
        tokens: Tokens | None = None,
        on_tokens: Callable[[Tokens | None], None] | None = None,
        refresh_margin: float | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        max_retry_after: float = 30.0,
        retry_after_attempts: int = 2,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        requests.Session.__init__(self)
        TokenKeeper.__init__(
            self, base_url, profile, tokens=tokens, on_tokens=on_tokens, refresh_margin=refresh_margin,
            client_id=client_id, client_secret=client_secret, max_retry_after=max_retry_after,
            retry_after_attempts=retry_after_attempts, timeout=timeout, clock=clock, sleep=sleep,
        )  # fmt: skip
        self.cookies = _NoCookies()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """``requests.Session.request`` with the access token attached and refresh handled."""
        if args:
            raise TypeError("TokenSession.request takes its options by keyword (params=, json=, headers=, ...)")
        method = method.decode() if isinstance(method, bytes) else method
        absolute = urljoin(self.base_url, url.decode() if isinstance(url, bytes) else url)
        kwargs.setdefault("timeout", self.timeout)
        ours = self._ours(absolute)
        if ours and self._ended is not None and not self._is_open_url(absolute):
            raise self._ended  # no request with a dead session's tokens, and none without them
        if not ours or self._is_refresh_url(absolute) or self._tokens is None:
            # Not our API, the refresh endpoint itself, or nothing to attach.
            return self._with_retry_after(lambda: self._transport(method, absolute, **kwargs))
        generation, tokens = self._generation, self._tokens
        if self._due(tokens):
            generation, tokens = self._proactive(generation)
        response = self._authorised(method, absolute, tokens, kwargs)
        if response.status_code != 401:
            return response
        # RFC 6750 §3.1: 401 invalid_token. Refresh once (or wait for the refresh another thread
        # started with the same token) and retry once; a second 401 is the caller's answer.
        tokens = self._refresh_after(generation)
        return self._authorised(method, absolute, tokens, kwargs)

    def _authorised(self, method: str, url: str, tokens: Tokens, kwargs: dict[str, Any]) -> requests.Response:
        call = dict(kwargs)  # the caller's kwargs stay untouched for the retry
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(call.pop("headers", None) or {})
        self._attach(headers, method, tokens)
        return self._with_retry_after(lambda: self._transport(method, url, headers=headers, **call))

    def _transport(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return requests.Session.request(self, method, url, **kwargs)
