"""GET /logout puts the presented access token on a deny list (breaks LGO-08).

The docs' blocklist logout of flask-jwt-extended revokes the one token presented, so a GET carrying
the access token kills that token and leaves the refresh token alive: only a judge that also
presents the access token afterwards sees the GET was obeyed. POST /logout is the reference's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing

ACCESS_COOKIE = "accessToken"


def _presented(environ: dict[str, Any]) -> set[str]:
    tokens = set()
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        tokens.add(token)
    try:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", "")).get(ACCESS_COOKIE)
    except CookieError:
        cookie = None
    if cookie is not None and cookie.value:
        tokens.add(cookie.value)
    return tokens


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)
    denied: set[str] = set()
    lock = threading.Lock()

    def deny_on_get(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        presented = _presented(environ)
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO", "").rstrip("/") == "/logout":
            with lock:
                denied.update(presented)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"message": "Logout successful"}']
        with lock:
            refused = bool(presented & denied)
        if refused:
            start_response(
                "401 Unauthorized",
                [("Content-Type", "application/json"), ("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
            return [b'{"message": "Token has been revoked"}']
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(deny_on_get, app)
