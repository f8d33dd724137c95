"""The protected resource also takes the access token from ?access_token= (breaks PRO-06)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def query_token(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        values = parse_qs(environ.get("QUERY_STRING", "")).get("access_token")
        if values and "HTTP_AUTHORIZATION" not in environ:
            # The defect: RFC 6750 §2.3's URI method, which puts tokens in logs and Referer headers.
            environ = dict(environ, HTTP_AUTHORIZATION=f"Bearer {values[0]}")
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(query_token, app)
