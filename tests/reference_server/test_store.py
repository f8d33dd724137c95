"""store.py: atomic rotation, reuse detection, revocation, throttling records, durability.

Every test taking ``store`` or ``database`` runs on each engine (SQLite, PostgreSQL; see
conftest.py). Tests of SQLite's own machinery (WAL and fsync pragmas, per-thread connections,
its file lock, kill -9 of the writer, the file's size, max_page_count) take ``sqlite_path``
instead and run on SQLite only; test_postgres_store.py has PostgreSQL's counterparts.

The rotation tests force the dangerous interleaving with a ``threading.Barrier`` rather than
hoping a thread pool produces it: every thread has done its reads before any thread writes.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from tokenconform_server.store import (
    DuplicateUser,
    Outcome,
    SqliteStore,
    StoreBusy,
    jti_hash,
)

NOW = 1_800_000_000.0
LATER = NOW + 3600


@pytest.fixture
def sqlite_path(tmp_path):
    """A SQLite file, for the tests of SQLite's own machinery (no PostgreSQL run)."""
    return str(tmp_path / "store.db")


@pytest.fixture
def sqlite_store(sqlite_path):
    s = SqliteStore(sqlite_path)
    yield s
    s.close()


@pytest.fixture
def store(database):
    s = database.open()
    yield s
    s.close()


def make_user(store, name="ann"):
    return store.create_user(
        username=name,
        email=f"{name}@example.com",
        full_name=name.title(),
        password_hash="$2b$04$notarealhashnotarealhashnotarealhashnotarealhashnot",
        now=NOW,
    )


def make_session(store, user, jti="j0", *, absolute=LATER, user_agent="pytest"):
    return store.create_session(user_id=user.id, user_agent=user_agent, jti=jti, now=NOW, absolute_expires_at=absolute)


def run_threads(count, target):
    """Run ``target(i)`` in ``count`` threads; return results, re-raising any exception."""
    results: list = [None] * count
    errors: list = []

    def run(i):
        try:
            results[i] = target(i)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


# -- set-up and connections -----------------------------------------------------------------------


# SQLite only: its pragmas.
def test_wal_and_full_synchronous(sqlite_store):
    conn = sqlite_store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


# SQLite only: PostgreSQL's connections are a pool's (test_postgres_store.py).
def test_one_kept_open_connection_per_thread(sqlite_store):
    store = sqlite_store
    assert store._connection() is store._connection()
    other = run_threads(1, lambda _i: store._connection())[0]
    assert other is not store._connection()


def test_reopening_an_existing_database_keeps_its_data(database):
    first = database.open()
    user = make_user(first)
    first.close()
    second = database.open()
    try:
        assert second.get_user(user.id) == user
    finally:
        second.close()


# -- users ----------------------------------------------------------------------------------------


def test_create_and_find_users(store):
    user = make_user(store)
    assert store.get_user(user.id) == user
    assert store.get_user_by_email("ANN@example.com") == user  # emails compare case-insensitively
    assert store.get_user("nope") is None and store.get_user_by_email("x@y.z") is None
    assert user.token_version == 0
    assert "password_hash" not in repr(user) and "$2b$" not in repr(user)


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("ann", "other@example.com", "username"),
        ("ANN", "o@example.com", "username"),
        ("bob", "ann@example.com", "email"),
        ("bob", "Ann@Example.COM", "email"),
    ],
)
def test_duplicate_username_or_email_is_refused(store, username, email, field):
    make_user(store)
    with pytest.raises(DuplicateUser) as info:
        store.create_user(username=username, email=email, full_name="X", password_hash="h", now=NOW)
    assert info.value.field == field


# -- rotation -------------------------------------------------------------------------------------


def test_only_a_hash_of_the_jti_is_stored(store, database):
    user = make_user(store)
    session = make_session(store, user, jti="the-secret-jti-0")
    store.rotate(session_id=session.id, user_id=user.id, jti="the-secret-jti-0", new_jti="the-secret-jti-1", now=NOW)
    tables = ("users", "sessions", "used_refresh_jtis")
    rows = [row for table in tables for row in database.query(f"SELECT * FROM {table}")]
    dump = "\n".join(repr(row) for row in rows)
    assert "the-secret-jti" not in dump
    assert jti_hash("the-secret-jti-0") in dump and jti_hash("the-secret-jti-1") in dump


def test_rotate_swaps_the_current_token_and_returns_session_and_user(store):
    user = make_user(store)
    session = make_session(store, user)
    result = store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
    assert result.outcome is Outcome.OK
    assert result.user == user
    assert result.session.id == session.id and result.session.last_rotated_at == NOW
    again = store.rotate(session_id=session.id, user_id=user.id, jti="j1", new_jti="j2", now=NOW)
    assert again.outcome is Outcome.OK


def test_presenting_a_used_token_revokes_the_whole_family(store):
    user = make_user(store)
    session = make_session(store, user)
    store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
    replay = store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="jx", now=NOW)
    assert replay.outcome is Outcome.REUSED and replay.session is None
    revoked = store.get_session(session.id)
    assert revoked.revoked_at == NOW and revoked.revoked_reason == "reuse"
    # RFC 9700 §4.14.2: the newest token of the family dies too.
    newest = store.rotate(session_id=session.id, user_id=user.id, jti="j1", new_jti="j2", now=NOW)
    assert newest.outcome is Outcome.INACTIVE


def test_a_token_never_current_in_a_live_session_also_revokes_it(store):
    user = make_user(store)
    session = make_session(store, user)
    r = store.rotate(session_id=session.id, user_id=user.id, jti="forged", new_jti="x", now=NOW)
    assert r.outcome is Outcome.REUSED
    assert store.get_session(session.id).revoked_reason == "unknown_token"


def test_rotation_with_another_users_id_changes_nothing(store):
    user, other = make_user(store), make_user(store, "bob")
    session = make_session(store, user)
    r = store.rotate(session_id=session.id, user_id=other.id, jti="j0", new_jti="j1", now=NOW)
    assert r.outcome is Outcome.INACTIVE
    assert store.get_session(session.id).revoked_at is None
    ok = store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
    assert ok.outcome is Outcome.OK


def test_no_rotation_at_or_past_the_absolute_expiry(store):
    user = make_user(store)
    session = make_session(store, user, absolute=NOW + 10)
    r = store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW + 10)
    assert r.outcome is Outcome.INACTIVE
    assert store.get_session("no-such-session") is None
    r = store.rotate(session_id="no-such-session", user_id=user.id, jti="j0", new_jti="j1", now=NOW)
    assert r.outcome is Outcome.INACTIVE


@pytest.mark.parametrize("round_", range(10))
def test_barrier_forced_interleaving_gives_exactly_one_winner(store, round_):
    """Both threads have read the session (and seen it live with j0 current) before either
    attempts the conditional UPDATE: exactly one wins, the other is a reuse."""
    user = make_user(store)
    session = make_session(store, user)
    barrier = threading.Barrier(2)

    def attempt(i):
        seen = store.get_session(session.id)  # the read a read-then-write design would trust
        assert seen.revoked_at is None
        barrier.wait()
        return store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti=f"new-{i}", now=NOW).outcome

    outcomes = run_threads(2, attempt)
    assert sorted(o.value for o in outcomes) == ["ok", "reused"]
    assert store.get_session(session.id).revoked_reason == "reuse"


def test_the_barrier_does_force_the_bad_interleaving(store, database):
    """Control experiment: a read-then-write rotation under the same barrier lets BOTH threads
    win, so the test above would catch one."""
    user = make_user(store)
    session = make_session(store, user)
    barrier = threading.Barrier(2)

    def naive_rotate(i):
        [(current,)] = database.query("SELECT current_jti_hash FROM sessions WHERE id = ?", (session.id,))
        barrier.wait()
        if current != jti_hash("j0"):
            return False
        database.query("UPDATE sessions SET current_jti_hash = ? WHERE id = ?", (jti_hash(f"new-{i}"), session.id))
        return True

    assert run_threads(2, naive_rotate) == [True, True]


def test_twenty_threads_rotating_one_token_get_exactly_one_success(store):
    user = make_user(store)
    session = make_session(store, user)
    barrier = threading.Barrier(20)

    def attempt(i):
        barrier.wait()
        return store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti=f"new-{i}", now=NOW).outcome

    outcomes = run_threads(20, attempt)
    assert outcomes.count(Outcome.OK) == 1
    assert Outcome.REUSED in outcomes
    assert set(outcomes) <= {Outcome.OK, Outcome.REUSED, Outcome.INACTIVE}
    assert store.get_session(session.id).revoked_reason == "reuse"


# SQLite only: its file lock and busy timeout (PostgreSQL's row locks: test_postgres_store.py).
def test_a_held_write_lock_is_waited_out_not_raised(sqlite_path):
    """'database is locked' never escapes: the busy timeout is tiny here, so the retry loop
    has to carry the rotation past another connection's long write transaction."""
    db_path = sqlite_path
    store = SqliteStore(db_path, busy_timeout=0.01)
    try:
        user = make_user(store)
        session = make_session(store, user)
        # The Timer thread commits on the connection opened here, hence check_same_thread=False.
        blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
        release.start()
        r = store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
        release.join()
        blocker.close()
        assert r.outcome is Outcome.OK
    finally:
        store.close()


# SQLite only, as above.
def test_a_lock_held_past_the_retry_deadline_is_a_store_error(sqlite_path):
    db_path = sqlite_path
    store = SqliteStore(db_path, busy_timeout=0.01, retry_deadline=0.05)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreBusy):
            store.revoke_session("x", reason="test", now=NOW)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.close()


# SQLite only: the durability of SQLite's file (WAL, synchronous=FULL) when the process that
# wrote it dies. PostgreSQL's is the server's, and the client process's death: test_postgres_store.py.
def test_a_committed_rotation_survives_kill_9(sqlite_path):
    db_path = sqlite_path
    script = textwrap.dedent(
        f"""
        import os, signal
        from tokenconform_server.store import SqliteStore
        s = SqliteStore({db_path!r})
        u = s.create_user(username="k", email="k@example.com", full_name="K",
                          password_hash="h", now={NOW})
        sess = s.create_session(user_id=u.id, user_agent="", jti="j0", now={NOW},
                                absolute_expires_at={LATER})
        r = s.rotate(session_id=sess.id, user_id=u.id, jti="j0", new_jti="j1", now={NOW})
        print(sess.id, u.id, r.outcome.value, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    session_id, user_id, outcome = proc.stdout.split()
    assert outcome == "ok"
    store = SqliteStore(db_path)
    try:
        r = store.rotate(session_id=session_id, user_id=user_id, jti="j1", new_jti="j2", now=NOW)
        assert r.outcome is Outcome.OK
    finally:
        store.close()


# -- revocation -----------------------------------------------------------------------------------


def test_is_session_active(store):
    user = make_user(store)
    session = make_session(store, user, absolute=NOW + 10)
    active = lambda **kw: store.is_session_active(  # noqa: E731
        kw.get("sid", session.id),
        user_id=kw.get("uid", user.id),
        token_version=kw.get("ver", 0),
        now=kw.get("now", NOW),
    )
    assert active()
    assert not active(ver=1)
    assert not active(uid="someone-else")
    assert not active(sid="nope")
    assert not active(now=NOW + 10)  # at the absolute cap
    assert store.revoke_session(session.id, reason="logout", now=NOW)
    assert not active()
    assert not store.revoke_session(session.id, reason="logout", now=NOW)  # already revoked


def test_revoke_session_leaves_other_sessions_alone(store):
    user = make_user(store)
    one, two = make_session(store, user, "a0"), make_session(store, user, "b0")
    store.revoke_session(one.id, reason="logout", now=NOW)
    assert store.get_session(one.id).revoked_reason == "logout"
    assert store.is_session_active(two.id, user_id=user.id, token_version=0, now=NOW)
    r = store.rotate(session_id=two.id, user_id=user.id, jti="b0", new_jti="b1", now=NOW)
    assert r.outcome is Outcome.OK


def test_revoke_all_bumps_the_version_and_revokes_every_session(store):
    user, other = make_user(store), make_user(store, "bob")
    sessions = [make_session(store, user, f"j{i}") for i in range(3)]
    bobs = make_session(store, other, "bob0")
    assert store.revoke_all_for_user(user.id, reason="logout_all", now=NOW) == 3
    assert store.get_user(user.id).token_version == 1
    for s in sessions:
        assert store.get_session(s.id).revoked_reason == "logout_all"
        assert not store.is_session_active(s.id, user_id=user.id, token_version=1, now=NOW)
    assert store.is_session_active(bobs.id, user_id=other.id, token_version=0, now=NOW)
    # A session started afterwards works with the new version only.
    fresh = make_session(store, user, "fresh")
    assert store.is_session_active(fresh.id, user_id=user.id, token_version=1, now=NOW)
    assert not store.is_session_active(fresh.id, user_id=user.id, token_version=0, now=NOW)


def test_revoke_with_token(store):
    user = make_user(store)
    session = make_session(store, user)
    store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
    kw = dict(session_id=session.id, user_id=user.id, reason="logout", now=NOW)
    assert store.revoke_with_token(jti="j1", **{**kw, "user_id": "x"}) is Outcome.INACTIVE
    assert store.revoke_with_token(jti="j1", **kw) is Outcome.OK
    assert store.get_session(session.id).revoked_reason == "logout"
    assert store.revoke_with_token(jti="j1", **kw) is Outcome.INACTIVE


def test_revoke_with_a_used_token_is_reuse(store):
    user = make_user(store)
    session = make_session(store, user)
    store.rotate(session_id=session.id, user_id=user.id, jti="j0", new_jti="j1", now=NOW)
    outcome = store.revoke_with_token(session_id=session.id, user_id=user.id, jti="j0", reason="logout", now=NOW)
    assert outcome is Outcome.REUSED
    assert store.get_session(session.id).revoked_reason == "reuse"


def test_check_reuse_uses_nothing_up_but_catches_a_used_token(store):
    user = make_user(store)
    session = make_session(store, user)
    kw = dict(session_id=session.id, user_id=user.id, now=NOW)
    assert store.check_reuse(jti="j0", **kw) is Outcome.OK
    r = store.rotate(jti="j0", new_jti="j1", **kw)
    assert r.outcome is Outcome.OK  # still current after check_reuse
    assert store.check_reuse(jti="j1", **kw) is Outcome.OK
    assert store.check_reuse(jti="j0", **kw) is Outcome.REUSED
    assert store.get_session(session.id).revoked_reason == "reuse"
    assert store.check_reuse(jti="j1", **kw) is Outcome.INACTIVE


# -- login failures -------------------------------------------------------------------------------


def test_login_failures_are_counted_in_a_window_and_cleared(store):
    for at in (NOW, NOW + 10, NOW + 20):
        store.record_login_failure("ann@example.com", now=at, window=60)
    store.record_login_failure("bob@example.com", now=NOW, window=60)
    assert store.login_failure_times("ann@example.com", since=NOW - 60) == [NOW, NOW + 10, NOW + 20]
    assert store.count_login_failures("ann@example.com", since=NOW + 5) == 2
    # Recording prunes what has left the window.
    store.record_login_failure("ann@example.com", now=NOW + 75, window=60)
    assert store.login_failure_times("ann@example.com", since=0) == [NOW + 20, NOW + 75]
    store.clear_login_failures("ann@example.com")
    assert store.count_login_failures("ann@example.com", since=0) == 0
    # bob's failure left the window too: recording purges every key's, not only its own.
    assert store.count_login_failures("bob@example.com", since=0) == 0


def test_failures_of_unique_keys_are_purged_outside_the_window(store):
    """Issue 8: one row per sprayed email stayed for ever; now the table holds one window."""
    for i in range(200):
        store.record_login_failure(f"victim{i}@example.com", now=NOW + i, window=60)
    assert store.count_all_login_failures() == 60  # failures at NOW+140 .. NOW+199
    store.record_login_failure("last@example.com", now=NOW + 1000, window=60)
    assert store.count_all_login_failures() == 1


# SQLite only: the file's size (PostgreSQL's tables' size: test_postgres_store.py).
def test_a_failure_costs_the_same_whatever_the_key_length(sqlite_path, sqlite_store):
    """Issue 8: 400 failed logins with 60 KB emails grew the database to 47 MB. Keys are stored
    as 32-byte hashes, so growth per failure is a small constant."""
    import os

    db_path, store = sqlite_path, sqlite_store

    store.record_login_failure("warm-up", now=NOW, window=3600)
    before = os.path.getsize(db_path)
    for i in range(400):
        store.record_login_failure(f"{i}" + "x" * 60_000, now=NOW + i, window=3600)
    assert store.count_all_login_failures() == 401
    store.close()  # the last connection checkpoints the WAL into the file and removes it
    assert not os.path.exists(db_path + "-wal")
    assert os.path.getsize(db_path) - before < 100 * 1024  # was 47 MB; now ~100 bytes a row


def test_create_session_under_a_stale_token_version_is_refused(store):
    """Issue 8: the version check and the insert are one step, so a login that read the user
    before a logout-all cannot create a session after it."""
    from tokenconform_server.store import VersionChanged

    user = make_user(store)
    kw = dict(user_id=user.id, user_agent="ua", now=NOW, absolute_expires_at=LATER)
    assert store.create_session(jti="a", token_version=0, **kw).revoked_at is None
    store.revoke_all_for_user(user.id, reason="logout_all", now=NOW)
    with pytest.raises(VersionChanged):
        store.create_session(jti="b", token_version=0, **kw)
    assert store.create_session(jti="c", token_version=1, **kw).revoked_at is None


# SQLite only: max_page_count (PostgreSQL's disk_full: test_postgres_store.py).
def test_a_full_database_raises_store_unavailable(sqlite_path):
    """Issue 8: SQLite's own SQLITE_FULL, hit for real through max_page_count, is not swallowed."""
    from tokenconform_server.store import StoreUnavailable

    class Capped(SqliteStore):
        def _connection(self):
            conn = super()._connection()
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages + 1}")
            return conn

    SqliteStore(sqlite_path).close()  # the schema, uncapped
    store = Capped(sqlite_path)
    try:
        with pytest.raises(StoreUnavailable, match="full"):
            for i in range(10_000):
                store.record_login_failure(f"key{i}", now=NOW, window=60)
    finally:
        store.close()
    assert store.closed
