"""A token in JWS JSON serialization is accepted as if it were compact (breaks TOK-06)."""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._jwt import rewrite_access_token


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def from_json(token: str) -> str | None:
        # The defect: a "helpful" parser that also takes {"protected", "payload", "signature"}.
        if not token.startswith("{"):
            return None
        try:
            document = json.loads(token)
            return f"{document['protected']}.{document['payload']}.{document['signature']}"
        except (ValueError, KeyError, TypeError):
            return None

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, from_json)
