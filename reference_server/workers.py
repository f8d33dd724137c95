"""``tokenconform serve --workers N``: N server processes forked from one, sharing one socket.

The parent binds and listens once, then forks N workers. Each worker opens its own store (a
PostgreSQL pool or SQLite connections cannot cross a fork), builds the app, and runs waitress
on the inherited listening socket; the kernel hands each new connection to whichever worker
accepts it first. Each process has its own threads (``--threads``), so N workers give N times
the Python interpreters, the way gunicorn's pre-fork workers do, without a second server.

Atomicity does not depend on which worker a request reaches: every rule that must be atomic
(rotation, reuse detection, logout-all against logins, throttling records) is decided by one
statement or transaction in the database (see postgres_store.py), never in process memory. That
is also why ``--workers`` is meant for PostgreSQL; SQLite works too (its file lock serialises
writers across processes) but one file on one host stays one writer at a time.

The parent only supervises: SIGTERM or SIGINT (Ctrl-C) stops every worker and exits 0. If a
worker dies on its own, the parent stops the others and exits 1 rather than limp on with fewer
workers: restarting is the job of whatever runs the server (systemd, a container runtime).
On Linux a worker also receives SIGTERM if the parent is killed outright (PR_SET_PDEATHSIG), so
no orphan keeps serving. POSIX only (``os.fork``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["run_workers"]

#: seconds the workers get to finish their requests after SIGTERM before they are killed
STOP_TIMEOUT = 10.0


def _die_with_parent(parent: int) -> None:
    """Linux: ask for SIGTERM when the parent dies; then check it has not died already."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        os._exit(0)


def _worker(settings: Settings, sock: socket.socket, make_app: Callable[[], Any], parent: int) -> int:
    """The body of one forked worker: serve until SIGTERM/SIGINT; returns its exit status."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    _die_with_parent(parent)
    from .access_log import AccessLog
    from .server import ReferenceServer

    app = make_app()  # opens this worker's own store
    try:
        server = ReferenceServer(settings, app=AccessLog(app), sock=sock).start()
    except BaseException:
        app.close()
        raise
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        app.close()
    return 0


def _fork(settings: Settings, sock: socket.socket, make_app: Callable[[], Any], number: int) -> int:
    parent = os.getpid()
    # Anything buffered now would be written twice, once by each process.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _worker(settings, sock, make_app, parent)
    except BaseException as exc:  # reported, then the process ends: never back into the parent's code
        print(f"tokenconform serve: worker {number} (pid {os.getpid()}): {exc}", file=sys.stderr)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_workers(
    settings: Settings,
    sock: socket.socket,
    make_app: Callable[[], Any],
    *,
    log: Callable[[str], None],
) -> int:
    """Fork ``settings.workers`` workers serving ``sock``, supervise them, return the exit status.

    Call it with no other thread running (forking a threaded process copies locks held by
    threads that do not exist in the child).
    """
    stopping = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stopping.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    workers: dict[int, int] = {}  # pid -> worker number
    status = 0
    try:
        for number in range(1, settings.workers + 1):
            workers[_fork(settings, sock, make_app, number)] = number
        log(f"{settings.workers} worker processes: {', '.join(str(pid) for pid in workers)}")
        while not stopping.wait(0.2):
            for pid, code in _reap():
                if pid in workers:
                    number = workers.pop(pid)
                    log(f"worker {number} (pid {pid}) exited unexpectedly ({_describe(code)}); stopping the others")
                    status = 1
                    stopping.set()
    finally:
        _stop(workers, log)
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def _reap() -> list[tuple[int, int]]:
    """Every child that has exited, without waiting: (pid, wait status)."""
    done: list[tuple[int, int]] = []
    while True:
        try:
            pid, code = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, code))


def _stop(workers: dict[int, int], log: Callable[[str], None]) -> None:
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while workers and time.monotonic() < deadline:
        for pid, _code in _reap():
            workers.pop(pid, None)
        time.sleep(0.05)
    for pid, number in workers.items():
        log(f"worker {number} (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s: killed")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    workers.clear()


def _describe(code: int) -> str:
    if os.WIFSIGNALED(code):
        return f"signal {signal.Signals(os.WTERMSIG(code)).name}"
    return f"status {os.waitstatus_to_exitcode(code)}"
