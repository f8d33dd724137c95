"""Fixtures: a database of each engine, a real ReferenceServer on 127.0.0.1:0, and a client that
checks every reply.

Every test that uses a store or a server (``database``, ``new_database``, ``start_server``,
``make_api``, ``api``, ``api_with_store``) runs once per engine: ``[sqlite]`` always, and
``[postgres]`` on the server named by ``TOKENCONFORM_TEST_POSTGRES_URL`` (``eval "$(bash
scripts/postgres.sh start)"`` starts one). Without a reachable server the PostgreSQL runs skip,
except when ``CI=true``: CI installs PostgreSQL, so there they fail (:mod:`.engines`).

Every request made through ``api`` also asserts what must hold for any response of the reference
server: no 5xx but a 503 with Retry-After, JSON bodies labelled ``application/json``, a
``WWW-Authenticate`` challenge on every 401 (RFC 9110 §15.5.2) and ``Retry-After`` on every 429.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from tokenconform_server.app import create_app
from tokenconform_server.config import Settings
from tokenconform_server.server import ReferenceServer
from tokenconform_server.store import Store

from .engines import ENGINES, Database, Databases, postgres_url

__all__ = ["Database", "Databases"]

PASSWORD = "correct horse battery"
_users = itertools.count(1)


@dataclass
class Reply:
    """One response, read in full and closed; ``set_cookies`` are the raw header lines."""

    status: int
    headers: CaseInsensitiveDict[str]
    body: bytes
    set_cookies: list[str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message(self) -> str:
        return str(self.json()["message"])

    def cookie(self, name: str) -> dict[str, str]:
        """The one Set-Cookie for ``name``, parsed: {"name", "value", lower-cased attributes...}."""
        found = [parse_set_cookie(raw) for raw in self.set_cookies if parse_set_cookie(raw)["name"] == name]
        assert len(found) == 1, f"expected exactly one Set-Cookie for {name}, got {self.set_cookies}"
        return found[0]


def parse_set_cookie(raw: str) -> dict[str, str]:
    name_value, *attributes = raw.split(";")
    name, _, value = name_value.partition("=")
    parsed = {"name": name.strip(), "value": value.strip()}
    for attribute in attributes:
        key, _, attr_value = attribute.partition("=")
        key = key.strip().lower()
        assert key not in parsed, f"attribute {key} repeated in {raw!r}"
        parsed[key] = attr_value.strip()
    return parsed


def claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWT, unverified."""
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


@dataclass
class User:
    username: str
    email: str
    password: str = PASSWORD
    full_name: str = "Test User"

    def registration(self) -> dict[str, str]:
        return {"username": self.username, "email": self.email, "password": self.password, "fullName": self.full_name}

    def credentials(self, password: str | None = None) -> dict[str, str]:
        return {"email": self.email, "password": self.password if password is None else password}


@dataclass
class Tokens:
    access: str
    refresh: str
    reply: Reply


@dataclass
class Api:
    """A client of one server: raw requests plus the API's operations."""

    server: ReferenceServer
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def settings(self) -> Settings:
        return self.server.settings

    def request(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None = None,
        cookies: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        session: requests.Session | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if bearer is not None:
            all_headers["Authorization"] = f"Bearer {bearer}"
        if cookies:
            # requests never sends a Secure cookie over http (STYLE.md), so write the header.
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        response = (session or self.session).request(
            method, self.server.url + path, headers=all_headers, data=data, stream=True, timeout=30
        )
        try:
            set_cookies = list(response.raw.headers.getlist("Set-Cookie"))
            body = response.content
        finally:
            response.close()
        reply = Reply(response.status_code, response.headers, body, set_cookies)
        check_invariants(reply, method)
        return reply

    # -- the API's operations

    def new_user(self) -> User:
        n = next(_users)
        user = User(username=f"user{n}", email=f"user{n}@example.com")
        reply = self.request("POST", "/register", json_body=user.registration())
        assert reply.status == 201, reply.body
        return user

    def login(self, user: User, *, user_agent: str = "pytest") -> Tokens:
        reply = self.request("POST", "/login", json_body=user.credentials(), headers={"User-Agent": user_agent})
        assert reply.status == 200, reply.body
        return self.tokens(reply)

    def tokens(self, reply: Reply) -> Tokens:
        """Tokens from the body or, when delivery is cookie-only, from the cookies."""
        prefix = self.settings.cookie_prefix
        if self.settings.delivery == "cookie":
            return Tokens(
                reply.cookie(prefix + "accessToken")["value"], reply.cookie(prefix + "refreshToken")["value"], reply
            )
        body = reply.json()
        return Tokens(body["accessToken"], body["refreshToken"], reply)

    def refresh(self, refresh_token: str) -> Reply:
        return self.request("POST", "/refresh", json_body={"refreshToken": refresh_token})

    def profile(self, access_token: str) -> Reply:
        return self.request("GET", "/profile", bearer=access_token)


def check_invariants(reply: Reply, method: str) -> None:
    # The one 5xx allowed: 503 with Retry-After, the store unable to write (it fails closed).
    if reply.status == 503:
        assert int(reply.headers["Retry-After"]) >= 1
    else:
        assert reply.status < 500, f"server error {reply.status}: {reply.body!r}"
    if reply.body:
        assert reply.headers.get("Content-Type") == "application/json", reply.headers
        payload = json.loads(reply.body)
        assert isinstance(payload, dict)
        assert b"Traceback" not in reply.body
        if reply.status >= 400:
            assert set(payload) == {"message"} and isinstance(payload["message"], str), payload
    elif method != "HEAD":
        raise AssertionError(f"empty body with status {reply.status}")
    if reply.status == 401:
        assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer "), reply.headers
    if reply.status == 429:
        assert int(reply.headers["Retry-After"]) >= 1


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres": every test using a database runs once with each."""
    return str(request.param)


@pytest.fixture(scope="session")
def databases(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Databases:
    """Makes and drops databases of ``engine`` (PostgreSQL: one schema each)."""
    if engine == "postgres":
        return Databases(engine, tmp_path_factory.mktemp("sqlite"), postgres_url())
    return Databases(engine, tmp_path_factory.mktemp("sqlite"))


@pytest.fixture
def new_database(databases: Databases) -> Iterator[Callable[[], Database]]:
    """``new_database()``: a fresh, empty database; every one is dropped after the test."""
    made: list[Database] = []

    def new() -> Database:
        made.append(databases.create())
        return made[-1]

    yield new
    for database in made:
        databases.drop(database)


@pytest.fixture
def database(new_database: Callable[[], Database]) -> Database:
    """One fresh database of the engine under test."""
    return new_database()


@pytest.fixture
def start_server(new_database: Callable[[], Database]) -> Iterator[Callable[..., ReferenceServer]]:
    """Start ReferenceServers with ``Settings.for_testing(**overrides)``, each on a database of its
    own (of the engine under test); all stopped at teardown, before their databases are dropped."""
    started: list[ReferenceServer] = []

    def start(**overrides: Any) -> ReferenceServer:
        if "db_path" not in overrides and "database_url" not in overrides:
            overrides.update(new_database().overrides())
        server = ReferenceServer(Settings.for_testing(**overrides)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def make_api(start_server: Callable[..., ReferenceServer]) -> Iterator[Callable[..., Api]]:
    """``make_api(**settings)``: a client of a fresh server with those settings."""
    clients: list[Api] = []

    def make(**overrides: Any) -> Api:
        api = Api(start_server(**overrides))
        clients.append(api)
        return api

    yield make
    for api in clients:
        api.session.close()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """A client of a server with the default test settings."""
    return make_api()


@pytest.fixture
def api_with_store(database: Database) -> Iterator[tuple[Api, Store]]:
    """A client of a server whose store the test can inspect."""
    settings = database.settings()
    store = database.open()
    server = ReferenceServer(settings, app=create_app(settings, store)).start()
    api = Api(server)
    try:
        yield api, store
    finally:
        api.session.close()
        server.stop()
        store.close()
