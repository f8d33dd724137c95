"""Logging out one device logs out all of the user's devices (breaks LGO-05).

Logout ends the presented session exactly as the reference does (by access token, or by refresh
token when the access token has expired), then every other session of the same user too.
"""

from __future__ import annotations

from tokenconform_server.sessions import SessionService
from tokenconform_server.tokens import InvalidToken, decode_access, decode_refresh

from ._service import app_with


class LogoutEndsEverySession(SessionService):
    def logout(self, *, access_token: str | None, refresh_token: str | None) -> None:
        super().logout(access_token=access_token, refresh_token=refresh_token)
        now = self.clock()
        for token, decode in ((access_token, decode_access), (refresh_token, decode_refresh)):
            try:
                user_id = str(decode(self.settings, token or "", now=now)["_id"])
            except InvalidToken:
                continue
            # The defect: the user's other sessions end with this one.
            self.store.revoke_all_for_user(user_id, reason="logout", now=now)
            return


create_app = app_with(LogoutEndsEverySession)
