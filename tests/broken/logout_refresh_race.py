"""A refresh that checked its token before a concurrent logout still issues a live successor (breaks CON-02).

The refresh reads the session as active, then writes the successor without re-checking, so a
logout committed in between is undone for the new token. To make the bad interleaving certain,
the refresh waits (up to a second) for a logout of the same session between its check and its
write, and a logout waits (up to a second) for a refresh of its session to have passed its check.
"""

from __future__ import annotations

import threading
from typing import Any

from reference_server.errors import Unauthorized
from reference_server.sessions import IssuedTokens, SessionService
from reference_server.store import Outcome
from reference_server.tokens import InvalidToken, decode_access, decode_refresh, new_jti

from ._service import app_with

#: Longest wait at either side of the forced interleaving, seconds.
WINDOW = 1.0


class LogoutRefreshRace(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        #: session id -> (a refresh has passed its check, a logout has committed)
        self.events: dict[str, tuple[threading.Event, threading.Event]] = {}

    def _events(self, session_id: str) -> tuple[threading.Event, threading.Event]:
        with self.lock:
            return self.events.setdefault(session_id, (threading.Event(), threading.Event()))

    def _session_of(self, access_token: str | None, refresh_token: str | None) -> str | None:
        now = self.clock()
        for token, decode in ((access_token, decode_access), (refresh_token, decode_refresh)):
            if token:
                try:
                    return str(decode(self.settings, token, now=now)["sid"])
                except InvalidToken:
                    continue
        return None

    def logout(self, *, access_token: str | None, refresh_token: str | None) -> None:
        session_id = self._session_of(access_token, refresh_token)
        if session_id is None:
            return super().logout(access_token=access_token, refresh_token=refresh_token)
        checked, logged_out = self._events(session_id)
        checked.wait(WINDOW)
        try:
            super().logout(access_token=access_token, refresh_token=refresh_token)
        finally:
            logged_out.set()

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=now)
        except InvalidToken:
            return super().refresh(refresh_token)
        outcome = self.store.check_reuse(session_id=claims["sid"], user_id=claims["_id"], jti=claims["jti"], now=now)
        session = self.store.get_session(claims["sid"])
        user = self.store.get_user(claims["_id"])
        if outcome is not Outcome.OK or session is None or user is None:
            raise Unauthorized("Refresh token expired or used", invalid_token=True)
        checked, logged_out = self._events(session.id)
        checked.set()
        logged_out.wait(WINDOW)
        # The defect: the successor is written without re-checking that the session still lives.
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


create_app = app_with(LogoutRefreshRace)
