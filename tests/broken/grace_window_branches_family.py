"""A retry within the grace window gets a new refresh token in a new branch (breaks REU-07).

The server has a five-second retry grace window, but instead of answering a retried refresh with
the successor it already issued, it issues another one: the family forks, and both branches live.
Run it with a profile declaring policy.concurrent_refresh_grace = 5.
"""

from __future__ import annotations

import threading
from typing import Any

from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.tokens import InvalidToken, decode_refresh

from ._service import app_with, new_branch

#: Seconds after a rotation during which the predecessor is honoured again.
GRACE = 5.0


class GraceWindowBranches(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: jti of each exchanged refresh token -> (when, user id, the session's absolute expiry)
        self.rotated: dict[str, tuple[float, str, float]] = {}
        self.lock = threading.Lock()

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=self.clock())
        except InvalidToken:
            return super().refresh(refresh_token)
        with self.lock:
            known = self.rotated.get(claims["jti"])
        if known is not None and self.clock() - known[0] < GRACE:
            # The defect: a second successor in a new branch, not the one already issued.
            return new_branch(self, known[1], known[2])
        issued = super().refresh(refresh_token)
        session = self.store.get_session(issued.session_id)
        assert session is not None
        with self.lock:
            self.rotated[claims["jti"]] = (self.clock(), claims["_id"], session.absolute_expires_at)
        return issued


create_app = app_with(GraceWindowBranches)
