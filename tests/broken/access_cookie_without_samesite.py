"""The access cookie has no SameSite attribute, so a cross-site form can ride on it (breaks PRO-07).

Nothing else guards the cookie-authenticated logout against a cross-site form POST: the reference
relies on SameSite for that.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import access_cookie_name

from ._wsgi import drop_attribute, edit_set_cookies


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    name = access_cookie_name(settings) + "="

    def no_samesite(path: str, cookie: str) -> list[str]:
        return [drop_attribute(cookie, "SameSite") if cookie.startswith(name) else cookie]

    return edit_set_cookies(reference_app(settings, store, clock=clock), no_samesite)
