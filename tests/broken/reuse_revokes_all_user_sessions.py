"""Refresh-token reuse in one session logs the user out everywhere (breaks REU-06).

Safe but blunt: the compromised family is revoked, and with it every other session (device) of
the same user, which RFC 9700 §4.14.2 does not ask for.
"""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with


class ReuseRevokesAllSessions(SessionService):
    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            return super().refresh(refresh_token)
        except Unauthorized:
            try:
                claims = decode_refresh(self.settings, refresh_token or "", now=self.clock())
            except InvalidToken:
                raise Unauthorized("Invalid refresh token", invalid_token=True) from None
            session = self.store.get_session(claims["sid"])
            if session is not None and session.revoked_reason == "reuse":
                # The defect: the whole account is logged out, not just the family.
                self.store.revoke_all_for_user(claims["_id"], reason="reuse", now=self.clock())
            raise


create_app = app_with(ReuseRevokesAllSessions)
