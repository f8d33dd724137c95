"""The login response's user object carries the bcrypt hash (breaks LGN-06)."""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import rewrite

FAKE_HASH = "$2b$12$C6UzMDM.H6dfI/f/IKxGhuY5dFpBdAGcPoZcn9EM4tLW7rJl9GZ4S"


def _add_hash(environ: dict[str, Any], status: str, headers: Any, body: bytes) -> tuple[str, Any, bytes]:
    if environ.get("PATH_INFO", "").rstrip("/") == "/login" and status.startswith("200"):
        document = json.loads(body)
        document.setdefault("user", {})["password"] = FAKE_HASH
        body = json.dumps(document).encode()
    return status, headers, body


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return rewrite(reference_app(settings, store, clock=clock), _add_hash)
