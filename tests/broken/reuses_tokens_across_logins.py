"""Logins of one user within the same second get the very same tokens (breaks TOK-11).

As when a token is derived from (user, iat) with no random jti: two logins in one second collide.
"""

from __future__ import annotations

import threading

from tokenconform_server.sessions import LoginResult, SessionService

from ._service import app_with


class SameSecondSameTokens(SessionService):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._issued: dict[tuple[str, int], LoginResult] = {}
        self._lock = threading.Lock()

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        result = super().login(body, user_agent=user_agent)
        key = (result.user["_id"], int(self.clock()))
        with self._lock:
            return self._issued.setdefault(key, result)


create_app = app_with(SameSecondSameTokens)
