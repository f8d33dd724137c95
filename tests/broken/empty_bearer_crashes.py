"""Authorization: Bearer with no token crashes the handler into a 500 (breaks PRO-03).

The Node classic: ``jwt.verify(header.split(" ")[1])`` with ``undefined``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def crash(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None and header.strip().lower() == "bearer":
            body = b'{"message": "Internal server error"}'
            start_response(
                "500 Internal Server Error", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(crash, app)
