"""Tokens are signed with the seed's own .env placeholders, left unchanged (breaks TOK-04).

The seed's example ``.env`` reads ``ACCESS_TOKEN_SECRET=your_access_secret_here`` and
``REFRESH_TOKEN_SECRET=your_refresh_secret_here``; a deployment that copies it as it is signs
with those. The reference refuses keys under 32 bytes, so the issued tokens are re-signed with
the placeholders on the way out and mapped back on the way in (``_jwt.reissue``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._jwt import reissue

#: in conformance/wordlists/common-jwt-secrets.txt (the seed section)
ACCESS_PLACEHOLDER = "your_access_secret_here"
REFRESH_PLACEHOLDER = "your_refresh_secret_here"


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    placeholders = SimpleNamespace(access_secret=ACCESS_PLACEHOLDER, refresh_secret=REFRESH_PLACEHOLDER)
    return reissue(
        reference_app(settings, store, clock=clock), placeholders, lambda kind, header, payload: (header, payload)
    )
