"""Rotation reads, then writes, with no atomic check: concurrent refreshes fork the family (breaks CON-01).

The refresh checks that the presented token is its session's current one, then (after a pause
that stands for a slow database round trip, and forces the bad interleaving every time) retires
the session and writes the successor into a new one, the way a token-per-row store without a
conditional update does. Every request that passed the check before the first write wins, each
with its own live branch.
"""

from __future__ import annotations

import time

from reference_server.errors import Unauthorized
from reference_server.sessions import IssuedTokens, SessionService
from reference_server.store import Outcome
from reference_server.tokens import InvalidToken, decode_refresh, new_jti

from ._service import app_with

#: Seconds between the check and the write: every racer released together lands inside it.
PAUSE = 0.3


class RacyRotation(SessionService):
    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=now)
        except InvalidToken:
            return super().refresh(refresh_token)
        # Read: is this the session's current token? (Reuse of an old one still revokes.)
        outcome = self.store.check_reuse(session_id=claims["sid"], user_id=claims["_id"], jti=claims["jti"], now=now)
        session = self.store.get_session(claims["sid"])
        user = self.store.get_user(claims["_id"])
        if outcome is not Outcome.OK or session is None or user is None:
            raise Unauthorized("Refresh token expired or used", invalid_token=True)
        # The defect: the write below does not re-check what was read above.
        time.sleep(PAUSE)
        now = self.clock()
        self.store.revoke_session(session.id, reason="rotated", now=now)
        jti = new_jti()
        successor = self.store.create_session(
            user_id=user.id,
            user_agent=session.user_agent,
            jti=jti,
            now=now,
            absolute_expires_at=session.absolute_expires_at,
        )
        return self._issue(user, successor.id, jti, now=now, not_after=int(session.absolute_expires_at))


create_app = app_with(RacyRotation)
