"""Malformed JSON at /login crashes the handler into a 500 (breaks RBS-05)."""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import REQUEST_BODY, rewrite


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def crash(environ: dict[str, Any], status: str, headers: Any, body: bytes) -> tuple[str, Any, bytes]:
        if environ.get("PATH_INFO") == "/login" and status.startswith("400"):
            try:
                json.loads(environ.get(REQUEST_BODY) or b"{}")
            except ValueError:
                # The defect: json.loads(request.body) outside any try, so bad syntax is a 500.
                return "500 Internal Server Error", headers, b'{"message": "Internal server error"}'
        return status, headers, body

    return rewrite(reference_app(settings, store, clock=clock), crash)
