"""A refused access token's 401 body includes the exception and its traceback (breaks RBS-02)."""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import rewrite

_TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/.venv/lib/python3.11/site-packages/jwt/api_jws.py", line 360, in _verify_signature\n'
    '    raise InvalidSignatureError("Signature verification failed")\n'
    "jwt.exceptions.InvalidSignatureError: Signature verification failed\n"
)


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def debug_body(environ: dict[str, Any], status: str, headers: Any, body: bytes) -> tuple[str, Any, bytes]:
        if environ.get("PATH_INFO") == "/profile" and status.startswith("401"):
            # The defect: a debug-mode error handler that returns str(exc) and the traceback.
            body = json.dumps({**json.loads(body), "detail": _TRACE}).encode()
        return status, headers, body

    return rewrite(reference_app(settings, store, clock=clock), debug_body)
