"""Access tokens are accepted for four seconds past their exp (breaks EXP-04 with max_leeway = 1).

A scaled-down stand-in for a server configured with a leeway of many minutes: the token does
expire (EXP-03 passes), only later than the profile's declared policy.max_leeway allows.
"""

from __future__ import annotations

from reference_server.errors import Unauthorized
from reference_server.sessions import Principal, SessionService
from reference_server.tokens import InvalidToken, decode_access

from ._service import app_with

#: Seconds past exp during which an access token is still accepted.
LEEWAY = 4.0


class LargeExpiryLeeway(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        try:
            return super().authenticate(access_token)
        except Unauthorized:
            now = self.clock()
            # The defect: exp is compared with a clock running LEEWAY seconds slow.
            try:
                claims = decode_access(self.settings, access_token or "", now=now - LEEWAY)
            except InvalidToken:
                raise Unauthorized("Invalid token", invalid_token=True) from None
            if not self.store.is_session_active(
                claims["sid"], user_id=claims["_id"], token_version=claims["ver"], now=now
            ):
                raise
            return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))


create_app = app_with(LargeExpiryLeeway)
