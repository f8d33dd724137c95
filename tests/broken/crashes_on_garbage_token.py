"""A bearer token whose payload is not base64url JSON crashes the handler into a 500 (breaks RBS-01).

As with ``JSON.parse(atob(token.split(".")[1]))`` run before verification, to read the user id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def _payload_readable(token: str) -> bool:
    segments = token.split(".")
    if len(segments) < 2:
        return False
    try:
        json.loads(jwt_probes.b64url_decode(segments[1]))
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def peek(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() and not _payload_readable(token.strip()):
            body = b'{"message": "Internal server error"}'
            start_response(
                "500 Internal Server Error", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(peek, app)
