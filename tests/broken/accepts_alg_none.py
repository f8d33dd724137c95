"""Access tokens with alg "none" (any spelling) are taken as valid, unsigned (breaks TOK-01)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, resign, rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def trust_none(token: str) -> str | None:
        parts = parse(token)
        # The defect: the verifier lets the token's header pick the algorithm, and "none" needs no key.
        if parts is not None and parts.alg.lower() == "none":
            return resign(parts, settings.access_secret)
        return None

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, trust_none)
