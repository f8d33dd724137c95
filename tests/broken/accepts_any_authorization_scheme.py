"""Any first word of the Authorization header is taken as the scheme (breaks PRO-09).

The seed's middleware: ``req.headers['authorization']?.split(' ')[1]``, so "Basic <token>",
"Token <token>" and "JWT <token>" all open the protected resource. A bare token has no second
word and stays refused, as it is in the seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def split_one(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None:
            words = header.split(" ")
            # The defect: split(' ')[1], whatever the scheme; no second word is no token at all.
            environ = dict(environ, HTTP_AUTHORIZATION=f"Bearer {words[1]}" if len(words) > 1 else "Bearer")
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(split_one, app)
