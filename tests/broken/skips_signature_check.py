"""Access tokens are decoded without checking their HS256 signature (breaks TOK-02)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, resign, rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def ignore_signature(token: str) -> str | None:
        parts = parse(token)
        # The defect: jwt.decode(..., options={"verify_signature": False}) for the configured alg.
        if parts is not None and parts.alg == settings.algorithm:
            return resign(parts, settings.access_secret, header=parts.header)
        return None

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, ignore_signature)
