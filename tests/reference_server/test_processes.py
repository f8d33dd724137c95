"""Several server processes on one database: refresh races across processes have one winner.

Issue 8, "the reference server beyond one process": rotation must be exactly as atomic across
processes as across the threads of one, because the database, not process memory, decides it.
Each round logs a session in, then releases racers that all present its one refresh token at
once, spread over the processes; exactly one gets 200, every other 401, none a 5xx, and the
losers' reuse revokes the family, so even the winner's new token is refused afterwards (RFC 9700
§4.14.2), as on one process. Run on both engines (``database``); PostgreSQL is the point.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tokenconform_server.config import generate_secret

from .conftest import PASSWORD
from .engines import Database
from .test_crash import START_TIMEOUT

pytestmark = pytest.mark.slow

ROUNDS = 20
RACERS = 8


@pytest.fixture
def server_env(database: Database) -> dict[str, str]:
    """Shared secrets (every process verifies every other's tokens) and the database, passed in
    the environment as DATABASE_URL / DATABASE_PATH (a password stays out of the command line)."""
    env = dict(os.environ)
    env.update(
        {
            "ACCESS_TOKEN_SECRET": generate_secret(),
            "REFRESH_TOKEN_SECRET": generate_secret(),
            "BCRYPT_ROUNDS": "4",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL" if database.engine == "postgres" else "DATABASE_PATH": database.target,
        }
    )
    return env


@pytest.fixture
def serve(server_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """``serve(*flags)``: a ``tokenconform serve`` subprocess on the test's database; all stopped
    (SIGTERM, then checked) at teardown. Its request log goes to a file, not a pipe nobody reads."""
    started: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> tuple[subprocess.Popen[str], str]:
        log = tmp_path / f"server{len(started)}.log"
        with open(log, "w") as stderr:
            proc, url = spawn_logged(server_env, stderr, *flags)
        started.append(proc)
        return proc, url

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def spawn_logged(env: dict[str, str], stderr: Any, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m tokenconform_server --port 0 FLAGS`` with the database from ``env``; returns the
    process and the URL it printed. stderr goes to ``stderr`` (a file)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenconform_server", "--port", "0", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(START_TIMEOUT)
    line = proc.stdout.readline() if ready else ""
    if "http://" not in line:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise AssertionError(f"no URL on stdout within {START_TIMEOUT} s: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def race_round(urls: list[str], http: requests.Session) -> tuple[list[int], int]:
    """One session, RACERS refreshes of its token released together over ``urls`` in turn;
    returns the racers' statuses and the status of the winner's new token presented afterwards."""
    credentials = {"email": "racer@example.com", "password": PASSWORD}
    login = http.post(urls[0] + "/login", json=credentials, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["refreshToken"]
    barrier = threading.Barrier(RACERS)
    replies: list[requests.Response | None] = [None] * RACERS

    def racer(i: int) -> None:
        with requests.Session() as own:
            own.get(urls[i % len(urls)] + "/health", timeout=30)  # connected before the release
            barrier.wait()
            replies[i] = own.post(urls[i % len(urls)] + "/refresh", json={"refreshToken": token}, timeout=30)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = [reply.status_code if reply is not None else -1 for reply in replies]
    winners = [reply for reply in replies if reply is not None and reply.status_code == 200]
    after = 0
    if len(winners) == 1:
        after = http.post(urls[-1] + "/refresh", json={"refreshToken": winners[0].json()["refreshToken"]}, timeout=30)
        after = after.status_code
    return statuses, after


def register(url: str, http: requests.Session) -> None:
    body = {"username": "racer", "email": "racer@example.com", "password": PASSWORD, "fullName": "Racer"}
    assert http.post(url + "/register", json=body, timeout=30).status_code == 201


def assert_one_winner_every_round(urls: list[str]) -> None:
    with requests.Session() as http:
        register(urls[0], http)
        for round_ in range(ROUNDS):
            statuses, after = race_round(urls, http)
            assert sorted(statuses) == [200] + [401] * (RACERS - 1), f"round {round_}: {statuses}"
            assert after == 401, f"round {round_}: the family outlived the reuse ({after})"


def test_refresh_races_across_two_server_processes_have_one_winner_per_token(serve: Any) -> None:
    """Two separate server processes (two ports) on one database; the racers alternate between
    them, so every round is decided across processes."""
    (_, one), (_, two) = serve(), serve()
    assert one != two
    assert_one_winner_every_round([one, two])


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the worker processes from /proc")
def test_serve_workers_forks_processes_sharing_one_port_and_stops_them_all(serve: Any) -> None:
    proc, url = serve("--workers", "3")
    deadline = time.monotonic() + 20
    while len(workers := children(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 3
    assert_one_winner_every_round([url])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not any(Path(f"/proc/{worker}").exists() for worker in workers)  # stopped and reaped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the worker processes from /proc")
def test_a_worker_that_dies_stops_the_server_with_status_1(serve: Any) -> None:
    proc, url = serve("--workers", "2")
    deadline = time.monotonic() + 20
    while len(workers := children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    assert proc.wait(timeout=30) == 1
    # The parent stopped and reaped the other worker before exiting: no orphan keeps serving.
    assert not Path(f"/proc/{workers[1]}").exists()
    with requests.Session() as http, pytest.raises(requests.ConnectionError):
        http.get(url + "/health", timeout=5)
