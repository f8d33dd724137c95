"""refresh_token_everywhere: sends the refresh token as a cookie on every API call, as a cookie
jar with a Path=/ refresh cookie does. Fails CLI-06."""

import sys
from typing import Any

import requests
from _app import app

from tokenconform.session_client import Tokens, TokenSession


class RefreshTokenEverywhere(TokenSession):
    def _authorised(self, method: str, url: str, tokens: Tokens, kwargs: dict[str, Any]) -> requests.Response:
        headers = dict(kwargs.get("headers") or {})
        headers["Cookie"] = f"refreshToken={tokens.refresh_token}"
        return super()._authorised(method, url, tokens, {**kwargs, "headers": headers})


if __name__ == "__main__":
    sys.exit(app().main(RefreshTokenEverywhere))
