"""The refresh response hands back the refresh token that was presented: no rotation (breaks ROT-01)."""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Headers, presented_refresh_token, replace_everywhere, rewrite


def _echo_presented(environ: dict[str, Any], status: str, headers: Headers, body: bytes) -> tuple[str, Headers, bytes]:
    presented = presented_refresh_token(environ)
    if environ.get("PATH_INFO", "").rstrip("/") == "/refresh" and status.startswith("200") and presented:
        issued = json.loads(body)["refreshToken"]
        headers, body = replace_everywhere(headers, body, issued, presented)
    return status, headers, body


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return rewrite(reference_app(settings, store, clock=clock), _echo_presented)
