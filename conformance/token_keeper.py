"""The token state behind the client helpers: one session of one API, as a profile describes it.

:class:`TokenKeeper` holds the pair (with the double-submit CSRF values issued alongside it),
refreshes single-flight, reads tokens from login/refresh answers and presents them the way the
profile says (Bearer or cookie, CSRF header, OAuth 2.0 client authentication). Both
``TokenSession`` (a ``requests.Session``) and ``TokenAuth`` (a ``requests.auth.AuthBase``) are
keepers; they differ only in how a request reaches the network (:meth:`TokenKeeper._transport`).
The pure parts (the pair, reading answers, header values) are in token_wire.py.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from .profile import Endpoint, Profile, load_profile
from .token_wire import Tokens, basic_authorization, cookie_header, origin, retry_after, tokens_from

__all__ = ["SAFE_METHODS", "RefreshUnavailable", "SessionExpired", "TokenKeeper", "Tokens"]

#: RFC 9110 §9.2.1 safe methods: a double-submit CSRF header is only needed on the others.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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


class TokenKeeper(ABC):
    """Token state, single-flight refresh and the profile's presentation rules, for one session.

    Args:
        base_url: the API's origin (and base path); relative URLs resolve against it.
        profile: a built-in profile name, a TOML file, or a loaded ``Profile``.
        tokens: a pair persisted earlier (e.g. by ``on_tokens``) to resume a session.
        on_tokens: called with the new pair after login and each refresh, and with ``None`` when
            the session ends; it runs under the refresh lock, so calls arrive in order.
        refresh_margin: seconds before ``exp`` to refresh proactively (None: only on 401).
        client_id, client_secret: OAuth 2.0 client credentials for endpoints whose profile
            ``client_auth`` is "basic" or "body" (required then; the secret is never shown).
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
        client_id: str | None = None,
        client_secret: str | None = None,
        max_retry_after: float = 30.0,
        retry_after_attempts: int = 2,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)
        self.on_tokens = on_tokens
        self.refresh_margin = refresh_margin
        self.client_id = client_id
        self._client_secret = client_secret
        self.max_retry_after = max_retry_after
        self.retry_after_attempts = retry_after_attempts
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._origin = origin(self.base_url)
        self._lock = threading.Lock()  # the single-flight refresh lock
        self._tokens = tokens
        self._generation = 0
        self._ended: SessionExpired | None = None
        self._check_client_credentials()

    def __repr__(self) -> str:
        client = f", client_id={self.client_id!r}" if self.client_id is not None else ""
        return f"{type(self).__name__}({self.base_url!r}, profile={self.profile.name!r}{client})"

    @abstractmethod
    def _transport(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request as is (no token attached, no refresh): the keeper's own requests."""

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
        """End the session at the server (if the profile has a logout endpoint) and forget it.

        With ``semantics = "rfc7009"`` the endpoint is a revocation endpoint (RFC 7009 §2.1:
        ``token`` plus the profile's ``extra`` such as ``token_type_hint``, client authenticated).
        """
        spec = self.profile.logout
        tokens = self._tokens
        response = None
        if spec is not None and tokens is not None:
            token = tokens.refresh_token if spec.token == "refresh" else tokens.access_token
            if token:
                headers, fields = self._present(
                    token, spec.present, spec.field, cookie=self._cookie_for(spec.token),
                    csrf=self._csrf_value(spec.token, tokens), method=spec.endpoint.method,
                )  # fmt: skip
                response = self._send_raw(spec.endpoint, fields={**spec.extra, **fields}, headers=headers)
        with self._lock:
            self._end(SessionExpired("logged out"))
        return response

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
            response = self._refresh_request(tokens)
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

    def _refresh_request(self, tokens: Tokens) -> requests.Response:
        spec = self.profile.refresh
        assert tokens.refresh_token is not None
        headers, fields = self._present(
            tokens.refresh_token, spec.present, spec.field, cookie=self.profile.tokens_refresh.cookie,
            csrf=tokens.refresh_csrf, method=spec.endpoint.method,
        )  # fmt: skip
        return self._send_raw(spec.endpoint, fields={**spec.extra, **fields}, headers=headers)

    # ---------------------------------------------------------------- presenting

    def _attach(self, headers: MutableMapping[str, str], method: str, tokens: Tokens) -> None:
        """Present the access token on a request to the API, in place (a retry calls it again)."""
        present = self.profile.protected.present
        cookie = self.profile.tokens_access.cookie
        if "bearer" in present or not cookie:
            headers["Authorization"] = f"Bearer {tokens.access_token}"
            return
        headers["Cookie"] = cookie_header(headers.get("Cookie"), cookie, tokens.access_token)
        csrf = self.profile.csrf
        # A cookie is ambient authority, so state-changing requests prove they were written by
        # this client by echoing the CSRF cookie's value (the double-submit pattern).
        if csrf is not None and tokens.access_csrf and method.upper() not in SAFE_METHODS:
            headers[csrf.header] = tokens.access_csrf

    def _present(
        self, token: str, present: tuple[str, ...], field_name: str, *, cookie: str,
        csrf: str | None = None, method: str = "POST",
    ) -> tuple[dict[str, str], dict[str, str]]:  # fmt: skip
        """Headers and body fields presenting ``token`` the first way the profile allows."""
        for how in present:
            if how == "body":
                return {}, {field_name: token}
            if how == "cookie" and cookie:
                headers = {"Cookie": f"{cookie}={token}"}
                if self.profile.csrf is not None and csrf and method.upper() not in SAFE_METHODS:
                    headers[self.profile.csrf.header] = csrf
                return headers, {}
            if how == "bearer":
                return {"Authorization": f"Bearer {token}"}, {}
        return {}, {field_name: token}

    def _csrf_value(self, kind: str, tokens: Tokens) -> str | None:
        return tokens.refresh_csrf if kind == "refresh" else tokens.access_csrf

    def _cookie_for(self, kind: str) -> str:
        return self.profile.tokens_refresh.cookie if kind == "refresh" else self.profile.tokens_access.cookie

    def _check_client_credentials(self) -> None:
        """Refuse, before any request, a profile that authenticates the client without an id."""
        if self.client_id is not None:
            return
        for name, spec in self._endpoints():
            if spec.client_auth != "none":
                raise ValueError(
                    f"profile {self.profile.name!r} authenticates the client at [{name}] "
                    f"(client_auth = {spec.client_auth!r}): pass client_id= (and client_secret=)"
                )

    def _endpoints(self) -> list[tuple[str, Endpoint]]:
        found = [("login", self.profile.login.endpoint), ("refresh", self.profile.refresh.endpoint)]
        for name, spec in (("logout", self.profile.logout), ("logout_all", self.profile.logout_all)):
            if spec is not None:
                found.append((name, spec.endpoint))
        return found

    def _client_auth(self, endpoint: Endpoint, headers: MutableMapping[str, str], fields: dict[str, str]) -> None:
        """OAuth 2.0 client authentication (RFC 6749 §2.3.1) as the endpoint's profile says."""
        if endpoint.client_auth == "none" or self.client_id is None:
            return
        if endpoint.client_auth == "basic":
            headers["Authorization"] = basic_authorization(self.client_id, self._client_secret or "")
        else:
            fields["client_id"] = self.client_id
            if self._client_secret is not None:  # a public client sends its id alone (§3.2.1)
                fields["client_secret"] = self._client_secret

    # ---------------------------------------------------------------- sending

    def _send_raw(
        self, endpoint: Endpoint, *, fields: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        url = urljoin(self.base_url, endpoint.path.lstrip("/"))
        outgoing: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
        values = dict(fields)
        self._client_auth(endpoint, outgoing, values)
        body: dict[str, Any] = {"data": values} if endpoint.encoding == "form" else {"json": values}
        if not values and endpoint.method == "GET":
            body = {}
        return self._with_retry_after(
            lambda: self._transport(endpoint.method, url, headers=outgoing, timeout=self.timeout, **body)
        )

    def _with_retry_after(self, send: Callable[[], requests.Response]) -> requests.Response:
        """RFC 9110 §10.2.3 / RFC 6585 §4: wait out a bounded Retry-After on 429 and 503."""
        response = send()
        for _ in range(self.retry_after_attempts):
            if response.status_code not in (429, 503):
                break
            delay = retry_after(response.headers.get("Retry-After"), self._clock())
            if delay is None or delay > self.max_retry_after:
                break
            response.close()
            self._sleep(delay)
            response = send()
        return response

    def _ours(self, url: str) -> bool:
        return origin(url) == self._origin

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
        return tokens_from(self.profile, response, previous=previous)
