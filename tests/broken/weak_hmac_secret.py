"""Access tokens are signed with a published example secret (breaks TOK-04).

The secret is jwt.io's default, "a-string-secret-at-least-256-bits-long": long enough for
RFC 7518 §3.2 and the reference's own length check, and known to everyone.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

#: in conformance/wordlists/common-jwt-secrets.txt
WEAK_SECRET = "a-string-secret-at-least-256-bits-long"


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return reference_app(settings.replace(access_secret=WEAK_SECRET), store, clock=clock)
