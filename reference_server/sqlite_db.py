"""One SQLite file, one kept-open connection per thread, and transactions that retry while locked.

The base of :class:`~tokenconform_server.sqlite_store.SqliteStore`, which holds the queries. Here:
WAL with ``synchronous=FULL`` (a commit that returned survives ``kill -9``), ``BEGIN IMMEDIATE``
for writes, retries while another connection holds the lock (``StoreBusy`` past the deadline),
and every other database error (disk full, I/O error, read-only, corrupt) raised as
``StoreUnavailable``, so callers fail closed.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from .store import StoreBusy, StoreUnavailable

__all__ = ["SqliteDatabase"]

T = TypeVar("T")

# SQLITE_BUSY and SQLITE_LOCKED: another connection holds the lock we need.
_BUSY_CODES = frozenset({5, 6})


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _close_connections(connections: list[tuple[threading.Thread, sqlite3.Connection]]) -> None:
    for _thread, conn in connections:
        conn.close()
    connections.clear()


class SqliteDatabase:
    """Connections and transactions on the SQLite file ``path``, created with ``schema``."""

    def __init__(self, path: str, *, schema: str, busy_timeout: float = 5.0, retry_deadline: float = 60.0) -> None:
        #: the database file
        self.path = path
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._retry_deadline = retry_deadline
        self._local = threading.local()
        self._lock = threading.Lock()
        # (thread, connection) for every connection opened, so close() can close them all and
        # connections of finished threads get closed instead of piling up.
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        # A database dropped without close() still closes its connections (Python 3.13 warns about
        # unclosed sqlite3 connections, and the warning names no owner). The list is only ever
        # mutated in place, so the finalizer sees every connection without holding the store.
        weakref.finalize(self, _close_connections, self._connections)
        # journal_mode is persistent in the file; changing it needs a moment with no writer.
        self._retrying(lambda c: c.execute("PRAGMA journal_mode=WAL").fetchone(), write=False)
        self._retrying(lambda c: c.executescript(schema), write=False)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise RuntimeError("store is closed")
        # isolation_level=None: autocommit; transactions are begun explicitly (BEGIN IMMEDIATE).
        # check_same_thread=False only so close() may close other threads' connections; each
        # connection is otherwise used by the thread that opened it alone.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        # FULL: a commit that returned is on disk, so a rotation survives kill -9 and power loss.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        self._local.conn = conn
        with self._lock:
            alive = []
            for thread, other in self._connections:
                if thread.is_alive():
                    alive.append((thread, other))
                else:
                    other.close()
            alive.append((threading.current_thread(), conn))
            self._connections[:] = alive
        return conn

    def _retrying(self, operation: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Run ``operation`` (in ``BEGIN IMMEDIATE`` when ``write``), retrying while locked.

        The busy timeout already waits inside SQLite; this loop covers the cases it does not
        (e.g. WAL recovery), so "database is locked" never reaches a caller as an exception.
        Retrying is safe because a failed attempt is rolled back in full.
        """
        conn = self._connection()
        deadline = time.monotonic() + self._retry_deadline
        delay = 0.001
        while True:
            try:
                if write:
                    # IMMEDIATE takes the write lock up front: no read snapshot can go stale
                    # between our statements, and two writers queue instead of deadlocking.
                    conn.execute("BEGIN IMMEDIATE")
                try:
                    result = operation(conn)
                    if write:
                        conn.execute("COMMIT")
                    return result
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    # SQLITE_FULL ("database or disk is full"), SQLITE_IOERR, SQLITE_READONLY,
                    # SQLITE_CANTOPEN...: nothing a retry fixes soon, and nothing to carry on
                    # without. Callers fail closed (503), never as if the write had happened.
                    raise StoreUnavailable(f"{self.path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"{self.path}: still locked after retrying") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.05)
            except sqlite3.IntegrityError:
                raise  # a constraint, e.g. a duplicate username: the caller's business
            except sqlite3.DatabaseError as exc:
                # SQLITE_CORRUPT, SQLITE_NOTADB ("file is not a database"): fail closed too.
                raise StoreUnavailable(f"{self.path}: {exc}") from exc

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        with self._lock:
            self._closed = True
            _close_connections(self._connections)
        self._local = threading.local()
