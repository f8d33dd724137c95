"""Every rotation gives the refresh token a fresh lifetime with no absolute cap (breaks EXP-02).

The server ignores its session_max_age setting: a session, and each refresh token's exp, slides
forward by refresh_ttl at every rotation for as long as the client keeps refreshing.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.sessions import SessionService

from ._service import app_with

#: Ten years: as good as no cap at all.
NO_CAP = 10 * 365 * 24 * 3600


class SlidingRefreshWithoutCap(SessionService):
    def __init__(self, settings: Any, *args: Any, **kwargs: Any) -> None:
        # The defect: the absolute session lifetime is never applied.
        super().__init__(settings.replace(session_max_age=NO_CAP), *args, **kwargs)


create_app = app_with(SlidingRefreshWithoutCap)
