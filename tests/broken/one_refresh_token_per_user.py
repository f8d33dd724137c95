"""Each user has one refresh token, which every login overwrites (breaks CON-03).

The seed keeps ``user.refreshToken``: a login stores its refresh token there and a refresh is
refused unless the presented token is the stored one. Each login makes its own session and its own
tokens, and access tokens stay valid, so only a refresh shows that a second login ended the first
session's refresh token. Everything else (rotation, reuse detection, logout) is the reference's.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, LoginResult, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with


class OneRefreshTokenPerUser(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        #: user id -> jti of the one refresh token the user may present
        self.stored: dict[str, str] = {}

    def _store(self, refresh_token: str) -> None:
        claims = decode_refresh(self.settings, refresh_token, now=self.clock())
        self.stored[claims["_id"]] = claims["jti"]

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        result = super().login(body, user_agent=user_agent)
        with self.lock:
            # The defect: the user's earlier sessions lose their refresh token.
            self._store(result.tokens.refresh_token)
        return result

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=self.clock())
        except InvalidToken:
            return super().refresh(refresh_token)
        with self.lock:
            if self.stored.get(claims["_id"]) != claims["jti"]:
                # A used token is still detected as reuse first, as the reference does.
                self.check_reuse(refresh_token)
                raise Unauthorized("Invalid refresh token", invalid_token=True)
            issued = super().refresh(refresh_token)
            self._store(issued.refresh_token)
            return issued


create_app = app_with(OneRefreshTokenPerUser)
