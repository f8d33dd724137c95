"""Logout-all racing logins: zero survivors (regression tests for issue 8).

Before the fix, a login read the user (token version v), a logout-all then bumped the version
and revoked every live session, and the login went on to create its session: a session issued
under v, created after the revocation, whose refresh token kept working (15 of 20 rounds).
Now the version check and the insert are one conditional statement, so a login either comes
before the logout-all (and is revoked by it) or after it (and carries the new version).

A survivor is a session whose access token carries a version older than the user's final one
but whose refresh token still rotates.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from tokenconform_server.config import Settings
from tokenconform_server.engines import open_store
from tokenconform_server.server import ReferenceServer
from tokenconform_server.sessions import LoginResult, SessionService
from tokenconform_server.store import VersionChanged
from tokenconform_server.tokens import decode_access

from .engines import Database

PASSWORD = "correct horse battery"


def slow_to_create_sessions(database: Database) -> Any:
    """A store of the engine under test that widens the race window: every session insert waits
    a moment first, so a logout-all lands between a login's read of the user and its insert in
    nearly every round."""

    class SlowToCreateSessions(database.store_class()):  # type: ignore[misc]
        conflicts = 0

        def create_session(self, **kwargs: Any) -> Any:
            time.sleep(0.02)
            try:
                return super().create_session(**kwargs)
            except VersionChanged:
                self.conflicts += 1  # a logout-all committed inside this login: the race was hit
                raise

    return SlowToCreateSessions(database.target)


def _race_round(service: SessionService, email: str, logins: int) -> list[LoginResult]:
    holder = service.login({"email": email, "password": PASSWORD}, user_agent="holder")
    results: list[LoginResult] = []
    lock = threading.Lock()
    start = threading.Barrier(logins + 1)

    def login() -> None:
        start.wait()
        result = service.login({"email": email, "password": PASSWORD}, user_agent="racer")
        with lock:
            results.append(result)

    def logout_all() -> None:
        start.wait()
        time.sleep(0.005)  # inside the racers' slow insert
        service.logout_all(holder.tokens.access_token)

    threads = [threading.Thread(target=login) for _ in range(logins)]
    threads.append(threading.Thread(target=logout_all))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == logins
    return results


def test_logout_all_racing_logins_leaves_no_survivor(database: Database) -> None:
    settings = database.settings()
    store = slow_to_create_sessions(database)
    try:
        service = SessionService(settings, store)
        service.register({"username": "ann", "email": "ann@example.com", "password": PASSWORD, "fullName": "Ann"})
        survivors = 0
        for _ in range(20):
            for result in _race_round(service, "ann@example.com", logins=4):
                user = store.get_user_by_email("ann@example.com")
                assert user is not None
                ver = decode_access(settings, result.tokens.access_token, now=time.time())["ver"]
                if ver < user.token_version:
                    session = store.get_session(result.tokens.session_id)
                    assert session is not None
                    if session.revoked_at is None:
                        survivors += 1
        assert survivors == 0
        # The race was real: logout-alls landed between a login's read and its insert.
        assert store.conflicts > 0
    finally:
        store.close()


def test_logout_all_racing_logins_over_http_leaves_no_working_refresh_token(database: Database) -> None:
    """The same race through the HTTP API, without any widened window: every refresh token
    issued under a version older than the final one is refused afterwards."""
    settings = database.settings()
    registration = {"username": "bob", "email": "bob@example.com", "password": PASSWORD, "fullName": "Bob"}
    credentials = {"email": "bob@example.com", "password": PASSWORD}
    with ReferenceServer(settings) as server, requests.Session() as http:
        url = server.url
        assert http.post(url + "/register", json=registration, timeout=10).status_code == 201
        survivors = 0
        for _ in range(15):
            holder = http.post(url + "/login", json=credentials, timeout=10).json()
            issued = _http_round(url, credentials, holder["accessToken"], logins=4)
            final = server_version(server, settings)
            for body in issued:
                ver = decode_access(settings, body["accessToken"], now=time.time())["ver"]
                refreshed = http.post(url + "/refresh", json={"refreshToken": body["refreshToken"]}, timeout=10)
                if ver < final and refreshed.status_code == 200:
                    survivors += 1
        assert survivors == 0


def _http_round(url: str, credentials: dict[str, str], holder_token: str, *, logins: int) -> list[dict[str, Any]]:
    """``logins`` logins and one logout-all, released together; the logins' bodies."""
    issued: list[dict[str, Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(logins + 1)

    def login() -> None:
        with requests.Session() as own:
            start.wait()
            reply = own.post(url + "/login", json=credentials, timeout=10)
        assert reply.status_code == 200, reply.text
        with lock:
            issued.append(reply.json())

    def logout_all() -> None:
        with requests.Session() as own:
            start.wait()
            headers = {"Authorization": f"Bearer {holder_token}"}
            assert own.post(url + "/logout-all", headers=headers, timeout=10).status_code == 200

    threads = [threading.Thread(target=login) for _ in range(logins)] + [threading.Thread(target=logout_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(issued) == logins
    return issued


def server_version(server: ReferenceServer, settings: Settings) -> int:
    store = open_store(settings.database)
    try:
        user = store.get_user_by_email("bob@example.com")
        assert user is not None
        return user.token_version
    finally:
        store.close()
