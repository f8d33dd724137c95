"""Tokens still come in the JSON body although the deployment delivers them by cookie (breaks CKE-09).

Run with the cookie_only setup (profile and server declare delivery = "cookie"); this variant
ignores its setting and delivers both ways, so scripts can read what the HttpOnly cookie hides.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return reference_app(settings.replace(delivery="both"), store, clock=clock)
