"""A registered account logs in with any password (breaks LGN-08).

The seed checks ``bcrypt.compare`` before issuing tokens; this variant forgets to look at its
result for accounts that exist (``if (user) { ...issue tokens }``). Unknown accounts are still
refused. Built at the HTTP level: the variant remembers each password it saw registered and
substitutes it into any login for that email, so the reference server itself is untouched.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)
    passwords: dict[str, str] = {}
    lock = threading.Lock()

    def body_of(environ: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            return environ, json.loads(raw or b"null")
        except ValueError:
            return environ, None

    def any_password(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ = dict(environ)
        path = environ.get("PATH_INFO")
        if path not in ("/register", "/login"):
            return app(environ, start_response)  # type: ignore[no-any-return]
        environ, document = body_of(environ)
        email = document.get("email") if isinstance(document, dict) else None
        if path == "/login" and isinstance(email, str) and isinstance(document.get("password"), str):
            with lock:
                registered = passwords.get(email.strip().lower())
            if registered is not None:
                # The defect: the password presented is never compared with the account's.
                raw = json.dumps({**document, "password": registered}).encode()
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(raw), str(len(raw))
            return app(environ, start_response)  # type: ignore[no-any-return]

        def remember(status: str, headers: Any, exc_info: Any = None) -> Any:
            password = document.get("password") if isinstance(document, dict) else None
            if (
                path == "/register"
                and status.startswith("201")
                and isinstance(email, str)
                and isinstance(password, str)
            ):
                with lock:
                    passwords[email.strip().lower()] = password
            return start_response(status, headers, exc_info)

        return app(environ, remember)  # type: ignore[no-any-return]

    return Closing(any_password, app)
