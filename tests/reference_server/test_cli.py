"""``tokenconform serve`` / ``python -m tokenconform_server``: flags, env vars, errors, signals."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
import requests

from tokenconform.cli import main as tokenconform
from tokenconform_server.cli import main
from tokenconform_server.config import generate_secret

from .conftest import PASSWORD, claims
from .test_crash import finish, spawn

_ENV_VARS = (
    "ACCESS_TOKEN_SECRET",
    "REFRESH_TOKEN_SECRET",
    "ACCESS_TOKEN_EXPIRY",
    "REFRESH_TOKEN_EXPIRY",
    "DATABASE_PATH",
    "DATABASE_URL",
    "SERVER_WORKERS",
    "BCRYPT_ROUNDS",
    "TOKEN_DELIVERY",
    "COOKIE_PREFIX",
    "SESSION_MAX_AGE",
    "SERVER_THREADS",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def secrets_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("ACCESS_TOKEN_SECRET", generate_secret())
    clean_env.setenv("REFRESH_TOKEN_SECRET", generate_secret())
    return clean_env


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("tokenconform serve: error: ")
    return lines[0]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--db", "--access-ttl", "--refresh-ttl", "--bcrypt-rounds", "--delivery"):
        assert flag in out
    for flag in ("--cookie-prefix", "--dev"):
        assert flag in out


def test_tokenconform_serve_dispatches_to_the_server_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert tokenconform(["serve", "--help"]) == 0
    assert "--access-ttl" in capsys.readouterr().out


def test_tokenconform_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert tokenconform([]) == 2
    assert "usage: tokenconform" in capsys.readouterr().err


def test_unknown_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-flag"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_refuses_to_start_without_secrets(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0"]) == 2
    line = _one_line_error(capsys)
    assert "ACCESS_TOKEN_SECRET" in line and "--dev" in line


def test_refuses_a_short_secret(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("ACCESS_TOKEN_SECRET", "too short")
    clean_env.setenv("REFRESH_TOKEN_SECRET", generate_secret())
    assert main(["--port", "0"]) == 2
    line = _one_line_error(capsys)
    assert "ACCESS_TOKEN_SECRET" in line and "32" in line


def test_bad_env_var_is_named(secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    secrets_env.setenv("ACCESS_TOKEN_EXPIRY", "soon")
    assert main(["--port", "0"]) == 2
    assert "ACCESS_TOKEN_EXPIRY" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--access-ttl", "soon"], "--access-ttl"),
        (["--refresh-ttl", "-5"], "--refresh-ttl"),
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--bcrypt-rounds", "3"], "--bcrypt-rounds"),
        (["--delivery", "carrier-pigeon"], "--delivery"),
        (["--cookie-prefix", "__Secure-"], "--cookie-prefix"),
    ],
)
def test_bad_flag_value_is_named(
    secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert main(argv) == 2
    assert named in _one_line_error(capsys)


def test_unusable_database_path(
    secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--port", "0", "--db", str(tmp_path / "missing-dir" / "x.db")]) == 2
    assert "missing-dir" in _one_line_error(capsys)


def test_an_unreachable_postgresql_is_one_line_without_the_password(
    secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg")
    assert main(["--port", "0", "--db", "postgresql://someone:hunter2@127.0.0.1:1/x"]) == 2
    line = _one_line_error(capsys)
    assert "127.0.0.1:1" in line and "hunter2" not in line


@pytest.mark.parametrize("workers", ["1", "3"])
def test_a_bad_database_url_is_named(
    secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    secrets_env.setenv("DATABASE_URL", "mysql://h/db")
    assert main(["--port", "0", "--workers", workers]) == 2
    assert "DATABASE_URL" in _one_line_error(capsys)


def test_db_flag_wins_over_database_url(
    secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With --db FILE, a DATABASE_URL in the environment (here invalid) is not even looked at:
    start-up gets as far as the port, which is taken."""
    secrets_env.setenv("DATABASE_URL", "mysql://h/db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--db", str(tmp_path / "x.db")]) == 2
    assert f"cannot serve on 127.0.0.1:{port}" in _one_line_error(capsys)


def test_workers_with_mock_is_refused(secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--workers", "2", "--mock"]) == 2
    assert "--mock" in _one_line_error(capsys)


def test_port_in_use(secrets_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--db", str(tmp_path / "x.db")]) == 2
    assert str(port) in _one_line_error(capsys)


@pytest.mark.slow
def test_serve_dev_flags_override_env_and_sigterm_stops_it(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS}
    # The env says 15 minutes and 7 days; the flag wins for the access TTL, the env var for refresh.
    env.update({"ACCESS_TOKEN_EXPIRY": "15m", "REFRESH_TOKEN_EXPIRY": "1h", "BCRYPT_ROUNDS": "4"})
    proc, url = spawn(tmp_path / "dev.db", env, "--dev", "--access-ttl", "3s", "--delivery", "body")
    try:
        with requests.Session() as http:
            assert http.get(url + "/health", timeout=10).json() == {"status": "ok"}
            user = {"username": "dev", "email": "dev@example.com", "password": PASSWORD, "fullName": "D"}
            assert http.post(url + "/register", json=user, timeout=10).status_code == 201
            login = http.post(url + "/login", json={"email": user["email"], "password": PASSWORD}, timeout=10)
            assert login.status_code == 200
            assert "Set-Cookie" not in login.headers  # --delivery body
            access, refresh = claims(login.json()["accessToken"]), claims(login.json()["refreshToken"])
            assert access["exp"] - access["iat"] == 3
            assert refresh["exp"] - refresh["iat"] == 3600
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode, out, err = finish(proc)
    assert returncode == 0, err
    assert out == ""  # the URL line was read by spawn(); nothing else goes to stdout
    assert "--dev" in err and "random" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_serve_lists_its_routes_and_logs_each_request_without_secrets(tmp_path: Path) -> None:
    """Issue 8: ``serve`` says which routes it serves and logs method, path, status and ms."""
    import os
    import re

    env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS}
    env["BCRYPT_ROUNDS"] = "4"
    proc, url = spawn(tmp_path / "log.db", env, "--dev")
    try:
        with requests.Session() as http:
            user = {"username": "log", "email": "log@example.com", "password": PASSWORD, "fullName": "L"}
            assert http.post(url + "/register", json=user, timeout=10).status_code == 201
            login = http.post(url + "/login", json={"email": user["email"], "password": PASSWORD}, timeout=10)
            tokens = login.json()
            headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
            assert http.get(url + "/profile?access_token=" + tokens["accessToken"], headers=headers, timeout=10).ok
            assert http.post(url + "/refresh", json={"refreshToken": tokens["refreshToken"]}, timeout=10).ok
            assert http.get(url + "/nowhere%0aFORGED", timeout=10).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode, _, err = finish(proc)
    assert returncode == 0, err
    assert "serving GET /health, POST /register, POST /login, POST /refresh" in err
    for line in ("POST /register 201", "POST /login 200", "GET /profile 200", "POST /refresh 200"):
        assert re.search(rf"^127\.0\.0\.1 {line} \d+\.\d ms$", err, re.MULTILINE), (line, err)
    assert re.search(r"^127\.0\.0\.1 GET /nowhere\\x0aFORGED 404 ", err, re.MULTILINE), err
    for secret in (PASSWORD, tokens["accessToken"], tokens["refreshToken"], "access_token="):
        assert secret not in err


@pytest.mark.slow
def test_ctrl_c_stops_the_server(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in _ENV_VARS}
    proc, url = spawn(tmp_path / "int.db", env, "--dev")
    proc.send_signal(signal.SIGINT)
    returncode, _, err = finish(proc)
    assert returncode == 0, err
    assert "Traceback" not in err
