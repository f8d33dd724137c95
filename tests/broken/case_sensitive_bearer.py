"""Only the exact spelling "Bearer" is recognised as the Authorization scheme (breaks PRO-05)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def exact_scheme(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None and not header.startswith("Bearer "):
            # The defect: header.startsWith("Bearer "), so "bearer x" is no credential of ours.
            environ = dict(environ, HTTP_AUTHORIZATION="Unrecognised")
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(exact_scheme, app)
