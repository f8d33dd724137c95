"""Token cookies live a year, far past their tokens (breaks CKE-06)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import drop_attribute, edit_set_cookies


def _year_long(cookie: str) -> list[str]:
    if "max-age=0" in cookie.lower().replace(" ", ""):
        return [cookie]  # leave deletions alone: the defect is the lifetime of live cookies
    return [drop_attribute(drop_attribute(cookie, "Max-Age"), "Expires") + "; Max-Age=31536000"]


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return edit_set_cookies(reference_app(settings, store, clock=clock), lambda path, c: _year_long(c))
