"""``TokenAuth``: the client helper as a ``requests.auth.AuthBase``, for any ``requests`` call or session.

``requests.get(url, auth=auth)`` or ``session.auth = auth`` on a plain ``requests.Session``: the
access token goes only to the API's origin (never to the refresh endpoint, never to another
origin), the refresh token only to the refresh endpoint. A 401 is answered by one refresh,
single-flight across threads and across every request using the same auth object, and one
resend through ``response.connection.send`` with the 401 kept in ``history`` (the pattern of
``requests.auth.HTTPDigestAuth.handle_401``); a refused refresh raises ``SessionExpired``.

Login, refresh and logout go through the auth object's own cookie-less session, so a refresh
cookie never lands in the caller's jar. A 429 or 503 with a bounded ``Retry-After`` is waited out
and resent (at most ``retry_after_attempts`` times) on those requests and on the caller's alike.
"""

from __future__ import annotations

import http.cookiejar
import time
from collections.abc import Callable
from typing import Any

import requests
import requests.auth

from .profile import Profile
from .token_keeper import TokenKeeper, Tokens
from .token_wire import retry_after

__all__ = ["TokenAuth"]

_Hook = Callable[..., requests.Response]


class TokenAuth(TokenKeeper, requests.auth.AuthBase):
    """See the module docstring; the arguments are :class:`~tokenconform.token_keeper.TokenKeeper`'s.

    One object is one session: share it between threads and sessions to share its refresh.
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
        TokenKeeper.__init__(
            self, base_url, profile, tokens=tokens, on_tokens=on_tokens, refresh_margin=refresh_margin,
            client_id=client_id, client_secret=client_secret, max_retry_after=max_retry_after,
            retry_after_attempts=retry_after_attempts, timeout=timeout, clock=clock, sleep=sleep,
        )  # fmt: skip
        self._http = requests.Session()
        # The keeper reads tokens from raw Set-Cookie lines; a jar would send them back by itself.
        self._http.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))

    def close(self) -> None:
        """Close the connection pool of the auth object's own requests (login, refresh, logout)."""
        self._http.close()

    def __enter__(self) -> TokenAuth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transport(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self._http.request(method, url, **kwargs)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        if not self._ours(url):
            return request  # another origin never sees a token
        if self._ended is not None and not self._is_open_url(url):
            raise self._ended  # no request with a dead session's tokens, and none without them
        if self._is_refresh_url(url) or self._tokens is None:
            return request
        generation, tokens = self._generation, self._tokens
        if self._due(tokens):
            generation, tokens = self._proactive(generation)
        self._attach(request.headers, request.method or "GET", tokens)
        tell = getattr(request.body, "tell", None)
        position = tell() if callable(tell) else None
        # What register_hook() does; the stubs leave register_hook untyped.
        request.hooks["response"].append(self._on_answer(request, generation, tokens, position))
        return request

    def _on_answer(
        self, sent: requests.PreparedRequest, generation: int, tokens: Tokens, position: int | None
    ) -> _Hook:
        """The response hook of one request: ``generation`` and ``tokens`` are the pair it presented."""

        def handle(response: requests.Response, **kwargs: Any) -> requests.Response:
            # Only the request this auth prepared: a redirect's copy lost the token cookie (requests
            # drops Cookie on redirect), so its 401 says nothing about the token's validity.
            if response.request is not sent:
                return response
            presented = tokens
            if response.status_code == 401:
                # RFC 6750 §3.1: 401 invalid_token. Refresh once (or take the pair another
                # request's refresh produced) and resend once; the second answer is the caller's,
                # 401 or not. Read the body first, so the connection goes back to the pool even
                # when the refresh raises.
                _drain(response)
                presented = self._refresh_after(generation)
                response = self._resend(response, sent, presented, position, kwargs)
            # RFC 9110 §10.2.3 / RFC 6585 §4: a bounded Retry-After is waited out, then resent.
            for _ in range(self.retry_after_attempts):
                if response.status_code not in (429, 503):
                    break
                delay = retry_after(response.headers.get("Retry-After"), self._clock())
                if delay is None or delay > self.max_retry_after:
                    break
                _drain(response)
                self._sleep(delay)
                response = self._resend(response, sent, self._tokens or presented, position, kwargs)
            return response

        return handle

    def _resend(
        self,
        previous: requests.Response,
        sent: requests.PreparedRequest,
        tokens: Tokens,
        position: int | None,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        retry = sent.copy()
        seek = getattr(retry.body, "seek", None)
        if position is not None and callable(seek):
            seek(position)  # a file body was consumed by the first send
        self._attach(retry.headers, retry.method or "GET", tokens)
        answer: requests.Response = previous.connection.send(retry, **kwargs)
        answer.history = [*previous.history, previous]
        answer.request = retry
        return answer


def _drain(response: requests.Response) -> None:
    """Hooks run before requests reads the body: read and release it before sending again."""
    response.content  # noqa: B018
    response.close()
