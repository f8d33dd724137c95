"""Logout ends the refresh token but not the session's access tokens (breaks LGO-02).

Logout revokes the session in the store, so its refresh token dies; the access check still looks
the session up (reuse detection and logout-all still end access tokens) but, as a server that keeps
no deny list for logged-out access tokens does, it lets a session ended by logout through until exp.
"""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import Principal, SessionService
from tokenconform_server.tokens import InvalidToken, decode_access

from ._service import app_with


class LogoutKeepsAccessTokensAlive(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        try:
            return super().authenticate(access_token)
        except Unauthorized:
            # Only a token refused for its session (it verified, so decoding it again succeeds).
            now = self.clock()
            try:
                claims = decode_access(self.settings, access_token or "", now=now)
            except InvalidToken:
                raise Unauthorized("Invalid token", invalid_token=True) from None
            session = self.store.get_session(claims["sid"])
            # The defect: a session revoked by logout (and only by logout) still admits its access tokens.
            if session is None or session.revoked_reason != "logout" or now >= session.absolute_expires_at:
                raise
            return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))


create_app = app_with(LogoutKeepsAccessTokensAlive)
