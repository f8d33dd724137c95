"""Emulators of three real token-API shapes (simplejwt, flask-jwt-extended, OAuth 2.0) and their shared plumbing.

Each ``*_app.py`` builds a fresh ``bottle.Bottle`` that answers on the wire the way the framework
does in a default deployment, so ``test_shapes.py`` can run the whole suite against each one with
the matching built-in profile. The helpers here are the parts that are not framework behaviour:
accounts, JSON bodies, raw cookie parsing, and a stand-in for a database round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

import bottle

#: PBKDF2 rounds for the emulated password hashes: the suite never times logins here (LGN-03
#: needs a [register] endpoint), so a low cost keeps the runs fast.
_HASH_ROUNDS = 1000


class Accounts:
    """Fixed test accounts, created when the app starts, with salted PBKDF2 hashes.

    An unknown name costs one hash too, as Django's ModelBackend does ("Run the default password
    hasher once to reduce the timing difference between an existing and a nonexistent user").
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        self._salt = secrets.token_bytes(16)
        self._hashes = {name: self._hash(password) for name, password in users.items()}
        #: username -> numeric id, in creation order (simplejwt's user_id claim is the pk)
        self.ids = {name: number for number, name in enumerate(users, start=1)}

    def _hash(self, password: str) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "replace"), self._salt, _HASH_ROUNDS)

    def check(self, username: object, password: object) -> bool:
        if not isinstance(username, str) or not isinstance(password, str):
            return False
        candidate = self._hash(password)
        known = self._hashes.get(username)
        return known is not None and hmac.compare_digest(known, candidate)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> bottle.HTTPResponse:
    response = bottle.HTTPResponse(body=json.dumps(body), status=status)
    response.set_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        response.set_header(name, value)
    return response


def read_body(limit: int = 10 * 1024 * 1024) -> bytes:
    return bottle.request.body.read(limit)


def read_json() -> tuple[Any, str | None]:
    """(document, None), or (None, the parser's message) for a body that is not JSON."""
    raw = read_body()
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, str(exc)


def request_cookies() -> dict[str, str]:
    """The request's cookies, split leniently as werkzeug.http.parse_cookie does.

    Not ``bottle.request.cookies``: the stdlib SimpleCookie behind it drops a whole header at the
    first odd character, and the suite deliberately sends odd tokens (RBS-01).
    """
    cookies: dict[str, str] = {}
    for part in bottle.request.environ.get("HTTP_COOKIE", "").split(";"):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)
    return cookies


def install_json_errors(app: bottle.Bottle, render: Any) -> None:
    """Bottle's own 404/405/500 pages as JSON, ``render(status, message)`` building the body."""

    def handler(error: bottle.HTTPError) -> str:
        bottle.response.content_type = "application/json"
        return json.dumps(render(error.status_code, str(error.body or error.status_line)))

    for status in (400, 404, 405, 413, 500):
        app.error(status)(handler)


def database_round_trip(seconds: float) -> None:
    """Stand in for one ORM query: the time between a read and the write that depends on it.

    The frameworks emulated here check a deny list and write to it in separate queries without a
    lock; this pause keeps that window as wide as a real database makes it, so a race the real
    code loses is lost here too, every time.
    """
    if seconds > 0:
        time.sleep(seconds)
