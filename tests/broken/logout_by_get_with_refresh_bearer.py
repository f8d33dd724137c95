"""Logout keyed on the refresh token presented as Bearer also answers GET (breaks LGO-08).

flask-jwt-extended in header mode, with the docs' blocklist logout, revokes whichever token comes
as ``Authorization: Bearer``; a profile for it says ``[logout] token = "refresh", present =
["bearer"]``. This app does that over the reference (``legit_app``: logout by POST only, the
good side of the differential under setup ``refresh_bearer_logout``), and ``create_app`` adds the
one defect: the same logout also answers GET. A GET carrying the access token is refused (405),
so only a judge that presents what the profile declares sees the defect.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import jwt

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.tokens import REFRESH_TYP

from ._wsgi import Closing

LOGOUT_PATH = "/logout"


def _bearer_refresh_token(environ: dict[str, Any]) -> str | None:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        typ = jwt.get_unverified_header(token).get("typ")
    except jwt.InvalidTokenError:
        return None
    return token if isinstance(typ, str) and typ.lower() == REFRESH_TYP else None


def _refresh_bearer_logout(app: Any, *, answers_get: bool) -> Closing:
    methods = ("POST", "GET") if answers_get else ("POST",)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = _bearer_refresh_token(environ)
        path = environ.get("PATH_INFO", "").rstrip("/")
        if token is not None and path == LOGOUT_PATH and environ.get("REQUEST_METHOD") in methods:
            # The reference reads a refresh token from the body: hand it over there, and nothing
            # else (no Authorization, no cookie), so the refresh token alone keys the logout.
            body = json.dumps({"refreshToken": token}).encode()
            environ = {k: v for k, v in environ.items() if k not in ("HTTP_AUTHORIZATION", "HTTP_COOKIE")}
            environ.update(
                REQUEST_METHOD="POST",
                CONTENT_TYPE="application/json",
                CONTENT_LENGTH=str(len(body)),
                **{"wsgi.input": io.BytesIO(body)},
            )
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(wrapped, app)


def legit_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    """The reference whose logout also takes the refresh token as Bearer, by POST only."""
    return _refresh_bearer_logout(reference_app(settings, store, clock=clock), answers_get=False)


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return _refresh_bearer_logout(reference_app(settings, store, clock=clock), answers_get=True)
