"""Login and refresh responses carry no Cache-Control: no-store (breaks ROT-05)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import replace_header, rewrite


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return rewrite(
        reference_app(settings, store, clock=clock),
        lambda environ, status, headers, body: (
            status,
            replace_header(replace_header(headers, "Cache-Control", "private, max-age=60"), "Pragma", None),
            body,
        ),
    )
