"""Only the immediate predecessor of the current refresh token triggers reuse detection (breaks REU-05).

Older generations are refused without revoking the family, as when a server keeps just the last
used token (or lets a grace window swallow everything older): R1 replayed after R1 -> R2 -> R3
leaves R3 alive.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, LoginResult, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with


class ForgetsOlderGenerations(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: session id -> jtis of its refresh tokens, oldest first
        self.chains: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def _remember(self, tokens: IssuedTokens) -> None:
        claims = decode_refresh(self.settings, tokens.refresh_token, now=self.clock())
        with self.lock:
            self.chains.setdefault(claims["sid"], []).append(claims["jti"])

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
            older = self.chains.get(claims["sid"], [])[:-2]
        if claims["jti"] in older:
            # The defect: only the last used token is remembered as used; older ones are merely refused.
            raise Unauthorized("Refresh token expired or used", invalid_token=True)
        issued = super().refresh(refresh_token)
        self._remember(issued)
        return issued


create_app = app_with(ForgetsOlderGenerations)
