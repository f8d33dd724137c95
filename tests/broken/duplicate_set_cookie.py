"""Each token cookie is set twice in one response, the second time with another Path (breaks CKE-08)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import drop_attribute, edit_set_cookies


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return edit_set_cookies(
        reference_app(settings, store, clock=clock),
        lambda path, c: [c, drop_attribute(c, "Path") + "; Path=/auth"],
    )
