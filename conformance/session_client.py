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
travel)::

    session = TokenSession("https://api.example.com", profile="simplejwt", on_tokens=save)
    session.login("alice@example.com", password)
    session.get("/api/profile")          # relative URLs resolve against the base URL
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.cookies import RequestsCookieJar

from .evidence import decode_unverified
from .profile import Endpoint, Profile, load_profile

__all__ = ["RefreshUnavailable", "SessionExpired", "TokenSession", "Tokens"]


class SessionExpired(Exception):
    """The session is over: the refresh was refused (or there is no refresh token). Log in again."""

    def __init__(self, message: str, *, response: requests.Response | None = None) -> None:
        super().__init__(message)
        #: the refresh endpoint's answer, when there was one
        self.response = response

    def __str__(self) -> str:
        status = f" (HTTP {self.response.status_code})" if self.response is not None else ""
        return f"{self.args[0]}{status}"


class RefreshUnavailable(Exception):
    """The refresh endpoint could not answer now (5xx, 429 beyond the wait budget); the session
    may still be alive and the next call tries again."""

    def __init__(self, message: str, *, response: requests.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


@dataclass(frozen=True)
class Tokens:
    """The current pair. ``repr`` never shows a token."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    #: ``exp`` of the access token (unverified; epoch seconds), if it is a JWT with one
    access_expires_at: float | None = None
    #: ``exp - iat`` of the access token, if known
    access_lifetime: float | None = None


class _NoCookies(RequestsCookieJar):
    """A jar that keeps nothing: tokens in cookies are handled explicitly, so a refresh cookie
    with ``Path=/`` can never ride along to a resource endpoint."""

    def set_cookie(self, cookie: Any, *args: Any, **kwargs: Any) -> None:
        return None


class TokenSession(requests.Session):
    """See the module docstring.

    Args:
        base_url: the API's origin (and base path); relative URLs resolve against it.
        profile: a built-in profile name, a TOML file, or a loaded ``Profile``.
        tokens: a pair persisted earlier (e.g. by ``on_tokens``) to resume a session.
        on_tokens: called with the new pair after login and each refresh, and with ``None`` when
            the session ends; it runs under the refresh lock, so calls arrive in order.
        refresh_margin: seconds before ``exp`` to refresh proactively (None: only on 401).
        max_retry_after: longest ``Retry-After`` (seconds) waited out; a longer one is returned.
        retry_after_attempts: how many 429/503 answers in a row are waited out per request.
    """

    def __init__(
        self,
        base_url: str,
        profile: Profile | str = "reference",
        *,
        tokens: Tokens | None = None,
        on_tokens: Callable[[Tokens | None], None] | None = None,
        refresh_margin: float | None = None,
        max_retry_after: float = 30.0,
        retry_after_attempts: int = 2,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.on_tokens = on_tokens
        self.refresh_margin = refresh_margin
        self.max_retry_after = max_retry_after
        self.retry_after_attempts = retry_after_attempts
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self.cookies = _NoCookies()
        self._origin = _origin(self.base_url)
        self._lock = threading.Lock()  # the single-flight refresh lock
        self._tokens = tokens
        self._generation = 0
        self._ended: SessionExpired | None = None

    # ---------------------------------------------------------------- public API

    @property
    def tokens(self) -> Tokens | None:
        return self._tokens

    def login(self, username: str, password: str) -> Tokens:
        """Log in with the profile's login endpoint; raises ``SessionExpired`` if refused."""
        spec = self.profile.login
        fields = {spec.username_field: username, spec.password_field: password, **spec.extra}
        response = self._send_raw(spec.endpoint, fields=fields)
        if response.status_code not in spec.endpoint.success_status:
            raise SessionExpired("login refused", response=response)
        tokens = self._tokens_from(response, previous=None)
        if tokens is None:
            raise SessionExpired("login answered without an access token", response=response)
        with self._lock:
            self._replace(tokens)
        return tokens

    def refresh(self) -> Tokens:
        """Refresh now (single-flight with any refresh already under way)."""
        return self._refresh_after(self._generation)

    def logout(self) -> requests.Response | None:
        """End the session at the server (if the profile has a logout endpoint) and forget it."""
        spec = self.profile.logout
        tokens = self._tokens
        response = None
        if spec is not None and tokens is not None:
            token = tokens.refresh_token if spec.token == "refresh" else tokens.access_token
            if token:
                headers, fields = self._present(token, spec.present, spec.field, cookie=self._cookie_for(spec.token))
                response = self._send_raw(spec.endpoint, fields=fields, headers=headers)
        with self._lock:
            self._end(SessionExpired("logged out"))
        return response

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """``requests.Session.request`` with the access token attached and refresh handled."""
        if args:
            raise TypeError("TokenSession.request takes its options by keyword (params=, json=, headers=, ...)")
        method = method.decode() if isinstance(method, bytes) else method
        absolute = urljoin(self.base_url, url.decode() if isinstance(url, bytes) else url)
        kwargs.setdefault("timeout", self.timeout)
        ours = _origin(absolute) == self._origin
        if ours and self._ended is not None and not self._is_open_url(absolute):
            raise self._ended  # no request with a dead session's tokens, and none without them
        if not ours or self._is_refresh_url(absolute) or self._tokens is None:
            # Not our API, the refresh endpoint itself, or nothing to attach.
            return self._with_retry_after(lambda: super(TokenSession, self).request(method, absolute, **kwargs))
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

    # ---------------------------------------------------------------- refresh

    def _due(self, tokens: Tokens) -> bool:
        if self.refresh_margin is None or tokens.access_expires_at is None or not tokens.refresh_token:
            return False
        margin = self.refresh_margin
        if tokens.access_lifetime:
            # Never more than half the lifetime: a margin longer than the token lives would
            # refresh before every single call (a refresh storm).
            margin = min(margin, tokens.access_lifetime / 2)
        return self._clock() >= tokens.access_expires_at - margin

    def _proactive(self, generation: int) -> tuple[int, Tokens]:
        try:
            tokens = self._refresh_after(generation)
        except RefreshUnavailable:
            current = self._tokens
            assert current is not None
            return generation, current  # the access token is still valid: use it
        return self._generation, tokens

    def _refresh_after(self, generation: int) -> Tokens:
        """Single-flight: the first caller with ``generation`` refreshes; callers that waited on
        the lock meanwhile find a newer generation and use its tokens without a request."""
        with self._lock:
            if self._ended is not None:
                raise self._ended
            if self._generation != generation and self._tokens is not None:
                return self._tokens
            tokens = self._tokens
            if tokens is None or not tokens.refresh_token:
                raise SessionExpired("no refresh token: log in again")
            response = self._refresh_request(tokens.refresh_token)
            spec = self.profile.refresh.endpoint
            if response.status_code in spec.success_status:
                new = self._tokens_from(response, previous=tokens)
                if new is None:
                    raise RefreshUnavailable("refresh answered without an access token", response=response)
                self._replace(new)
                return new
            if response.status_code == 429 or response.status_code >= 500:
                raise RefreshUnavailable("refresh endpoint unavailable", response=response)
            # 401 (or the profile's rejection status): expired, revoked, or reuse detected. Never
            # retried: the same token would be refused again, and a replay may look like reuse.
            ended = SessionExpired("refresh refused: the session has ended, log in again", response=response)
            self._end(ended)
            raise ended

    def _replace(self, tokens: Tokens) -> None:
        """Swap in the new pair (caller holds the lock). RFC 6749 §6: the old refresh token is
        discarded in the same step, so no thread can pick it up afterwards."""
        self._tokens = tokens
        self._generation += 1
        self._ended = None
        if self.on_tokens is not None:
            self.on_tokens(tokens)

    def _end(self, ended: SessionExpired) -> None:
        self._tokens = None
        self._generation += 1
        self._ended = ended
        if self.on_tokens is not None:
            self.on_tokens(None)

    def _refresh_request(self, refresh_token: str) -> requests.Response:
        spec = self.profile.refresh
        headers, fields = self._present(
            refresh_token, spec.present, spec.field, cookie=self.profile.tokens_refresh.cookie
        )
        return self._send_raw(spec.endpoint, fields={**spec.extra, **fields}, headers=headers)

    # ---------------------------------------------------------------- sending

    def _authorised(self, method: str, url: str, tokens: Tokens, kwargs: dict[str, Any]) -> requests.Response:
        call = dict(kwargs)  # the caller's kwargs stay untouched for the retry
        headers = dict(call.pop("headers", None) or {})
        present = self.profile.protected.present
        if "bearer" in present or not self.profile.tokens_access.cookie:
            headers["Authorization"] = f"Bearer {tokens.access_token}"
        else:
            access_cookie = self.profile.tokens_access.cookie
            headers["Cookie"] = _cookie_header(headers.get("Cookie"), access_cookie, tokens.access_token)
        return self._with_retry_after(lambda: super(TokenSession, self).request(method, url, headers=headers, **call))

    def _with_retry_after(self, send: Callable[[], requests.Response]) -> requests.Response:
        """RFC 9110 §10.2.3 / RFC 6585 §4: wait out a bounded Retry-After on 429 and 503."""
        response = send()
        for _ in range(self.retry_after_attempts):
            if response.status_code not in (429, 503):
                break
            delay = _retry_after(response.headers.get("Retry-After"), self._clock())
            if delay is None or delay > self.max_retry_after:
                break
            response.close()
            self._sleep(delay)
            response = send()
        return response

    def _send_raw(
        self, endpoint: Endpoint, *, fields: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        url = urljoin(self.base_url, endpoint.path.lstrip("/"))
        body: dict[str, Any] = {"data": dict(fields)} if endpoint.encoding == "form" else {"json": dict(fields)}
        if not fields and endpoint.method == "GET":
            body = {}
        return self._with_retry_after(
            lambda: super(TokenSession, self).request(
                endpoint.method, url, headers=dict(headers or {}), timeout=self.timeout, **body
            )
        )

    def _present(
        self, token: str, present: tuple[str, ...], field_name: str, *, cookie: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and body fields presenting ``token`` the first way the profile allows."""
        for how in present:
            if how == "body":
                return {}, {field_name: token}
            if how == "cookie" and cookie:
                return {"Cookie": f"{cookie}={token}"}, {}
            if how == "bearer":
                return {"Authorization": f"Bearer {token}"}, {}
        return {}, {field_name: token}

    def _cookie_for(self, kind: str) -> str:
        return self.profile.tokens_refresh.cookie if kind == "refresh" else self.profile.tokens_access.cookie

    def _is_open_url(self, url: str) -> bool:
        """Login and registration work without a session."""
        open_paths = [self.profile.login.endpoint.path]
        if self.profile.register is not None:
            open_paths.append(self.profile.register.endpoint.path)
        return urlsplit(url).path.rstrip("/") in {
            urlsplit(urljoin(self.base_url, p.lstrip("/"))).path.rstrip("/") for p in open_paths
        }

    def _is_refresh_url(self, url: str) -> bool:
        refresh = urljoin(self.base_url, self.profile.refresh.endpoint.path.lstrip("/"))
        return urlsplit(url).path.rstrip("/") == urlsplit(refresh).path.rstrip("/")

    # ---------------------------------------------------------------- reading tokens

    def _tokens_from(self, response: requests.Response, *, previous: Tokens | None) -> Tokens | None:
        access = self._read(response, self.profile.tokens_access.json, self.profile.tokens_access.cookie)
        if not access:
            return None
        refresh = self._read(response, self.profile.tokens_refresh.json, self.profile.tokens_refresh.cookie)
        if not refresh and previous is not None:
            refresh = previous.refresh_token  # a server that does not rotate keeps the old one valid
        expires_at = lifetime = None
        decoded = decode_unverified(access)
        if decoded is not None:
            claims = decoded[1]
            if isinstance(claims.get("exp"), (int, float)):
                expires_at = float(claims["exp"])
                if isinstance(claims.get("iat"), (int, float)):
                    lifetime = expires_at - float(claims["iat"])
        return Tokens(access, refresh or None, expires_at, lifetime)

    @staticmethod
    def _read(response: requests.Response, json_path: str, cookie: str) -> str | None:
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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _cookie_header(existing: str | None, name: str, value: str) -> str:
    return f"{existing}; {name}={value}" if existing else f"{name}={value}"


def _retry_after(value: str | None, now: float) -> float | None:
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
