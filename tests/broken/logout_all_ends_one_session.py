"""Logout-all ends only the calling session; the user's other sessions live on (breaks LGO-06)."""

from __future__ import annotations

from tokenconform_server.sessions import SessionService

from ._service import app_with


class LogoutAllEndsOneSession(SessionService):
    def logout_all(self, access_token: str | None) -> None:
        self.logout(access_token=access_token, refresh_token=None)


create_app = app_with(LogoutAllEndsOneSession)
