"""Logins of one user within a few seconds of each other share one session (breaks CON-03).

The password is checked on every login, but a second login soon after the first gets the first
one's tokens back, as a per-user response cache would do: parallel devices cannot hold
independent sessions.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.sessions import LoginResult, SessionService

from ._service import app_with

#: Seconds during which a user's later logins get the earlier login's session.
WINDOW = 5.0


class ParallelLoginsShareSession(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.recent: dict[str, tuple[float, LoginResult]] = {}

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        result = super().login(body, user_agent=user_agent)
        now = self.clock()
        with self.lock:
            earlier = self.recent.get(result.user["_id"])
            if earlier is not None and now - earlier[0] < WINDOW:
                # The defect: the earlier session is handed out again.
                return earlier[1]
            self.recent[result.user["_id"]] = (now, result)
        return result


create_app = app_with(ParallelLoginsShareSession)
