"""Concurrent refreshes with one token all succeed; the last write becomes current (breaks CON-01).

Each refresh checks that the presented token is current, then (held until a second racer has
passed the check too, standing in for a slow database round trip) overwrites the session's current
token with its own successor, whatever was written in between. The family never forks:
only the last successor stays current and presenting an earlier one is detected as reuse. But one
refresh token minted N access tokens, which a single-use token must never do.
"""

from __future__ import annotations

import threading

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.store import Outcome
from tokenconform_server.tokens import InvalidToken, decode_refresh, new_jti

from ._service import app_with

#: Seconds without another refresh of the session that end the wait between check and write.
QUIET = 0.3
#: The first racer waits longer for a second to arrive: on a loaded machine (CI saw it once) the
#: racers released together can reach the check more than QUIET apart.
FIRST_QUIET = 0.6


class LastWriteWins(SessionService):
    _writes = threading.Lock()
    _current: dict[str, str] = {}
    _passed = threading.Condition()
    _checked: dict[str, int] = {}

    def _wait_for_a_second_racer(self, session_id: str) -> None:
        """Hold the write until the refreshes of this session released together have all passed the
        check (none came for QUIET seconds): the bad interleaving every time, however loaded the
        machine, as long as the racers fit the server's worker threads."""
        with self._passed:
            self._checked[session_id] = self._checked.get(session_id, 0) + 1
            self._passed.notify_all()
            quiet = FIRST_QUIET if self._checked[session_id] == 1 else QUIET
            while True:
                seen = self._checked[session_id]
                if not self._passed.wait_for(lambda seen=seen: self._checked[session_id] != seen, timeout=quiet):
                    return
                quiet = QUIET

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        now = self.clock()
        try:
            claims = decode_refresh(self.settings, refresh_token or "", now=now)
        except InvalidToken:
            return super().refresh(refresh_token)
        outcome = self.store.check_reuse(session_id=claims["sid"], user_id=claims["_id"], jti=claims["jti"], now=now)
        if outcome is not Outcome.OK:
            raise Unauthorized("Refresh token expired or used", invalid_token=True)
        self._wait_for_a_second_racer(claims["sid"])
        replacement = new_jti()
        with self._writes:
            # The defect: the write replaces whatever is current instead of the token presented.
            current = self._current.get(claims["sid"], claims["jti"])
            rotation = self.store.rotate(
                session_id=claims["sid"], user_id=claims["_id"], jti=current, new_jti=replacement, now=self.clock()
            )
            if rotation.outcome is not Outcome.OK or rotation.session is None or rotation.user is None:
                raise Unauthorized("Refresh token expired or used", invalid_token=True)
            self._current[claims["sid"]] = replacement
        return self._issue(
            rotation.user,
            rotation.session.id,
            replacement,
            now=now,
            not_after=int(rotation.session.absolute_expires_at),
        )


create_app = app_with(LastWriteWins)
