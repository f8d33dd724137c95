"""An Authorization header without a scheme is taken as the token itself (breaks PRO-09).

The pattern ``header.startsWith("Bearer ") ? header.slice(7) : header``: "Bearer x" and
"bearer x" work as they should, "Basic x" stays garbage, but a bare token is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def bare_token_is_a_token(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None and header.strip() and " " not in header.strip():
            # The defect: no scheme means "the whole header is the token".
            environ = dict(environ, HTTP_AUTHORIZATION=f"Bearer {header.strip()}")
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(bare_token_is_a_token, app)
