"""Issued access tokens carry no exp claim; the server tracks expiry on its side (breaks TOK-13)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._jwt import reissue


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def drop_exp(kind: str, header: dict[str, Any], payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if kind == "access":
            payload = {k: v for k, v in payload.items() if k != "exp"}
        return header, payload

    return reissue(reference_app(settings, store, clock=clock), settings, drop_exp)
