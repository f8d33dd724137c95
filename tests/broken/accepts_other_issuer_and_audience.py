"""Access tokens are verified for their signature only: iss and aud are not compared (breaks TOK-12).

What ``jwt.verify(token, secret)`` does without the ``issuer``/``audience`` options: a token that
another deployment sharing the key minted for itself is honoured here.
"""

from __future__ import annotations

from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    key = settings.access_secret.encode("utf-8")

    def ignore_iss_and_aud(token: str) -> str | None:
        parts = parse(token)
        if parts is None or not jwt_probes.verify_hs(parts, key):
            return None
        claims = parts.payload
        if claims.get("iss") == settings.issuer and claims.get("aud") == settings.audience:
            return None
        # The defect: whatever iss and aud say, the claims are taken as this server's own.
        fixed = {**claims, "iss": settings.issuer, "aud": settings.audience}
        return jwt_probes.sign_hs(parts.header, fixed, key, parts.alg)

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, ignore_iss_and_aud)
