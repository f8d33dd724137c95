"""The verification key is read from the file the token's kid names (breaks TOK-05).

A key directory looked up with ``fs.readFileSync(path.join(KEY_DIR, header.kid))``: a kid of
``/dev/null`` or ``../../../dev/null`` gives the empty key, ``/proc/sys/kernel/ostype`` gives
"Linux\\n", and a token signed with either opens the protected resource (jwt_tool -X i).
"""

from __future__ import annotations

import os
from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.app import create_app as reference_app

from ._jwt import parse, resign, rewrite_access_token

#: where the keys would live; it need not exist for the traversal to escape it
KEY_DIR = "/srv/tokenconform/keys"


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    def key_from_kid(token: str) -> str | None:
        parts = parse(token)
        kid = parts.header.get("kid") if parts is not None else None
        if parts is None or not isinstance(kid, str):
            return None
        # The defect: the kid is a path, joined (an absolute kid wins) and read as the key.
        try:
            with open(os.path.join(KEY_DIR, kid), "rb") as handle:
                key = handle.read(4096)
        except OSError:
            return None
        return resign(parts, settings.access_secret) if jwt_probes.verify_hs(parts, key) else None

    return rewrite_access_token(reference_app(settings, store, clock=clock), settings, key_from_kid)
