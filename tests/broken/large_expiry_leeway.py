"""Access tokens are accepted for some seconds past their exp (breaks EXP-04 with max_leeway = 1).

A scaled-down stand-in for a server configured with a leeway of many minutes: the token does
expire (EXP-03 passes), only later than the profile's declared policy.max_leeway allows.
"""

from __future__ import annotations

from tests.selfproof.setups import TIGHT_LEEWAY
from tokenconform.checks.expiry import _NEVER_EXPIRES_MARGIN
from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import Principal, SessionService
from tokenconform_server.tokens import InvalidToken, decode_access

from ._jwt import parse
from ._service import app_with

#: Seconds past exp during which an access token is still accepted, derived from the checks' probes:
#: EXP-04 probes at exp + EXPIRY_SLACK + the declared leeway, EXP-03 that plus _NEVER_EXPIRES_MARGIN.
#: Dying at exp + declared leeway + margin leaves EXPIRY_SLACK before EXP-03's probe (which is never
#: early) and margin - EXPIRY_SLACK after EXP-04's, which a whole run may finish late (its untimed
#: checks run between a timed check's halves).
LEEWAY = TIGHT_LEEWAY + _NEVER_EXPIRES_MARGIN
#: seconds before exp at which a token inside the leeway is verified
_JUST_BEFORE = 0.001


class LargeExpiryLeeway(SessionService):
    def authenticate(self, access_token: str | None) -> Principal:
        try:
            return super().authenticate(access_token)
        except Unauthorized:
            now = self.clock()
            parts = parse(access_token or "")
            exp = parts.payload.get("exp") if parts is not None else None
            # The defect: exp is compared with a leeway of LEEWAY seconds. The token is verified as
            # at an instant just before its exp, so every other rule (iat, nbf, signature) still holds.
            if not isinstance(exp, (int, float)) or not exp <= now < exp + LEEWAY:
                raise
            try:
                claims = decode_access(self.settings, access_token or "", now=exp - _JUST_BEFORE)
            except InvalidToken:
                raise Unauthorized("Invalid token", invalid_token=True) from None
            if not self.store.is_session_active(
                claims["sid"], user_id=claims["_id"], token_version=claims["ver"], now=now
            ):
                raise
            return Principal(user_id=claims["_id"], session_id=claims["sid"], claims=dict(claims))


create_app = app_with(LargeExpiryLeeway)
