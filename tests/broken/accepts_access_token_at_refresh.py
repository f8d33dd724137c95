"""An access token presented at /refresh is exchanged for a new token pair (breaks TOK-08)."""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.tokens import InvalidToken, decode_access, new_jti

from ._service import app_with


class AccessTokensRefresh(SessionService):
    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            return super().refresh(refresh_token)
        except Unauthorized as denied:
            # The defect: whatever verifies with one of our keys is good enough to mint tokens.
            now = self.clock()
            try:
                claims = decode_access(self.settings, refresh_token or "", now=now)
            except InvalidToken:
                raise denied from None
            user = self.store.get_user(claims["_id"])
            if user is None:
                raise denied from None
            jti = new_jti()
            absolute = int(now) + self.settings.session_max_age
            session = self.store.create_session(
                user_id=user.id, user_agent="", jti=jti, now=now, absolute_expires_at=absolute
            )
            return self._issue(user, session.id, jti, now=now, not_after=absolute)


create_app = app_with(AccessTokensRefresh)
