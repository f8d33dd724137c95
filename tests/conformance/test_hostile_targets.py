"""The suite against hostile targets (issue 8): bounded in time and memory, one clear reason.

The servers here are raw sockets or thin WSGI wrappers on 127.0.0.1:0, stopped by the test
that started them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from tokenconform.errors import TargetUnreachable
from tokenconform.results import Outcome
from tokenconform.transport import MAX_BODY_BYTES, round_trip
from tokenconform_server.app import create_app as reference_app
from tokenconform_server.server import ReferenceServer

from .conftest import embedded_settings, run_against
from .test_cli import tokenconform


@pytest.fixture
def dripping_server() -> Iterator[str]:
    with dripping_target() as url:
        yield url


@contextlib.contextmanager
def dripping_target() -> Iterator[str]:
    """Answers every connection with a status line it sends one byte every 50 ms, for ever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def drip(connection: socket.socket) -> None:
        with connection:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                if stop.wait(0.05):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        acceptor.join(2)
        listener.close()


def test_a_dripping_target_meets_the_total_deadline(dripping_server: str) -> None:
    with requests.Session() as session, pytest.raises(TargetUnreachable, match="too slowly"):
        round_trip(session, "GET", dripping_server, headers={}, data=None, timeout=0.5, verify=True)


@pytest.mark.slow
def test_run_against_a_dripping_target_ends_with_one_line_and_exit_2(dripping_server: str, tmp_path) -> None:
    done = tokenconform(
        "run", "--target", dripping_server, "--profile", "reference", "--timeout", "0.5", cwd=tmp_path
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "too slowly" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def _padded(app, size: int):
    """Every JSON answer of ``app`` padded with ``size`` spaces (still valid JSON)."""

    def wrapped(environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(app(environ, capture))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        if body.startswith(b"{"):
            body = body[:-1] + b" " * size + b"}"
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    return wrapped


def test_an_oversized_body_is_read_only_up_to_the_limit() -> None:
    settings = embedded_settings()
    app = _padded(reference_app(settings), 10 * 1024 * 1024)
    with ReferenceServer(settings, app=app) as server, requests.Session() as session:
        answer = round_trip(session, "GET", f"{server.url}/profile", headers={}, data=None, timeout=10, verify=True)
    assert answer.truncated and len(answer.body) == MAX_BODY_BYTES


def test_checks_against_a_padded_target_end_in_a_clear_error_not_a_crash() -> None:
    settings = embedded_settings()
    results = run_against(["ROT-01", "TOK-13"], app_factory=lambda s: _padded(reference_app(s), 2 * MAX_BODY_BYTES))
    for result in results.values():
        assert result.outcome is Outcome.ERROR, result
        assert "body over" in result.message and "internal error" not in result.message
    del settings


def _nested_header_token(depth: int) -> str:
    header = "[" * depth + "]" * depth
    segment = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "x"}).encode()).rstrip(b"=").decode()
    return f"{segment}.{payload}.c2ln"


def _issues_nested_access_tokens(app):
    """Login and refresh answer an access token whose JOSE header nests 50,000 levels deep."""
    hostile = _nested_header_token(50_000)

    def wrapped(environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(app(environ, capture))
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict) and "accessToken" in document:
            document["accessToken"] = hostile
            body = json.dumps(document).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    return wrapped


def test_a_deeply_nested_token_header_is_the_targets_problem_never_an_internal_error() -> None:
    results = run_against(
        ["TOK-01", "TOK-09", "TOK-13", "EXP-01"], app_factory=lambda s: _issues_nested_access_tokens(reference_app(s))
    )
    for result in results.values():
        assert "internal error" not in result.message, result
        assert "RecursionError" not in result.message, result
    # TOK-13 names the real problem: the access token is no JWT the suite can read.
    assert results["TOK-13"].outcome is Outcome.FAILED
