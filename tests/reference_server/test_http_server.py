"""ReferenceServer's lifecycle, and the JSON 500 for an exception nobody meant to raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tokenconform_server.app import create_app
from tokenconform_server.config import Settings
from tokenconform_server.server import ReferenceServer
from tokenconform_server.sessions import Principal, PublicUser, SessionService
from tokenconform_server.store import Store

from .engines import Database


def test_binds_an_ephemeral_port_and_stops(tmp_path: Path) -> None:
    settings = Settings.for_testing(db_path=str(tmp_path / "a.db"))
    with ReferenceServer(settings) as server, requests.Session() as http:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert http.get(server.url + "/health", timeout=10).status_code == 200
        url = server.url
    with requests.Session() as http, pytest.raises(requests.ConnectionError):
        http.get(url + "/health", timeout=10)
    server.stop()  # idempotent


def test_two_servers_side_by_side(tmp_path: Path) -> None:
    one = ReferenceServer(Settings.for_testing(db_path=str(tmp_path / "1.db"))).start()
    two = ReferenceServer(Settings.for_testing(db_path=str(tmp_path / "2.db"))).start()
    try:
        assert one.port != two.port
    finally:
        one.stop()
        two.stop()


def test_stop_without_start_releases_the_store(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that never started still closes the store its app opened, once."""
    import tokenconform_server.app

    opened: list[Store] = []
    closes: list[Store] = []

    class Recording(database.store_class()):  # type: ignore[misc]
        def __init__(self, target: str, **kwargs: Any) -> None:
            super().__init__(target, **kwargs)
            opened.append(self)

        def close(self) -> None:
            closes.append(self)
            super().close()

    monkeypatch.setattr(tokenconform_server.app, "open_store", lambda target, **kwargs: Recording(target))
    server = ReferenceServer(database.settings())
    assert len(opened) == 1 and not opened[0].closed
    server.stop()
    assert opened[0].closed
    assert closes == opened
    with pytest.raises(RuntimeError, match="closed"):
        opened[0].get_user("anyone")  # no connection is reopened behind our back
    server.stop()  # idempotent: not closed twice
    assert closes == opened


def test_a_passed_app_is_served_and_left_open(database: Database) -> None:
    settings = database.settings()
    store = database.open()
    try:
        with ReferenceServer(settings, app=create_app(settings, store)) as server, requests.Session() as http:
            assert http.get(server.url + "/health", timeout=10).status_code == 200
        assert store.get_user("nobody") is None  # still usable: the caller owns it
    finally:
        store.close()


class _Exploding(SessionService):
    def profile(self, principal: Principal) -> PublicUser:
        raise RuntimeError("secret detail /etc/passwd")


def test_an_unexpected_exception_is_a_json_500_without_details(database: Database, capfd: Any) -> None:
    settings = database.settings()
    store = database.open()
    app = create_app(settings, service=_Exploding(settings, store))
    try:
        with ReferenceServer(settings, app=app) as server, requests.Session() as http:
            user = {"username": "x", "email": "x@example.com", "password": "password1", "fullName": "X"}
            assert http.post(server.url + "/register", json=user, timeout=10).status_code == 201
            login = http.post(server.url + "/login", json={"email": user["email"], "password": "password1"}, timeout=10)
            token = login.json()["accessToken"]
            reply = http.get(server.url + "/profile", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert reply.status_code == 500
            assert reply.headers["Content-Type"] == "application/json"
            assert reply.json() == {"message": "Internal server error"}
            assert "secret detail" not in reply.text and "Traceback" not in reply.text
    finally:
        store.close()
    # The traceback goes to the server's log (wsgi.errors) instead.
    assert "secret detail" in capfd.readouterr().err


def test_store_locked_past_its_deadline_answers_503_not_500(database: Database) -> None:
    """Issue 2: never a 500 from "database is locked"; overload is a 503 with Retry-After."""
    from tokenconform_server.store import StoreBusy

    class LockedStore(database.store_class()):  # type: ignore[misc]
        def get_user_by_email(self, email: str) -> Any:
            raise StoreBusy("still locked after retrying")

    settings = database.settings()
    store = LockedStore(database.target)
    try:
        app = create_app(settings, service=SessionService(settings, store))
        with ReferenceServer(settings, app=app) as server, requests.Session() as http:
            response = http.post(f"{server.url}/login", json={"email": "a@example.test", "password": "x" * 12})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json() == {"message": "Service temporarily unavailable, try again"}
    finally:
        store.close()
