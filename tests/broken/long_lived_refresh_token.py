"""Refresh tokens live eight days, over the profile's policy.max_refresh_ttl of seven (breaks TOK-14).

Access tokens keep the configured lifetime (EXP-01 has nothing to see); only the refresh TTL is
configured past the declared maximum, a common slip when "a week" is rounded up.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

#: one day over the reference profile's max_refresh_ttl (604800 s)
REFRESH_TTL = 8 * 24 * 3600


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return reference_app(settings.replace(refresh_ttl=REFRESH_TTL), store, clock=clock)
