"""Idle and slowly trickling connections do not starve the server (regression tests for issue 8).

About 100 idle TCP connections used to make /health and /login time out for minutes: waitress
stops accepting at ``connection_limit`` (default 100) open connections and closed idle ones only
after ``channel_timeout`` (120 s), while a byte every few seconds counted as activity and kept a
connection for ever. Timings are not asserted (bench/idle_connections.py measures them); the
requests here have a bounded client timeout instead, so a starved server fails the test.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tokenconform_server.server import ReferenceServer

from .conftest import PASSWORD, Api

#: what a starved server would exceed; generous for a loaded 2-core machine
CLIENT_TIMEOUT = 10


@contextlib.contextmanager
def open_connections(server: ReferenceServer, count: int, *, partial: bytes = b"") -> Iterator[list[socket.socket]]:
    """``count`` connections to ``server``, each having sent ``partial`` (nothing: idle)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((server.host, server.port), timeout=CLIENT_TIMEOUT)
            if partial:
                sock.sendall(partial)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_500_idle_and_trickling_connections_do_not_starve_login(make_api: Callable[..., Api]) -> None:
    api = make_api()  # the product's connection limits (Settings.for_testing keeps them)
    user = api.new_user()
    trickle = b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    with open_connections(api.server, 450) as idle, open_connections(api.server, 50, partial=trickle) as slow:
        for sock in slow[:10]:
            sock.sendall(b" ")  # still trickling
        with requests.Session() as http:
            health = http.get(api.server.url + "/health", timeout=CLIENT_TIMEOUT)
            login = http.post(
                api.server.url + "/login",
                json={"email": user.email, "password": PASSWORD},
                timeout=CLIENT_TIMEOUT,
            )
        assert health.status_code == 200
        assert login.status_code == 200, login.text
        assert len(idle) + len(slow) == 500


def _closed_by_server(sock: socket.socket, *, trickle: bool, give_up_after: float) -> bool:
    """Keep ``sock`` open (sending a byte now and then if ``trickle``) until the server closes
    it; False if it is still open after ``give_up_after`` seconds."""
    sock.settimeout(0.25)
    deadline = time.monotonic() + give_up_after
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.sendall(b"a")
            if sock.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, broken pipe: closed by the server
            return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("trickle", [False, True], ids=["idle", "trickling"])
def test_a_connection_that_completes_no_request_is_closed_after_channel_timeout(
    make_api: Callable[..., Api], trickle: bool
) -> None:
    """waitress counts every byte as activity; here only a completed request does, so a request
    trickled in a byte at a time is closed like an idle connection."""
    api = make_api(channel_timeout=1)
    with open_connections(api.server, 1, partial=b"GET /health HTTP/1.1\r\nX-Slow: ") as (sock,):
        assert _closed_by_server(sock, trickle=trickle, give_up_after=30)


@pytest.mark.slow
def test_a_keep_alive_connection_in_use_is_not_cut(make_api: Callable[..., Api]) -> None:
    # Requests completed now and then keep a connection alive past channel_timeout.
    api = make_api(channel_timeout=2)
    with requests.Session() as http:
        for _ in range(4):
            assert http.get(api.server.url + "/health", timeout=CLIENT_TIMEOUT).status_code == 200
            time.sleep(1)
