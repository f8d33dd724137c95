"""The access-token cookie is over 4096 octets (a bloated JWT), so browsers ignore it (breaks CKE-07)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import edit_set_cookies

#: Claims stuffed into a JWT (roles, permissions, profile data) push real tokens past the limit.
PADDING = "A" * 4200


def _bloat(cookie: str) -> list[str]:
    name_value, _, attributes = cookie.partition(";")
    name, _, value = name_value.partition("=")
    if name.strip().endswith("accessToken") and value:
        return [f"{name}={value}{PADDING};{attributes}"]
    return [cookie]


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return edit_set_cookies(reference_app(settings, store, clock=clock), lambda path, c: _bloat(c))
