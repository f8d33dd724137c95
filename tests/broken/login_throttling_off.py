"""Failed logins are never throttled (breaks LGN-07).

Throttling switched off, per account and per client: an online password guesser is never slowed.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

#: far more failures than LGN-07 makes
UNLIMITED = 10**9


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    changes: dict[str, Any] = {"login_max_failures": UNLIMITED}
    if hasattr(settings, "login_max_client_failures"):  # the per-client throttle (issue 8)
        changes["login_max_client_failures"] = UNLIMITED
    return reference_app(settings.replace(**changes), store, clock=clock)
