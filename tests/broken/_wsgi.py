"""Helpers for broken variants whose one defect is in what goes over the wire.

``rewrite(app, edit)`` wraps a WSGI app; ``edit(environ, status, headers, body)`` returns the
(status, headers, body) to send instead. Behaviour defects subclass the reference server's
SessionService instead and pass it to ``create_app(..., service=...)``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

#: environ key under which ``rewrite`` keeps the raw request body for the edit function
REQUEST_BODY = "tokenconform.request_body"

Headers = list[tuple[str, str]]
Edit = Callable[[dict[str, Any], str, Headers, bytes], tuple[str, Headers, bytes]]


def rewrite(app: Callable[..., Iterable[bytes]], edit: Edit) -> Callable[..., Iterable[bytes]]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: dict[str, Any] = {}
        # Keep the request body readable for the edit (the app consumes wsgi.input).
        length = int(environ.get("CONTENT_LENGTH") or 0)
        request_body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ = dict(environ, **{"wsgi.input": io.BytesIO(request_body), REQUEST_BODY: request_body})

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

    return Closing(wrapped, app)


class Closing:
    """A WSGI callable that closes what it wraps when the server stops (ReferenceServer calls close())."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *owned: Any) -> None:
        self._app = app
        self._owned = owned

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._app(environ, start_response)

    def close(self) -> None:
        for thing in self._owned:
            close = getattr(thing, "close", None)
            if close is not None:
                close()


def replace_header(headers: Headers, name: str, value: str | None) -> Headers:
    """Drop every ``name`` header, then add ``value`` unless it is None."""
    kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
    if value is not None:
        kept.append((name, value))
    return kept


def edit_set_cookies(
    app: Callable[..., Iterable[bytes]],
    edit_cookie: Callable[[str, str], list[str]],
) -> Callable[..., Iterable[bytes]]:
    """Rewrite each Set-Cookie: ``edit_cookie(path, value)`` returns the values to send instead."""

    def edit(environ: dict[str, Any], status: str, headers: Headers, body: bytes) -> tuple[str, Headers, bytes]:
        path = environ.get("PATH_INFO", "")
        rewritten: Headers = []
        for name, value in headers:
            if name.lower() == "set-cookie":
                rewritten.extend(("Set-Cookie", v) for v in edit_cookie(path, value))
            else:
                rewritten.append((name, value))
        return status, rewritten, body

    return rewrite(app, edit)


def drop_attribute(cookie: str, attribute: str) -> str:
    """The Set-Cookie value without ``attribute`` (case-insensitive; with or without a value)."""
    parts = [p for p in cookie.split(";") if p.strip().split("=", 1)[0].strip().lower() != attribute.lower()]
    return ";".join(parts)


def presented_refresh_token(environ: dict[str, Any]) -> str | None:
    """The refresh token a request presented, from its JSON body or its refreshToken cookie."""
    try:
        document = json.loads(environ.get(REQUEST_BODY) or b"{}")
    except ValueError:
        document = {}
    if isinstance(document, dict) and isinstance(document.get("refreshToken"), str):
        return str(document["refreshToken"])
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name.endswith("refreshToken"):
            return value
    return None


def replace_everywhere(headers: Headers, body: bytes, old: str, new: str) -> tuple[Headers, bytes]:
    """Swap a token for another in the body and in every header (Set-Cookie included)."""
    return [(k, v.replace(old, new)) for k, v in headers], body.replace(old.encode(), new.encode())
