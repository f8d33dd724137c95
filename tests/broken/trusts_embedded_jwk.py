"""A symmetric key embedded in the token's own "jwk" header verifies the token (breaks TOK-05)."""

from __future__ import annotations

from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, resign, rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def trust_jwk(token: str) -> str | None:
        parts = parse(token)
        jwk = parts.header.get("jwk") if parts is not None else None
        # The defect (CVE-2018-0114 style): the key comes from the token instead of configuration.
        if parts is not None and isinstance(jwk, dict) and jwk.get("kty") == "oct":
            try:
                key = jwt_probes.b64url_decode(str(jwk.get("k", "")))
            except ValueError:
                return None
            if jwt_probes.verify_hs(parts, key):
                return resign(parts, settings.access_secret)
        return None

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, trust_jwk)
