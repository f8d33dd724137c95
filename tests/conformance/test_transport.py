"""TLS and connection failures in plain words, with the option that helps (issue 7)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tokenconform.context import RunConfig
from tokenconform.errors import TargetUnreachable
from tokenconform.planning import probe_target
from tokenconform.transport import round_trip
from tokenconform_server.server import ReferenceServer

from .conftest import embedded_settings


def _get(url: str) -> None:
    with requests.Session() as session:
        round_trip(session, "GET", url, headers={}, data=None, timeout=5, verify=True)


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_self_signed_certificate_is_named_with_the_flags_that_help(self_signed_server: str) -> None:
    with pytest.raises(TargetUnreachable) as raised:
        _get(self_signed_server)
    reason = raised.value.reason
    assert "self-signed" in reason and "--ca-bundle" in reason and "--insecure" in reason, reason


def test_https_at_a_plain_http_port_is_named_as_such_at_once() -> None:
    settings = embedded_settings()
    with ReferenceServer(settings) as server, pytest.raises(TargetUnreachable) as raised:
        # A timeout of a minute: the answer must come from the plain-http probe, not a timeout.
        probe_target(RunConfig(target=server.url.replace("http://", "https://"), timeout=60.0))
    assert "plain http" in raised.value.reason, raised.value.reason


def test_a_closed_port_says_connection_refused() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TargetUnreachable, match="connection refused"):
        _get(f"http://127.0.0.1:{port}")
