"""Helpers for broken variants whose one defect is in what goes over the wire.

``rewrite(app, edit)`` wraps a WSGI app; ``edit(environ, status, headers, body)`` returns the
(status, headers, body) to send instead. Behaviour defects subclass the reference server's
SessionService instead and pass it to ``create_app(..., service=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Headers = list[tuple[str, str]]
Edit = Callable[[dict[str, Any], str, Headers, bytes], tuple[str, Headers, bytes]]


def rewrite(app: Callable[..., Iterable[bytes]], edit: Edit) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return lambda data: None

        chunks = app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers, body = edit(environ, captured["status"], captured["headers"], body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    return wrapped


def replace_header(headers: Headers, name: str, value: str | None) -> Headers:
    """Drop every ``name`` header, then add ``value`` unless it is None."""
    kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
    if value is not None:
        kept.append((name, value))
    return kept
