"""Access tokens are honoured before their nbf and without any exp (breaks EXP-05).

A hand-rolled verifier that checks the signature and ``exp < now`` only when exp is present:
a token minted with nbf in the future is taken at once, and one without exp never expires.
"""

from __future__ import annotations

import time
from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    key = settings.access_secret.encode("utf-8")
    now = clock or time.time

    def time_claims_ignored(token: str) -> str | None:
        parts = parse(token)
        if parts is None or not jwt_probes.verify_hs(parts, key):
            return None
        claims = parts.payload
        if "nbf" not in claims and "exp" in claims:
            return None
        # The defect: nbf is never read, and a missing exp means "valid forever".
        fixed = {k: v for k, v in claims.items() if k != "nbf"}
        fixed.setdefault("exp", int(now()) + 60)
        return jwt_probes.sign_hs(parts.header, fixed, key, parts.alg)

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, time_claims_ignored)
