"""no_single_flight: every 401 refreshes on its own (one after the other), so N concurrent 401s
make N refreshes. Fails CLI-01."""

import sys
import threading
from typing import Any

from _app import app

from tokenconform.session_client import Tokens, TokenSession


class NoSingleFlight(TokenSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.RLock()  # type: ignore[assignment]

    def _refresh_after(self, generation: int) -> Tokens:
        with self._lock:  # read the generation under the lock: it always matches, so always refresh
            return super()._refresh_after(self._generation)


if __name__ == "__main__":
    sys.exit(app().main(NoSingleFlight))
