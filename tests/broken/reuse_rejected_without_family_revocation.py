"""A replayed refresh token is refused, but the family's active token lives on (breaks REU-02, 03, 05).

The server remembers each session's current refresh token and refuses any other one, without
revoking anything: the attacker (or the client) holding the active token keeps the session.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, LoginResult, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with


class RejectsWithoutRevoking(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: session id -> jti of its current refresh token
        self.current: dict[str, str] = {}
        self.lock = threading.Lock()

    def _remember(self, tokens: IssuedTokens) -> None:
        claims = decode_refresh(self.settings, tokens.refresh_token, now=self.clock())
        with self.lock:
            self.current[claims["sid"]] = claims["jti"]

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        result = super().login(body, user_agent=user_agent)
        self._remember(result.tokens)
        return result

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=self.clock())
        except InvalidToken:
            return super().refresh(refresh_token)
        with self.lock:
            current = self.current.get(claims["sid"])
        if current is not None and current != claims["jti"]:
            # The defect: a used token is refused, and that is all; nothing is revoked.
            raise Unauthorized("Refresh token expired or used", invalid_token=True)
        issued = super().refresh(refresh_token)
        self._remember(issued)
        return issued


create_app = app_with(RejectsWithoutRevoking)
