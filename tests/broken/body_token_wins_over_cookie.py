"""/refresh with tokens in both body and cookie uses the body's and ignores the cookie's (breaks RBS-03).

So a replayed (used) refresh token in the cookie is never looked at, and escapes reuse detection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import refresh_cookie_name

from ._wsgi import REQUEST_BODY, Closing, presented_refresh_token, rewrite


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)
    name = refresh_cookie_name(settings)

    def body_first(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ.get(REQUEST_BODY, b"")
        if environ.get("PATH_INFO") == "/refresh" and b'"refreshToken"' in body and presented_refresh_token(environ):
            kept = [p for p in environ.get("HTTP_COOKIE", "").split(";") if p.strip().partition("=")[0] != name]
            environ = dict(environ, HTTP_COOKIE=";".join(kept))
        return app(environ, start_response)  # type: ignore[no-any-return]

    # rewrite() buffers the request body into environ[REQUEST_BODY] so body_first can look at it.
    return rewrite(Closing(body_first, app), lambda environ, status, headers, body: (status, headers, body))
