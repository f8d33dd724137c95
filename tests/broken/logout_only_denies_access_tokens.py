"""Logout refuses the session's access tokens but leaves its refresh token working (breaks LGO-01)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import Principal, SessionService

from ._service import app_with


class LogoutOnlyDeniesAccessTokens(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended: set[str] = set()

    def authenticate(self, access_token: str | None) -> Principal:
        principal = super().authenticate(access_token)
        if principal.session_id in self.ended:
            raise Unauthorized("Invalid access token", invalid_token=True)
        return principal

    def logout(self, *, access_token: str | None, refresh_token: str | None) -> None:
        # The defect: an in-memory deny list for access tokens, and no revocation in the store.
        self.ended.add(self.authenticate(access_token).session_id)


create_app = app_with(LogoutOnlyDeniesAccessTokens)
