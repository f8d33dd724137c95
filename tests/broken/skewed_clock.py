"""The server's token clock runs two minutes fast (breaks EXP-08).

Tokens are issued and verified by the same fast clock, so they work; but their iat disagrees with
the Date header (waitress stamps it from the real clock) and with the suite's clock.
"""

from __future__ import annotations

import time
from typing import Any

from tokenconform_server.app import create_app as reference_app

#: Seconds the token clock runs ahead: well over EXP-08's 30 s bound.
SKEW = 120.0


def _fast_clock() -> float:
    return time.time() + SKEW


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    # The defect: a clock that is not the host's (a container with a drifting clock, say).
    return reference_app(settings, store, clock=_fast_clock)
