"""401 answers carry no WWW-Authenticate challenge (breaks PRO-01)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import replace_header, rewrite


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return rewrite(
        reference_app(settings, store, clock=clock),
        lambda environ, status, headers, body: (
            status,
            replace_header(headers, "WWW-Authenticate", None) if status.startswith("401") else headers,
            body,
        ),
    )
