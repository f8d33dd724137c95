"""Rotation reads, then writes, with no atomic check: concurrent refreshes fork the family (breaks CON-01).

A server that keeps one row per refresh token checks "is this token unused?", then (after a
database round trip) marks it used and inserts the successor, without a conditional write. Every
racer whose read came before the first write gets its own successor, and each one lives: the
family has forked. Everything else is the reference's: the session (``sid``) stays the same, so
reuse of any older token, logout and logout-all still end every branch.

The reference store holds one current token per session, so the extra live successors are kept
here (``branches``), as the extra rows such a store would hold. To make the bad interleaving certain,
a rotation writes only once no other read of the same token has arrived for ``PAUSE`` seconds;
racers arriving after the first write are reuse, as they would be on such a server.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.store import Outcome
from tokenconform_server.tokens import InvalidToken, decode_refresh, new_jti

from ._service import app_with

#: Seconds without a further read of the same token before the first write (the round trip).
PAUSE = 0.3


class RacyRotation(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        #: session id -> jtis of live successors besides the store's current one
        self.branches: dict[str, set[str]] = {}
        #: jti -> when it was last read as current; jtis already written
        self.last_read: dict[str, float] = {}
        self.written: set[str] = set()

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=now)
        except InvalidToken:
            return super().refresh(refresh_token)
        session_id, jti = claims["sid"], claims["jti"]
        with self.lock:
            branch = jti in self.branches.get(session_id, set())
        if branch:
            return self._successor(session_id, claims["_id"], jti)
        # The read: is this its session's current token? (Reuse of an older one revokes, as ever.)
        outcome = self.store.check_reuse(session_id=session_id, user_id=claims["_id"], jti=jti, now=now)
        if outcome is not Outcome.OK:
            return super().refresh(refresh_token)
        self._settle(jti)
        with self.lock:
            first = jti not in self.written
            self.written.add(jti)
        if first:
            return super().refresh(refresh_token)
        # The defect: the write does not re-check what was read; this racer's successor lives too.
        return self._successor(session_id, claims["_id"], jti)

    def _settle(self, jti: str) -> None:
        with self.lock:
            self.last_read[jti] = time.monotonic()
        while True:
            with self.lock:
                wait = self.last_read[jti] + PAUSE - time.monotonic()
            if wait <= 0:
                return
            time.sleep(wait)

    def _successor(self, session_id: str, user_id: str, used: str) -> IssuedTokens:
        now = self.clock()
        session, user = self.store.get_session(session_id), self.store.get_user(user_id)
        if session is None or user is None or not session.is_active(now):
            raise Unauthorized("Refresh token expired or used", invalid_token=True)
        successor = new_jti()
        with self.lock:
            live = self.branches.setdefault(session_id, set())
            live.discard(used)
            live.add(successor)
        return self._issue(user, session_id, successor, now=now, not_after=int(session.absolute_expires_at))


create_app = app_with(RacyRotation)
