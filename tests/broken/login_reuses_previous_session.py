"""A second login of the same user gets the first login's tokens back (breaks LGN-05)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.sessions import LoginResult, SessionService

from ._service import app_with


class ReusesPreviousSession(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.previous: dict[str, LoginResult] = {}

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        result = super().login(body, user_agent=user_agent)
        # The defect: the first session is handed out again to every later login.
        return self.previous.setdefault(result.user["_id"], result)


create_app = app_with(ReusesPreviousSession)
