"""ignores_session_end: a refused refresh is swallowed; the app goes on calling with the dead
session's access token and finishes as if nothing happened. Fails CLI-05."""

import sys

from _app import app

from tokenconform.session_client import SessionExpired, Tokens, TokenSession


class IgnoresSessionEnd(TokenSession):
    def _refresh_after(self, generation: int) -> Tokens:
        kept = self.tokens
        try:
            return super()._refresh_after(generation)
        except SessionExpired:
            if kept is None:
                raise
            self._tokens, self._ended = kept, None
            return kept


if __name__ == "__main__":
    sys.exit(app().main(IgnoresSessionEnd))
