"""refresh_cookie_ignores_path: a cookie jar that ignores Path, so the refresh cookie (Path=/refresh)
rides along to every API call. Fails CLI-06 under --delivery cookie."""

import sys

from _app import app
from _jar import CookieJarSession


class RefreshCookieIgnoresPath(CookieJarSession):
    def sends(self, request_path: str, cookie_path: str) -> bool:
        return True


if __name__ == "__main__":
    sys.exit(app().main(RefreshCookieIgnoresPath))
