"""parallel_refreshes: every 401 refreshes at once with the token it holds, in parallel with the
others (the seed's apiCall in Python): no single-flight, and nothing else wrong. The parallel
refreshes present one refresh token several times, the server sees a replay and revokes the
family, and the client ends the session it broke. Fails CLI-01, and only CLI-01: its other
refreshes were sent before any answer reached it."""

import sys
from typing import Any

from _app import app

from tokenconform.session_client import Tokens, TokenSession


class _NoLock:
    def __enter__(self) -> "_NoLock":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class ParallelRefreshes(TokenSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = _NoLock()  # type: ignore[assignment]

    def _refresh_after(self, generation: int) -> Tokens:
        return super()._refresh_after(self._generation)  # always "mine to refresh"


if __name__ == "__main__":
    sys.exit(app().main(ParallelRefreshes))
