"""A refresh token that was already exchanged is accepted again (breaks ROT-02)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.sessions import IssuedTokens, SessionService

from ._service import app_with


class RefreshTokenNotUsedUp(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered: dict[str, IssuedTokens] = {}

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        # The defect: a replay is answered from a cache instead of being refused.
        if refresh_token in self.answered:
            return self.answered[refresh_token]
        issued = super().refresh(refresh_token)
        if refresh_token:
            self.answered[refresh_token] = issued
        return issued


create_app = app_with(RefreshTokenNotUsedUp)
