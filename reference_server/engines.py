"""Which storage engine a database setting names, and opening it: ``open_store(url_or_path)``.

A ``postgresql://`` (or ``postgres://``) URL opens a :class:`~tokenconform_server.postgres_store.
PostgresStore` (psycopg 3, ``pip install 'tokenconform[postgres]'``); anything else is the path
of a SQLite file, the embedded default. The PostgreSQL modules are imported only when asked for,
so the SQLite server never needs psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .store import StoreUnavailable

if TYPE_CHECKING:
    from .store import Store

__all__ = ["POSTGRES_SCHEMES", "describe", "is_postgres_url", "open_store", "prepare_database"]

#: URL schemes that select PostgreSQL (libpq accepts both)
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

_MISSING_DRIVER = "PostgreSQL needs psycopg 3 and psycopg-pool: pip install 'tokenconform[postgres]'"


def is_postgres_url(target: str) -> bool:
    """True if ``target`` is a PostgreSQL URL rather than a SQLite path."""
    return target.lower().startswith(POSTGRES_SCHEMES)


def describe(target: str) -> str:
    """``target`` fit for a message: a URL loses its password, a path stays as it is."""
    if not is_postgres_url(target):
        return target
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(target)
        if parts.password is None:
            return target
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:
        return "postgresql://..."


def open_store(target: str, *, pool_size: int = 8) -> Store:
    """The store ``target`` names, its schema created or migrated.

    Args:
        target: a SQLite file path, or a ``postgresql://`` URL.
        pool_size: most connections a PostgreSQL store keeps (one per server thread is enough;
            SQLite keeps one per thread anyway).

    Raises:
        StoreUnavailable: the database cannot be opened or reached (or psycopg is missing).
    """
    if is_postgres_url(target):
        try:
            from .postgres_store import PostgresStore
        except ImportError as exc:
            raise StoreUnavailable(_MISSING_DRIVER) from exc
        return PostgresStore(target, pool_size=pool_size)
    from .sqlite_store import SqliteStore

    return SqliteStore(target)


def prepare_database(target: str) -> None:
    """Create or migrate the schema and let go of the database again, leaving no thread behind.

    ``serve --workers`` calls this before forking, so a bad setting is reported once and every
    worker finds the schema ready (each still migrates on open, which is then a no-op).
    """
    if is_postgres_url(target):
        try:
            from .postgres_db import prepare
        except ImportError as exc:
            raise StoreUnavailable(_MISSING_DRIVER) from exc
        prepare(target)
        return
    from .sqlite_store import SqliteStore

    SqliteStore(target).close()
