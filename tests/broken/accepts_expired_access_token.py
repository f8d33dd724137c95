"""The protected resource never checks the access token's exp (breaks EXP-03, and EXP-04).

Signature, type, issuer, audience and the session are still verified; only expiry is skipped.
"""

from __future__ import annotations

import base64
import json

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import Principal, SessionService
from tokenconform_server.tokens import InvalidToken, decode_access

from ._service import app_with


def _unverified_iat(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        iat = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("iat")
    except (IndexError, ValueError):
        return None
    return float(iat) if isinstance(iat, int) else None


class AcceptsExpiredAccessToken(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        try:
            return super().authenticate(access_token)
        except Unauthorized:
            iat = _unverified_iat(access_token or "")
            if iat is None:
                raise
            # The defect: the token is verified as of the moment it was issued, so exp never bites.
            try:
                claims = decode_access(self.settings, access_token or "", now=iat)
            except InvalidToken:
                raise Unauthorized("Invalid token", invalid_token=True) from None
            if not self.store.is_session_active(
                claims["sid"], user_id=claims["_id"], token_version=claims["ver"], now=self.clock()
            ):
                raise
            return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))


create_app = app_with(AcceptsExpiredAccessToken)
