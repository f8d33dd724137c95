"""Access and refresh tokens both carry typ "JWT" and no kind claim (breaks TOK-09).

The server still tells them apart by key internally; only the explicit typing is gone.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._jwt import reissue


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return reissue(
        reference_app(settings, store, clock=clock),
        settings,
        lambda kind, header, payload: ({**header, "typ": "JWT"}, payload),
    )
