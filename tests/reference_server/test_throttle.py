"""Login throttling per client (password spraying) and failing closed when failures cannot be
recorded: regression tests for issue 8."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tokenconform_server.app import create_app
from tokenconform_server.config import Settings
from tokenconform_server.server import ReferenceServer
from tokenconform_server.sqlite_store import SqliteStore
from tokenconform_server.throttle import client_address

from .conftest import PASSWORD, Api
from .engines import Database

# ---------------------------------------------------------------- who the client is


@pytest.mark.parametrize(
    ("remote", "forwarded", "hops", "expected"),
    [
        ("203.0.113.7", None, 0, "203.0.113.7"),
        # Not configured: a client-written header is ignored, whatever it says.
        ("203.0.113.7", "198.51.100.1", 0, "203.0.113.7"),
        # One trusted proxy: the right-most entry is the address it received the request from.
        ("10.0.0.1", "198.51.100.1, 192.0.2.9", 1, "192.0.2.9"),
        # Two trusted proxies: the second from the right; what the client wrote (left) is ignored.
        ("10.0.0.1", "6.6.6.6, 192.0.2.9, 10.0.0.2", 2, "192.0.2.9"),
        # Configured but the header missing (a request that bypassed the proxy): the peer.
        ("10.0.0.1", None, 1, "10.0.0.1"),
        # Fewer entries than hops: the left-most, the furthest address known.
        ("10.0.0.1", "192.0.2.9", 3, "192.0.2.9"),
        # IPv6 is counted per /64; IPv4-mapped IPv6 as the IPv4 address.
        ("2001:db8:1:2:aaaa::1", None, 0, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", None, 0, "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", None, 0, "192.0.2.1"),
        ("not an address", None, 0, "not an address"),
    ],
)
def test_client_address(remote: str, forwarded: str | None, hops: int, expected: str) -> None:
    assert client_address(remote, forwarded, trusted_hops=hops) == expected


# ---------------------------------------------------------------- password spraying


def _spray(api: Api, count: int, *, headers: dict[str, str] | None = None, start: int = 0) -> list[int]:
    return [
        api.request(
            "POST",
            "/login",
            json_body={"email": f"victim{i}@example.com", "password": "Summer2026!"},
            headers=headers,
        ).status
        for i in range(start, start + count)
    ]


def test_one_password_across_many_accounts_is_throttled_per_client(make_api: Callable[..., Api]) -> None:
    """Issue 8: one password across 300 emails was never throttled (each account failed once)."""
    api = make_api(login_max_failures=20, login_max_client_failures=5)
    user = api.new_user()
    assert _spray(api, 5) == [401] * 5
    assert _spray(api, 3, start=5) == [429] * 3
    # The whole client is held back, even with the right password, until failures age out...
    reply = api.request("POST", "/login", json_body=user.credentials())
    assert reply.status == 429
    assert int(reply.headers["Retry-After"]) >= 1


def test_a_success_does_not_reset_the_client_count(make_api: Callable[..., Api]) -> None:
    # A sprayer who owns one account must not launder its count by logging into it.
    api = make_api(login_max_client_failures=4)
    user = api.new_user()
    assert _spray(api, 2) == [401, 401]
    api.login(user)
    assert _spray(api, 2, start=2) == [401, 401]
    assert _spray(api, 1, start=4) == [429]


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(make_api: Callable[..., Api]) -> None:
    api = make_api(login_max_client_failures=3)
    statuses = [_spray(api, 1, headers={"X-Forwarded-For": f"198.51.100.{i}"}, start=i)[0] for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429], "a client-written X-Forwarded-For must not make fresh clients"


def test_behind_a_trusted_proxy_clients_are_told_apart_by_forwarded_for(make_api: Callable[..., Api]) -> None:
    api = make_api(login_max_client_failures=2, trusted_proxy_hops=1)
    one = {"X-Forwarded-For": "198.51.100.1"}
    two = {"X-Forwarded-For": "6.6.6.6, 198.51.100.2"}  # the left entry is the client's own word
    assert _spray(api, 3, headers=one) == [401, 401, 429]
    assert _spray(api, 2, headers=two, start=3) == [401, 401]
    assert _spray(api, 1, headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.2"}, start=5) == [429]


def test_the_per_account_limit_still_applies(make_api: Callable[..., Api]) -> None:
    api = make_api(login_max_failures=2)
    user = api.new_user()
    wrong = user.credentials("wrong password")
    statuses = [api.request("POST", "/login", json_body=wrong).status for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_test_settings_and_defaults() -> None:
    # The product default stops spraying within a window; tests and the embedded conformance
    # run (Settings.for_testing) stay generous, so they never throttle themselves from 127.0.0.1.
    defaults = Settings.from_env({"ACCESS_TOKEN_SECRET": "a" * 40, "REFRESH_TOKEN_SECRET": "b" * 40})
    assert (defaults.login_max_client_failures, defaults.trusted_proxy_hops) == (100, 0)
    assert Settings.for_testing(db_path="unused.db").login_max_client_failures >= 10_000
    env = {"ACCESS_TOKEN_SECRET": "a" * 40, "REFRESH_TOKEN_SECRET": "b" * 40, "TRUSTED_PROXY_HOPS": "2"}
    assert Settings.from_env(env, login_max_client_failures="7").login_max_client_failures == 7
    assert Settings.from_env(env).trusted_proxy_hops == 2


# ---------------------------------------------------------------- failing closed


class FullDiskStore(SqliteStore):
    """Every write fails the way SQLite fails on a full disk, once ``full`` is set."""

    full = False

    def _retrying(self, operation: Callable[[sqlite3.Connection], Any], *, write: bool) -> Any:
        if write and self.full:

            def fail(conn: sqlite3.Connection) -> Any:
                raise sqlite3.OperationalError("database or disk is full")

            return super()._retrying(fail, write=True)
        return super()._retrying(operation, write=write)


def full_disk_store(database: Database) -> Any:
    """A store of the engine under test whose writes fail as on a full disk once ``full`` is set:
    SQLite's error raised in its retry loop, or PostgreSQL's own disk_full (SQLSTATE 53100)
    raised by the server, so each engine's real error mapping is what is tested."""
    if database.engine == "sqlite":
        return FullDiskStore(database.target)
    from tokenconform_server.postgres_store import PostgresStore

    class PostgresFullDisk(PostgresStore):
        full = False

        def _run(self, operation: Callable[[Any], Any], *, write: bool, transaction: bool = False) -> Any:
            if write and self.full:

                def fail(conn: Any) -> Any:
                    conn.execute(
                        "DO $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' "
                        "USING ERRCODE = 'disk_full'; END $$"
                    )

                return super()._run(fail, write=True, transaction=transaction)
            return super()._run(operation, write=write, transaction=transaction)

    return PostgresFullDisk(database.target)


@pytest.fixture
def full_disk(database: Database) -> Iterator[tuple[Api, Any]]:
    settings = database.settings(login_max_failures=3)
    store = full_disk_store(database)
    server = ReferenceServer(settings, app=create_app(settings, store)).start()
    api = Api(server)
    try:
        yield api, store
    finally:
        api.session.close()
        server.stop()
        store.close()


def test_failed_logins_that_cannot_be_recorded_fail_closed(full_disk: tuple[Api, Any]) -> None:
    """Issue 8: on a full disk failed logins were not recorded, so never throttled. Now a login
    whose failure cannot be written is a 503 with Retry-After, however many are tried."""
    api, store = full_disk
    user = api.new_user()
    store.full = True
    for _ in range(10):
        reply = api.request("POST", "/login", json_body=user.credentials("wrong password"))
        assert reply.status == 503
        assert int(reply.headers["Retry-After"]) >= 1
        assert set(reply.json()) == {"message"}
    # A correct password is not let through either: its session cannot be written.
    assert api.request("POST", "/login", json_body=user.credentials()).status == 503
    store.full = False
    assert api.request("POST", "/login", json_body={"email": user.email, "password": PASSWORD}).status == 200


def test_registration_on_a_full_disk_is_503(full_disk: tuple[Api, Any]) -> None:
    api, store = full_disk
    store.full = True
    reply = api.request(
        "POST",
        "/register",
        json_body={"username": "full", "email": "full@example.com", "password": PASSWORD, "fullName": "F"},
    )
    assert reply.status == 503
