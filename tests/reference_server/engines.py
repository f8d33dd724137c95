"""The two storage engines under test: a fresh database of each, and the PostgreSQL server to use.

A PostgreSQL "database" here is a schema of its own in the server's database, made by
:meth:`Databases.create` and dropped (``CASCADE``) by :meth:`Databases.drop`: far cheaper than
``CREATE DATABASE`` per test, and just as separate, since the store's schema (and its
``tokenconform_schema`` version table) goes into the first schema of the ``search_path`` its
URL sets (``?options=-csearch_path=...``).
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from tokenconform_server.config import Settings
from tokenconform_server.engines import describe, open_store
from tokenconform_server.store import Store

#: the server the PostgreSQL runs use: ``postgresql://user:password@127.0.0.1:PORT/db``
POSTGRES_URL_VAR = "TOKENCONFORM_TEST_POSTGRES_URL"
ENGINES = ("sqlite", "postgres")
#: schemas made by these tests start with this, so a leftover is recognisable
SCHEMA_PREFIX = "tc_test_"

_checked: dict[str, str] = {}


def postgres_url() -> str:
    """The base URL of the test server, checked reachable once per process.

    Skips when no server is configured or reachable, but fails when ``CI=true``: CI installs and
    starts PostgreSQL (``.ci/run``), so a missing one there is a broken CI, not a reason to skip
    half of the suite silently.
    """
    if "url" in _checked:
        return _checked["url"]
    if "error" in _checked:
        _unavailable(_checked["error"])
    url = os.environ.get(POSTGRES_URL_VAR, "")
    error = ""
    if not url:
        error = f"{POSTGRES_URL_VAR} is not set"
    else:
        try:
            import psycopg

            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except ImportError:
            error = "psycopg is not installed (pip install -e '.[postgres]')"
        except Exception as exc:  # any failure to connect is the same verdict
            error = f"cannot connect to {describe(url)}: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    if error:
        _checked["error"] = error
        _unavailable(error)
    _checked["url"] = url
    return url


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f'no PostgreSQL server: {reason} (start one with: eval "$(bash scripts/postgres.sh start)")')


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` first (libpq's ``options`` parameter)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@dataclass(frozen=True)
class Database:
    """One empty database of one engine: a SQLite file path, or a PostgreSQL URL with its schema."""

    engine: str
    #: what ``open_store`` and ``--db`` take
    target: str
    #: the PostgreSQL schema, "" for SQLite
    schema: str = ""

    def overrides(self) -> dict[str, str]:
        """The Settings fields that select this database."""
        return {"database_url": self.target} if self.engine == "postgres" else {"db_path": self.target}

    def settings(self, **overrides: Any) -> Settings:
        return Settings.for_testing(**self.overrides(), **overrides)

    def open(self) -> Store:
        return open_store(self.target)

    def store_class(self) -> type[Any]:
        """The engine's store class, for a test's subclass with one method changed."""
        if self.engine == "postgres":
            from tokenconform_server.postgres_store import PostgresStore

            return PostgresStore
        from tokenconform_server.sqlite_store import SqliteStore

        return SqliteStore

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``?`` placeholders, either engine) on a connection of its own."""
        if self.engine == "postgres":
            import psycopg

            with psycopg.connect(self.target, autocommit=True) as conn:
                cursor = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
                return list(cursor.fetchall()) if cursor.description else []
        import sqlite3

        conn = sqlite3.connect(self.target, isolation_level=None)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()


class Databases:
    """Makes and drops the databases of one engine for the tests of one process."""

    def __init__(self, engine: str, directory: Path, base_url: str = "") -> None:
        self.engine = engine
        self._directory = directory
        self._base_url = base_url

    def create(self) -> Database:
        name = uuid.uuid4().hex[:16]
        if self.engine == "sqlite":
            return Database("sqlite", str(self._directory / f"{name}.db"))
        import psycopg

        schema = SCHEMA_PREFIX + name
        with psycopg.connect(self._base_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]  # [0-9a-f_] only
        return Database("postgres", with_search_path(self._base_url, schema), schema)

    def drop(self, database: Database) -> None:
        if database.engine == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = Path(database.target + suffix)
                path.unlink(missing_ok=True)
            return
        import psycopg

        assert re.fullmatch(SCHEMA_PREFIX + "[0-9a-f]{16}", database.schema)
        with psycopg.connect(self._base_url, autocommit=True) as conn:
            # Bounded: a lock still held (a connection nobody closed) is an error, not a hang.
            conn.execute("SET lock_timeout = '30s'")
            conn.execute(f"DROP SCHEMA IF EXISTS {database.schema} CASCADE")  # type: ignore[arg-type]
