"""A rotation that answered 200 survives ``kill -9``: the server restarted on the same database
accepts the new refresh token (and still refuses the used one)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tokenconform_server.config import generate_secret

from .conftest import PASSWORD

pytestmark = pytest.mark.slow

START_TIMEOUT = 20.0


def spawn(db_path: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m tokenconform_server`` on port 0; returns the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenconform_server", "--port", "0", "--db", str(db_path), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT):
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"server printed nothing in {START_TIMEOUT} s; stderr: {err}")
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"no URL on stdout: {line!r}; stderr: {err}")
    return proc, line.strip().rsplit(" ", 1)[-1]


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for ``proc`` (already signalled) and close its pipes."""
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


@pytest.fixture
def server_env() -> dict[str, str]:
    """The environment of a server subprocess: fixed secrets, so a restart verifies old tokens."""
    env = dict(os.environ)
    env.update(
        {
            "ACCESS_TOKEN_SECRET": generate_secret(),
            "REFRESH_TOKEN_SECRET": generate_secret(),
            "BCRYPT_ROUNDS": "4",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def test_committed_rotation_survives_sigkill(tmp_path: Path, server_env: dict[str, str]) -> None:
    db_path = tmp_path / "crash.db"
    proc, url = spawn(db_path, server_env)
    try:
        with requests.Session() as http:
            user = {"username": "crash", "email": "crash@example.com", "password": PASSWORD, "fullName": "C"}
            assert http.post(url + "/register", json=user, timeout=10).status_code == 201
            login = http.post(url + "/login", json={"email": user["email"], "password": PASSWORD}, timeout=10)
            assert login.status_code == 200
            first = login.json()["refreshToken"]
            refreshed = http.post(url + "/refresh", json={"refreshToken": first}, timeout=10)
            assert refreshed.status_code == 200
            second = refreshed.json()["refreshToken"]
            # Right after the 200: no graceful shutdown, no chance to flush anything.
            proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        returncode, _, _ = finish(proc)
    assert returncode == -signal.SIGKILL

    proc, url = spawn(db_path, server_env)
    try:
        with requests.Session() as http:
            # The used token stays used: refusing it also revokes the family, so check it last.
            again = http.post(url + "/refresh", json={"refreshToken": second}, timeout=10)
            assert again.status_code == 200, again.text
            assert http.post(url + "/refresh", json={"refreshToken": first}, timeout=10).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode, _, err = finish(proc)
    assert returncode == 0, err
