"""Access tokens are checked by signature and exp only, so they outlive logout (breaks LGO-02).

The session is revoked in the store, so refresh tokens die; stateless access tokens do not.
"""

from __future__ import annotations

from reference_server.errors import Unauthorized
from reference_server.sessions import Principal, SessionService
from reference_server.tokens import InvalidToken, decode_access

from ._service import app_with


class StatelessAccessTokens(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        if not access_token:
            raise Unauthorized("Access token required")
        try:
            claims = decode_access(self.settings, access_token, now=self.clock())
        except InvalidToken:
            raise Unauthorized("Invalid access token", invalid_token=True) from None
        # The defect: no look-up of the session, so logout cannot end this token.
        return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))


create_app = app_with(StatelessAccessTokens)
