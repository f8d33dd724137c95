"""PostgreSQL's own machinery: schema migration under concurrency, the pool, and errors mapped to
StoreBusy / StoreUnavailable (503), never a 500. The Store rules themselves run on both engines
in test_store.py; these are the counterparts of its SQLite-only tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenconform_server.app import create_app
from tokenconform_server.server import ReferenceServer
from tokenconform_server.store import Outcome, StoreBusy, StoreUnavailable

from .conftest import Api
from .engines import Database, Databases, postgres_url
from .test_store import LATER, NOW, make_session, make_user, run_threads

psycopg = pytest.importorskip("psycopg")

from tokenconform_server.postgres_db import SCHEMA_VERSION, prepare  # noqa: E402
from tokenconform_server.postgres_store import PostgresStore  # noqa: E402


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Database]:
    databases = Databases("postgres", tmp_path, postgres_url())
    database = databases.create()
    yield database
    databases.drop(database)


@pytest.fixture
def store(pg: Database) -> Iterator[PostgresStore]:
    s = PostgresStore(pg.target)
    yield s
    s.close()


def backend_pid(store: PostgresStore) -> int:
    with store._pool.connection() as conn:
        return int(conn.info.backend_pid)


def terminate(pg: Database, pid: int) -> None:
    assert pg.query("SELECT pg_terminate_backend(?)", (pid,)) == [(True,)]


# -- schema ---------------------------------------------------------------------------------------


def test_eight_processes_starting_at_once_create_the_schema_once(pg: Database) -> None:
    """Each migrates on its own connection at the same moment; the advisory lock queues them."""
    barrier = threading.Barrier(8)

    def start(_i: int) -> None:
        barrier.wait()
        prepare(pg.target)

    run_threads(8, start)
    assert pg.query("SELECT version FROM tokenconform_schema") == [(SCHEMA_VERSION,)]
    tables = {name for (name,) in pg.query("SELECT tablename FROM pg_tables WHERE schemaname = ?", (pg.schema,))}
    assert tables == {"users", "sessions", "used_refresh_jtis", "throttle_failures", "tokenconform_schema"}


def test_a_schema_newer_than_the_server_is_refused(pg: Database) -> None:
    prepare(pg.target)
    pg.query("UPDATE tokenconform_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreUnavailable, match="newer than this server"):
        PostgresStore(pg.target)


def test_an_unreachable_server_is_store_unavailable_naming_no_password() -> None:
    with pytest.raises(StoreUnavailable) as info:
        PostgresStore("postgresql://someone:hunter2@127.0.0.1:1/nothing", pool_timeout=2)
    assert "hunter2" not in str(info.value) and "127.0.0.1:1" in str(info.value)


# -- the pool and its errors ----------------------------------------------------------------------


def test_a_lost_connection_is_retried_for_a_read_and_503_for_a_write(pg: Database) -> None:
    store = PostgresStore(pg.target, pool_size=1)  # one connection: the one terminated
    try:
        user = make_user(store)
        terminate(pg, backend_pid(store))
        assert store.get_user(user.id) == user  # a read: retried on a new connection
        session = make_session(store, user)
        terminate(pg, backend_pid(store))
        # A write is not retried: it might have committed before the connection died (see
        # postgres_db.py). The pool replaces the broken connection, so the next call works.
        with pytest.raises(StoreUnavailable):
            store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
        outcome = store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW).outcome
        assert outcome is Outcome.OK
    finally:
        store.close()


def test_a_real_deadlock_is_retried_until_both_transactions_commit(store: PostgresStore) -> None:
    """Two transactions lock two users in opposite orders; PostgreSQL aborts one of them with
    SQLSTATE 40P01 after deadlock_timeout, and the store runs it again."""
    ann, bob = make_user(store, "ann"), make_user(store, "bob")
    barrier = threading.Barrier(2)
    attempts = [0, 0]

    def lock_both(i: int) -> None:
        first, second = (ann.id, bob.id) if i == 0 else (bob.id, ann.id)

        def operation(conn: Any) -> None:
            attempts[i] += 1
            conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (first,))
            if attempts[i] == 1:
                barrier.wait()
            conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (second,))

        store._run(operation, write=True, transaction=True)

    run_threads(2, lock_both)
    assert sorted(attempts) == [1, 2]


def test_serialization_failures_past_the_deadline_are_store_busy(pg: Database) -> None:
    store = PostgresStore(pg.target, retry_deadline=0.05)
    try:

        def always_conflicts(conn: Any) -> None:
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$")

        with pytest.raises(StoreBusy):
            store._run(always_conflicts, write=True)
    finally:
        store.close()


def test_no_free_connection_within_the_pool_timeout_is_store_busy(pg: Database) -> None:
    store = PostgresStore(pg.target, pool_size=1, pool_timeout=0.2)
    try:
        with store._pool.connection(), pytest.raises(StoreBusy):  # the only connection, held
            store.get_user("anyone")
        assert store.get_user("anyone") is None
    finally:
        store.close()


def test_lost_connections_under_the_server_are_503_never_500(pg: Database) -> None:
    settings = pg.settings(threads=1)
    store = PostgresStore(pg.target, pool_size=1)
    server = ReferenceServer(settings, app=create_app(settings, store)).start()
    api = Api(server)
    try:
        user = api.new_user()
        tokens = api.login(user)
        terminate(pg, backend_pid(store))
        reply = api.refresh(tokens.refresh)  # Api checks: no 5xx but a 503 with Retry-After
        assert reply.status == 503
        assert api.refresh(tokens.refresh).status == 200  # a fresh connection, the token unused
    finally:
        api.session.close()
        server.stop()
        store.close()


# -- counterparts of SQLite's file-level tests ----------------------------------------------------


def test_a_failure_costs_the_same_whatever_the_key_length(store: PostgresStore, pg: Database) -> None:
    """Issue 8 (disk growth): keys are stored as 32-byte hashes, so 60 KB keys cost a row each."""
    store.record_login_failure("warm-up", now=NOW, window=3600)
    size = "SELECT pg_total_relation_size('throttle_failures')"
    [(before,)] = pg.query(size)
    for i in range(400):
        store.record_login_failure(f"{i}" + "x" * 60_000, now=NOW + i, window=3600)
    assert store.count_all_login_failures() == 401
    [(after,)] = pg.query(size)
    assert after - before < 200 * 1024  # 47 MB before issue 8; about 100 bytes a row with indexes


def test_a_committed_rotation_survives_kill_9_of_the_process(pg: Database) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from tokenconform_server.postgres_store import PostgresStore
        s = PostgresStore({pg.target!r})
        u = s.create_user(username="k", email="k@example.com", full_name="K", password_hash="h", now={NOW})
        sess = s.create_session(user_id=u.id, user_agent="", jti="j0", now={NOW}, absolute_expires_at={LATER})
        r = s.rotate(session_id=sess.id, user_id=u.id, jti="j0", new_jti="j1", now={NOW})
        print(sess.id, u.id, r.outcome.value, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    session_id, user_id, outcome = proc.stdout.split()
    assert outcome == "ok"
    store = PostgresStore(pg.target)
    try:
        r = store.rotate(session_id=session_id, user_id=user_id, jti="j1", new_jti="j2", now=NOW)
        assert r.outcome is Outcome.OK
    finally:
        store.close()


def test_nul_characters_round_trip_and_never_match_an_id(store: PostgresStore) -> None:
    """PostgreSQL text cannot hold NUL; SQLite can. Client text keeps its NULs (escaped in the
    table), and an id with a NUL, which only a forged token could carry, finds nothing."""
    user = store.create_user(username="a\x00b\\0", email="n@example.com", full_name="\x00", password_hash="h", now=NOW)
    assert store.get_user(user.id) == user
    assert store.get_user_by_email("n@example.com") == user
    session = store.create_session(user_id=user.id, user_agent="ua\x00", jti="j0", now=NOW, absolute_expires_at=LATER)
    assert store.get_session(session.id) == session
    assert store.get_session("x\x00") is None and store.get_user("x\x00") is None
    kw = dict(user_id=user.id, jti="j0", now=NOW)
    assert store.rotate(session_id="x\x00", new_jti="j1", **kw).outcome is Outcome.INACTIVE
    assert store.check_reuse(session_id="x\x00", **kw) is Outcome.INACTIVE
    assert not store.is_session_active("x\x00", user_id=user.id, token_version=0, now=NOW)
