"""The protected resource ignores the access cookie it hands out (breaks PRO-08)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import access_cookie_name

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)
    name = access_cookie_name(settings)

    def drop_cookie(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/profile" and "HTTP_COOKIE" in environ:
            kept = [p for p in environ["HTTP_COOKIE"].split(";") if p.strip().partition("=")[0] != name]
            environ = dict(environ, HTTP_COOKIE=";".join(kept))
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(drop_cookie, app)
