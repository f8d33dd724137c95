"""An invalid access token gets 403 instead of 401; a missing or empty credential still gets 401
(breaks PRO-02 only).

The seed's authenticateToken: ``token = authHeader && authHeader.split(' ')[1]``; no token → 401,
``jwt.verify`` error → 403. An empty ``Bearer`` credential is PRO-03's case and is answered right.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import access_cookie_name

from ._wsgi import replace_header, rewrite


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    cookie = access_cookie_name(settings) + "="

    def forbid(environ: dict[str, Any], status: str, headers: Any, body: bytes) -> tuple[str, Any, bytes]:
        credential = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip()
        presented = bool(credential) or cookie in environ.get("HTTP_COOKIE", "")
        if environ.get("PATH_INFO") == "/profile" and status.startswith("401") and presented:
            return "403 Forbidden", replace_header(headers, "WWW-Authenticate", None), body
        return status, headers, body

    return rewrite(reference_app(settings, store, clock=clock), forbid)
