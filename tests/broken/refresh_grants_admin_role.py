"""Tokens issued by a refresh claim an admin role the login never granted (breaks ROT-04).

The access token is re-signed with the server's own key, so it is valid: only its rights grew.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Headers, replace_everywhere, rewrite


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def grant_admin(environ: dict[str, Any], status: str, headers: Headers, body: bytes) -> tuple[str, Headers, bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") == "/refresh" and status.startswith("200"):
            issued = json.loads(body)["accessToken"]
            header = jwt.get_unverified_header(issued)
            claims = jwt.decode(issued, options={"verify_signature": False})
            claims["roles"] = ["admin"]
            promoted = jwt.encode(claims, settings.access_secret, algorithm=settings.algorithm, headers=header)
            headers, body = replace_everywhere(headers, body, issued, promoted)
        return status, headers, body

    return rewrite(reference_app(settings, store, clock=clock), grant_admin)
