"""The refresh endpoint never checks the refresh token's exp (breaks EXP-06).

Signature, type, issuer, audience and rotation (the token must be its session's current one)
are still verified; an expired token is simply treated as if it were still valid.
"""

from __future__ import annotations

import base64
import json

from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh, issue_refresh

from ._service import app_with


def _unverified_iat(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        iat = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("iat")
    except (IndexError, ValueError):
        return None
    return float(iat) if isinstance(iat, int) else None


class AcceptsExpiredRefreshToken(SessionService):
    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        iat = _unverified_iat(refresh_token or "")
        if refresh_token and iat is not None:
            try:
                decode_refresh(self.settings, refresh_token, now=self.clock())
            except InvalidToken as exc:
                if exc.expired:
                    # The defect: an expired token is verified as of its issue time and re-signed
                    # with a fresh exp (same jti), so the rotation below accepts it.
                    claims = decode_refresh(self.settings, refresh_token, now=iat)
                    refresh_token = issue_refresh(
                        self.settings,
                        user_id=claims["_id"],
                        session_id=claims["sid"],
                        now=self.clock(),
                        jti=claims["jti"],
                    ).token
        return super().refresh(refresh_token)


create_app = app_with(AcceptsExpiredRefreshToken)
