"""A refresh token opens the protected resource like an access token (breaks TOK-07)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import Principal, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with


class RefreshTokensAuthenticate(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        try:
            return super().authenticate(access_token)
        except Unauthorized as denied:
            # The defect: "any token we signed will do", as when both kinds share one verifier.
            try:
                claims = decode_refresh(self.settings, access_token or "", now=self.clock())
            except InvalidToken:
                raise denied from None
            user = self.store.get_user(claims["_id"])
            if user is None:
                raise denied from None
            profile: dict[str, Any] = {"username": user.username, "email": user.email, "fullName": user.full_name}
            return Principal(user_id=user.id, session_id=claims["sid"], claims={**claims, **profile})


create_app = app_with(RefreshTokensAuthenticate)
