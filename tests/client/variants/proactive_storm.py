"""proactive_storm: "refresh before exp" with no cap on the margin, so every call refreshes
first. Fails CLI-08."""

import sys

from _app import app

from tokenconform.session_client import Tokens, TokenSession


class ProactiveStorm(TokenSession):
    def _due(self, tokens: Tokens) -> bool:
        return tokens.refresh_token is not None


if __name__ == "__main__":
    sys.exit(app().main(ProactiveStorm))
