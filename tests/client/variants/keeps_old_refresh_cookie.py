"""keeps_old_refresh_cookie: saves the refresh cookie once, after login (to restore the session on
a restart), and sends that saved one to /refresh ever after; the rotated cookie each refresh sets
is never saved. Fails CLI-04 under --delivery cookie."""

import sys
from typing import Any

import requests
from _app import app
from _jar import CookieJarSession


class KeepsOldRefreshCookie(CookieJarSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: dict[tuple[str, str], str] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        if not self.saved:
            cookie = self.profile.tokens_refresh.cookie
            self.saved = {key: value for key, value in self.jar.items() if key[0] == cookie}
        return response

    def cookie_header(self, request_path: str) -> str:
        with self._jar_lock:
            self.jar.update(self.saved)
        return super().cookie_header(request_path)


if __name__ == "__main__":
    sys.exit(app().main(KeepsOldRefreshCookie))
