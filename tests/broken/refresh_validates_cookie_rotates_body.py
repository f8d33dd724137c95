"""/refresh with two different tokens checks the cookie's but issues for the body's (breaks RBS-03).

The guard and the rotation read different sources: the cookie token is checked to be its
session's current one (and not used up), then tokens are issued for the body token, which is never
checked. A used refresh token in the body, beside the valid one in the cookie, gets fresh tokens of
a new live branch, and the valid token it rode in with still refreshes afterwards. With one source,
or the used token in the cookie, it behaves as the reference does.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import refresh_cookie_name
from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.store import Outcome, SqliteStore
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import new_branch
from ._wsgi import REQUEST_BODY, Closing, rewrite


class _IssuesForUncheckedToken(SessionService):
    #: set for the one request whose cookie token passed the guard
    guarded = threading.local()

    def cookie_is_current(self, token: str) -> bool:
        try:
            claims = decode_refresh(self.settings, token, now=self.clock())
        except InvalidToken:
            return False
        outcome = self.store.check_reuse(
            session_id=claims["sid"], user_id=claims["_id"], jti=claims["jti"], now=self.clock()
        )
        return outcome is Outcome.OK

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        if not getattr(self.guarded, "value", False) or not refresh_token:
            return super().refresh(refresh_token)
        # The defect: the body token is trusted because the cookie token passed the check.
        try:
            claims = decode_refresh(self.settings, refresh_token, now=self.clock())
        except InvalidToken:
            raise Unauthorized("Invalid refresh token", invalid_token=True) from None
        return new_branch(self, claims["_id"], self.clock() + self.settings.session_max_age)


def _body_token(environ: dict[str, Any]) -> str | None:
    try:
        document = json.loads(environ.get(REQUEST_BODY) or b"{}")
    except ValueError:
        return None
    value = document.get("refreshToken") if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    owned = store is None
    store = store if store is not None else SqliteStore(settings.db_path)
    service = _IssuesForUncheckedToken(settings, store, clock=clock or time.time)
    app = reference_app(settings, service=service)
    name = refresh_cookie_name(settings)

    def guard_cookie_rotate_body(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/refresh":
            return app(environ, start_response)  # type: ignore[no-any-return]
        pairs = [p.strip().partition("=") for p in environ.get("HTTP_COOKIE", "").split(";")]
        cookie = next((value for key, sep, value in pairs if sep and key == name and value), None)
        body = _body_token(environ)
        if cookie is None or body is None or cookie == body:
            return app(environ, start_response)  # type: ignore[no-any-return]
        if not service.cookie_is_current(cookie):
            # The guard refuses: the reference sees the cookie token alone (reuse detection and all).
            return app(dict(environ, **{"wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0"}), start_response)  # type: ignore[no-any-return]
        kept = [p for p in environ.get("HTTP_COOKIE", "").split(";") if p.strip().partition("=")[0] != name]
        service.guarded.value = True
        try:
            return app(dict(environ, HTTP_COOKIE=";".join(kept)), start_response)  # type: ignore[no-any-return]
        finally:
            service.guarded.value = False

    wrapped = Closing(guard_cookie_rotate_body, app, store) if owned else Closing(guard_cookie_rotate_body, app)
    # rewrite() buffers the request body into environ[REQUEST_BODY] so the guard can look at it.
    return rewrite(wrapped, lambda environ, status, headers, body: (status, headers, body))
