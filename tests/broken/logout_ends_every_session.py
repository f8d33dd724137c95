"""Logging out one device logs out all of the user's devices (breaks LGO-05)."""

from __future__ import annotations

from reference_server.sessions import SessionService

from ._service import app_with


class LogoutEndsEverySession(SessionService):
    def logout(self, *, access_token: str | None, refresh_token: str | None) -> None:
        self.logout_all(access_token)


create_app = app_with(LogoutEndsEverySession)
