"""A refresh saves the session it read before a concurrent logout, undoing the logout (breaks CON-02).

The classic lost update: the refresh reads the session (active, its token current), then writes the
whole row back with the successor, stale ``revoked_at`` included, instead of a conditional UPDATE.
A logout committed in between is undone and the successor lives. Everything else is the reference's.

To make the bad interleaving certain, a refresh that passed its read waits (up to ``WINDOW``) for a
logout of the same session that arrives within ``ARRIVAL`` seconds, and such a logout waits for the
refresh to have read. A refresh with no logout in sight writes after ``ARRIVAL``, so the rest of the
suite sees a server that is only that much slower.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.store import Outcome, jti_hash
from tokenconform_server.tokens import InvalidToken, decode_access, decode_refresh, new_jti

from ._service import app_with

#: Longest wait at either side of the forced interleaving, seconds.
WINDOW = 1.0
#: How long either side looks out for the other (both are released together by CON-02's barrier).
ARRIVAL = 0.2


class _Race:
    def __init__(self) -> None:
        self.refresh_read = threading.Event()
        self.logout_arrived = threading.Event()
        self.logout_done = threading.Event()


class LogoutRefreshRace(SessionService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.races: dict[str, _Race] = {}

    def _race(self, session_id: str) -> _Race:
        with self.lock:
            return self.races.setdefault(session_id, _Race())

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
        race = self._race(session_id)
        race.logout_arrived.set()
        race.refresh_read.wait(ARRIVAL)
        try:
            super().logout(access_token=access_token, refresh_token=refresh_token)
        finally:
            race.logout_done.set()

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=now)
        except InvalidToken:
            return super().refresh(refresh_token)
        session_id, jti = claims["sid"], claims["jti"]
        # The read.
        outcome = self.store.check_reuse(session_id=session_id, user_id=claims["_id"], jti=jti, now=now)
        session, user = self.store.get_session(session_id), self.store.get_user(claims["_id"])
        if outcome is not Outcome.OK or session is None or user is None or not session.is_active(now):
            return super().refresh(refresh_token)
        race = self._race(session_id)
        race.refresh_read.set()
        if race.logout_arrived.wait(ARRIVAL):
            race.logout_done.wait(WINDOW)
        # The defect: the row read above is written back whole, so a logout committed since is undone.
        successor = new_jti()
        now = self.clock()
        self._write_back(session_id, used=jti, successor=successor, revoked_at=session.revoked_at, now=now)
        return self._issue(user, session_id, successor, now=now, not_after=int(session.absolute_expires_at))

    def _write_back(self, session_id: str, *, used: str, successor: str, revoked_at: float | None, now: float) -> None:
        # An unconditional UPDATE of the stale row, as an ORM's save() of the object read earlier
        # does; through its own connection, since the Store protocol (rightly) offers no such write.
        with sqlite3.connect(self.settings.db_path, timeout=10) as conn:
            conn.execute(
                "UPDATE sessions SET current_jti_hash = ?, last_rotated_at = ?, revoked_at = ?, revoked_reason = NULL "
                "WHERE id = ?",
                (jti_hash(successor), now, revoked_at, session_id),
            )
            conn.execute(
                "INSERT OR IGNORE INTO used_refresh_jtis (session_id, jti_hash, used_at) VALUES (?, ?, ?)",
                (session_id, jti_hash(used), now),
            )
        conn.close()


create_app = app_with(LogoutRefreshRace)
