"""A browser's cookie handling under TokenSession, for client-check's --delivery cookie.

``CookieJarSession`` keeps the cookies of every answer in a jar and sends back those whose Path
matches each request, as ``fetch(url, {credentials: "include"})`` does in a browser: the Cookie
header is the jar's, whatever TokenSession attached. The cookie variants break one part of it.
Run as a script it is the correct control, which passes every client requirement.
"""

from __future__ import annotations

import sys
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from _app import app

from tokenconform.client_judges import path_matches
from tokenconform.session_client import TokenSession


def default_path(request_path: str) -> str:
    """RFC 6265 §5.1.4: the Path of a cookie set without one."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]


class CookieJarSession(TokenSession):
    """TokenSession's refresh logic over a Path-honouring cookie jar.

    Secure cookies are kept and sent over http://127.0.0.1: browsers treat loopback as a secure
    context (W3C Secure Contexts §3.2), so that is what a browser client of the mock does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: (name, path) -> value, RFC 6265 §5.3 step 11: a cookie is replaced by name and path
        self.jar: dict[tuple[str, str], str] = {}
        self._jar_lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path or "/"
        request.headers.pop("Cookie", None)
        header = self.cookie_header(path)
        if header:
            request.headers["Cookie"] = header
        response = super().send(request, **kwargs)
        self.store(response, path)
        return response

    def sends(self, request_path: str, cookie_path: str) -> bool:
        return path_matches(request_path, cookie_path)

    def cookie_header(self, request_path: str) -> str:
        with self._jar_lock:
            matching = [(p, n, v) for (n, p), v in self.jar.items() if self.sends(request_path, p)]
        # RFC 6265 §5.4 step 2: cookies with longer paths are listed first.
        matching.sort(key=lambda item: -len(item[0]))
        return "; ".join(f"{name}={value}" for _, name, value in matching)

    def store(self, response: requests.Response, request_path: str) -> None:
        raw = getattr(response.raw, "headers", None)
        for line in raw.getlist("Set-Cookie") if raw is not None and hasattr(raw, "getlist") else []:
            self.keep(line, request_path)

    def keep(self, set_cookie: str, request_path: str) -> None:
        name_value, *attributes = set_cookie.split(";")
        name, _, value = name_value.partition("=")
        name, value = name.strip(), value.strip()
        path, max_age = default_path(request_path), None
        for attribute in attributes:
            key, _, argument = attribute.partition("=")
            key = key.strip().lower()
            if key == "path" and argument.strip().startswith("/"):
                path = argument.strip()
            elif key == "max-age" and argument.strip().lstrip("-").isdigit():
                max_age = int(argument.strip())
        with self._jar_lock:
            # RFC 6265 §5.2.2: Max-Age <= 0 expires the cookie at once (the reference's clearing).
            if max_age is not None and max_age <= 0:
                self.jar.pop((name, path), None)
            else:
                self.jar[(name, path)] = value


if __name__ == "__main__":
    sys.exit(app().main(CookieJarSession))
