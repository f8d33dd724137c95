"""GET /logout logs the session out, so a link or an image can end it (breaks LGO-08)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def get_is_post(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("PATH_INFO", "").rstrip("/") == "/logout":
            environ = dict(environ, REQUEST_METHOD="POST")
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(get_is_post, app)
