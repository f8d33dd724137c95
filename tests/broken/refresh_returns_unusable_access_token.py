"""The refresh response carries an access token the protected resource refuses (breaks ROT-03)."""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Headers, replace_everywhere, rewrite


def _spoil_access_token(
    environ: dict[str, Any], status: str, headers: Headers, body: bytes
) -> tuple[str, Headers, bytes]:
    if environ.get("PATH_INFO", "").rstrip("/") == "/refresh" and status.startswith("200"):
        issued = json.loads(body)["accessToken"]
        head, payload, signature = issued.split(".")
        spoiled = ".".join((head, payload, signature[::-1]))
        headers, body = replace_everywhere(headers, body, issued, spoiled)
    return status, headers, body


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return rewrite(reference_app(settings, store, clock=clock), _spoil_access_token)
