"""keeps_old_refresh_token: takes the new access token from a refresh but keeps presenting the
first refresh token. Fails CLI-04."""

import dataclasses
import sys

from _app import app

from tokenconform.session_client import Tokens, TokenSession


class KeepsOldRefreshToken(TokenSession):
    def _replace(self, tokens: Tokens) -> None:
        if self.tokens is not None:
            tokens = dataclasses.replace(tokens, refresh_token=self.tokens.refresh_token)
        super()._replace(tokens)


if __name__ == "__main__":
    sys.exit(app().main(KeepsOldRefreshToken))
