"""The access-token key verifies HS384 and HS512 signatures too, not only HS256 (breaks TOK-03)."""

from __future__ import annotations

from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, resign, rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    key = settings.access_secret.encode("utf-8")

    def any_hmac(token: str) -> str | None:
        parts = parse(token)
        # The defect: algorithms=["HS256", "HS384", "HS512"] with one key (RFC 8725 §3.1 wants one).
        if parts is not None and parts.alg in ("HS384", "HS512") and jwt_probes.verify_hs(parts, key):
            return resign(parts, settings.access_secret, header={**parts.header, "alg": "HS256"})
        return None

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, any_hmac)
