"""Reuse detection revokes the refresh family but not its access tokens (breaks REU-04).

Logout still kills access tokens; only a session revoked for refresh-token reuse leaves its
access tokens working until their exp.
"""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import Principal, SessionService
from tokenconform_server.tokens import InvalidToken, decode_access

from ._service import app_with


class ReuseKeepsAccessTokensAlive(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        try:
            return super().authenticate(access_token)
        except Unauthorized:
            try:
                claims = decode_access(self.settings, access_token or "", now=self.clock())
            except InvalidToken:
                raise Unauthorized("Invalid token", invalid_token=True) from None
            session = self.store.get_session(claims["sid"])
            # The defect: a session revoked for reuse still honours its access tokens.
            if session is None or session.revoked_reason != "reuse":
                raise
            return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))


create_app = app_with(ReuseKeepsAccessTokensAlive)
