"""Used refresh tokens are remembered only for the retry grace window (breaks REU-01).

A server that keeps its used-token list in a cache whose entries expire with the declared retry
grace window instead of with the token: a rotated refresh token replayed within the window is
recognised (reuse detection revokes the family, as the reference does), but one replayed after it
is taken for a token never seen and answered with fresh tokens. Run with a profile declaring
policy.concurrent_refresh_grace = setups.GRACE; only REU-01 replays after the window.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with, new_branch

#: how long a used token is remembered: the grace window the profile declares (tests/selfproof/setups.py)
FORGET_AFTER = 5.0


class UsedRefreshTokensForgotten(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        #: jti of each exchanged refresh token -> (when, user id, the session's absolute expiry)
        self.used: dict[str, tuple[float, str, float]] = {}

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=self.clock())
        except InvalidToken:
            return super().refresh(refresh_token)
        with self.lock:
            known = self.used.get(claims["jti"])
        if known is not None and self.clock() - known[0] >= FORGET_AFTER:
            # The defect: the cache entry has expired; the replay looks like a first use.
            return new_branch(self, known[1], known[2])
        issued = super().refresh(refresh_token)
        session = self.store.get_session(issued.session_id)
        assert session is not None
        with self.lock:
            self.used.setdefault(claims["jti"], (self.clock(), claims["_id"], session.absolute_expires_at))
        return issued


create_app = app_with(UsedRefreshTokensForgotten)
