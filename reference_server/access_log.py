"""``tokenconform serve``'s request log: one line per request, and the routes served at start.

A WSGI middleware, so the app stays free of logging and tests run without it. Each line is
``ADDRESS METHOD PATH STATUS MS``; the path is ``PATH_INFO`` only: no query string, no headers,
no body, so neither a token nor a password can end up in the log (RFC 6750 §5.3 warns that
URLs get logged; this server never reads credentials from the query string either).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

__all__ = ["AccessLog", "describe_routes"]

#: PATH_INFO longer than this is cut in the log: a hostile client must not fill the disk through it
MAX_LOGGED_PATH = 200


def describe_routes(app: Any) -> list[str]:
    """``"POST /login"``, ... for every route of a Bottle app, in registration order."""
    return [f"{route.method} {route.rule}" for route in getattr(app, "routes", [])]


def _printable(text: str) -> str:
    # WSGI strings are latin-1 decoded bytes: escape anything that could forge a log line.
    cut = text[:MAX_LOGGED_PATH] + ("..." if len(text) > MAX_LOGGED_PATH else "")
    return "".join(c if c.isascii() and c.isprintable() else f"\\x{ord(c):02x}" for c in cut)


class _Logged:
    """The app's response iterable; writes the log line when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self._body = body
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class AccessLog:
    """Wrap a WSGI app; log each request to ``stream`` (stderr by default)."""

    def __init__(self, app: Any, stream: IO[str] | None = None) -> None:
        self.app = app
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["-"]

        def recording_start_response(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        def done() -> None:
            ms = (time.perf_counter() - started) * 1000
            line = (
                f"{environ.get('REMOTE_ADDR', '-')} {_printable(environ.get('REQUEST_METHOD', '-'))} "
                f"{_printable(environ.get('PATH_INFO', '') or '/')} {status[0]} {ms:.1f} ms"
            )
            self._write(line)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            done()
            raise
        return _Logged(body, done)

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        with self._lock:
            print(line, file=stream, flush=True)

    def close(self) -> None:
        """Close the wrapped app (and so the store it opened)."""
        close = getattr(self.app, "close", None)
        if close is not None:
            close()
