"""refresh_loop: a refused refresh is tried again with the same token (five times) instead of
ending the session. Fails CLI-03."""

import sys

from _app import app

from tokenconform.session_client import SessionExpired, Tokens, TokenSession


class RefreshLoop(TokenSession):
    def _end(self, ended: SessionExpired) -> None:
        self._ended = ended  # keeps the refused tokens

    def _refresh_after(self, generation: int) -> Tokens:
        for attempt in range(5):
            try:
                self._ended = None
                return super()._refresh_after(self._generation)
            except SessionExpired:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")


if __name__ == "__main__":
    sys.exit(app().main(RefreshLoop))
