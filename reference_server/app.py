"""Build the reference server's WSGI application: routes, JSON errors and the body limit.

``create_app`` returns a fresh ``bottle.Bottle`` (never bottle's module-level default app, which
every import shares). Every error, whether raised by the domain as an ``ApiError`` or by bottle
itself (404 unknown route, 405 wrong method, 500), leaves as JSON ``{"message": ...}`` with the
headers the error requires; a traceback goes to ``wsgi.errors``, never to the client.
"""

from __future__ import annotations

import functools
import json
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bottle

from .engines import open_store
from .errors import ApiError, ServiceUnavailable, bearer_challenge
from .routes import check_body_size, install_routes
from .sessions import SessionService
from .store import StoreUnavailable

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store

__all__ = ["create_app"]

# Messages for errors bottle raises itself (the domain's ApiErrors bring their own).
_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    500: "Internal server error",
}


class _ApiErrors:
    """Bottle plugin: turn an ``ApiError`` raised by a handler into an ``HTTPError``.

    The ``HTTPError`` carries the ApiError's headers (``WWW-Authenticate``, ``Retry-After``,
    ``Allow``) and the ApiError itself, so one error handler renders every error the same way.
    Bottle drops the headers the handler had set before raising (``HTTPError.apply`` replaces
    them), so a failed request never leaks a Set-Cookie meant for success.
    """

    name = "tokenconform_api_errors"
    api = 2

    def __init__(self, store: Store, *, owns_store: bool) -> None:
        self._store = store
        self._owns_store = owns_store

    def apply(self, callback: Callable[..., Any], route: Any) -> Callable[..., Any]:
        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except StoreUnavailable:
                # A lock held past the store's retry deadline is overload, not a bug (issue 2:
                # never a 500 from "database is locked"); a full disk or an I/O error is an
                # outage (issue 8). Either way 503 with Retry-After, and nothing was let through
                # that needed a write: a failed login that could not be recorded is refused.
                exc = ServiceUnavailable()
                raise bottle.HTTPError(exc.status, exc.message, exception=exc, **exc.headers) from None
            except ApiError as exc:
                raise bottle.HTTPError(exc.status, exc.message, exception=exc, **exc.headers) from None

        return wrapper

    def close(self) -> None:
        """Called by ``Bottle.close()``: close the store if ``create_app`` opened it."""
        if self._owns_store:
            self._store.close()


def _render_error(error: Any) -> str:
    """The one error handler: JSON ``{"message": ...}`` for every 4xx and 5xx."""
    response = bottle.response
    status = int(error.status_code)
    exc = error.exception
    # Anything but an ApiError is bottle's own (404, 405, ...) or, for 500, an exception nobody
    # meant to raise: its text and traceback stay in the server log.
    message = exc.message if isinstance(exc, ApiError) else _MESSAGES.get(status) or _reason(error.status_line)
    response.content_type = "application/json"
    response.set_header("X-Content-Type-Options", "nosniff")
    response.set_header("Cache-Control", "no-store")
    response.set_header("Pragma", "no-cache")
    if status == 401 and "WWW-Authenticate" not in response.headers:
        # RFC 9110 §15.5.2: a 401 "MUST send a WWW-Authenticate header field containing at least
        # one challenge applicable to the target resource".
        response.set_header("WWW-Authenticate", bearer_challenge())
    return json.dumps({"message": message})


def _reason(status_line: str) -> str:
    _, _, reason = str(status_line).partition(" ")
    return reason.capitalize() or "Error"


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    clock: Callable[[], float] | None = None,
    service: SessionService | None = None,
) -> bottle.Bottle:
    """The reference API as a WSGI app.

    Args:
        settings: the configuration; unless ``store`` is given, ``settings.database`` (a
            ``postgresql://`` URL, else a SQLite file) is opened with ``open_store``.
        store: a store to use; the caller keeps ownership and closes it. A store opened here is
            closed by ``app.close()``.
        clock: epoch seconds, for tests that control time; defaults to ``time.time``.
        service: a ready ``SessionService`` (e.g. a subclass with one deliberate defect, for
            ``tests/broken``); its store and clock are used and ``store``/``clock`` ignored.
    """
    if service is not None:
        owns_store, store, now = False, service.store, service.clock
    else:
        owns_store = store is None
        if store is None:
            # One pooled connection per waitress thread at most (PostgreSQL); SQLite keeps one
            # per thread by itself.
            store = open_store(settings.database, pool_size=settings.threads)
        now = clock or time.time
        service = SessionService(settings, store, clock=now)

    # catchall (the default, set explicitly): an unexpected exception becomes a 500 rendered by
    # _render_error, with its traceback written to wsgi.errors, never to the client.
    app = bottle.Bottle(catchall=True)
    app.install(_ApiErrors(store, owns_store=owns_store))
    if owns_store:
        # A caller that never calls app.close() (e.g. one that wraps the app in middleware)
        # still gets the store closed once the app is garbage: open SQLite connections left to
        # the garbage collector are a ResourceWarning from Python 3.13 on, and a PostgreSQL
        # pool keeps its connections and threads until closed.
        weakref.finalize(app, store.close)
    for code in range(400, 600):
        app.error(code, callback=_render_error)

    limit = settings.max_body_bytes

    def refuse_large_bodies() -> None:
        # RFC 9110 §15.5.14: 413 before the body is read, whatever the route (even an unknown
        # one, or one that takes no body), so a large upload is refused as early as possible.
        try:
            check_body_size(bottle.request.environ, limit)
        except ApiError as exc:
            raise bottle.HTTPError(exc.status, exc.message, exception=exc, **exc.headers) from None

    app.add_hook("before_request", refuse_large_bodies)
    install_routes(app, service, settings, now)
    return app
