"""The access token's payload carries the user's bcrypt hash (breaks TOK-10).

The seed-style bug: the whole user record spread into the JWT claims.
"""

from __future__ import annotations

from tokenconform import jwt_probes
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.store import UserRecord

from ._service import app_with


class HashInToken(SessionService):
    def _issue(
        self, user: UserRecord, session_id: str, refresh_jti: str, *, now: float, not_after: int
    ) -> IssuedTokens:
        issued = super()._issue(user, session_id, refresh_jti, now=now, not_after=not_after)
        parts = jwt_probes.split(issued.access_token)
        payload = {**parts.payload, "password": user.password_hash}
        token = jwt_probes.sign_hs(parts.header, payload, self.settings.access_secret.encode("utf-8"))
        return IssuedTokens(
            access_token=token,
            refresh_token=issued.refresh_token,
            access_expires_at=issued.access_expires_at,
            refresh_expires_at=issued.refresh_expires_at,
            session_id=issued.session_id,
        )


create_app = app_with(HashInToken)
