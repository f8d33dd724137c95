"""A refresh token that was already exchanged is accepted again, as a new branch (breaks REU-01).

There is no record of used tokens: a replayed one is verified by signature and exp only and
answered with a fresh pair in a new session, so both the attacker and the client stay logged in.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with, new_branch


class NoReuseDetection(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: jti of each exchanged refresh token -> (user id, the session's absolute expiry)
        self.exchanged: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=self.clock())
        except InvalidToken:
            return super().refresh(refresh_token)
        with self.lock:
            known = self.exchanged.get(claims["jti"])
        if known is not None:
            # The defect: a used token is not recognised as reuse; it starts another branch.
            return new_branch(self, *known)
        issued = super().refresh(refresh_token)
        session = self.store.get_session(issued.session_id)
        assert session is not None
        with self.lock:
            self.exchanged[claims["jti"]] = (claims["_id"], session.absolute_expires_at)
        return issued


create_app = app_with(NoReuseDetection)
