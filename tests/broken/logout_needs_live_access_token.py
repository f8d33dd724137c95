"""Logout only accepts a live access token; a client whose access token expired cannot end its
session with its refresh token (breaks LGO-09)."""

from __future__ import annotations

from tokenconform_server.sessions import SessionService

from ._service import app_with


class LogoutByAccessTokenOnly(SessionService):
    def logout(self, *, access_token: str | None, refresh_token: str | None) -> None:
        # The defect: the refresh token is ignored, so logout needs the (expired) access token.
        super().logout(access_token=access_token, refresh_token=None)


create_app = app_with(LogoutByAccessTokenOnly)
