"""serve's own documents (/openapi.yaml, /openapi.json, /docs) and mock mode's loopback rule."""

from __future__ import annotations

import pytest
import requests
import yaml

from tokenconform_server.docs_page import ALLOW_REMOTE_MOCK, is_loopback, serve_app
from tokenconform_server.mock import MockApp
from tokenconform_server.mock_transports import mock_settings
from tokenconform_server.server import ReferenceServer


@pytest.mark.parametrize("mock", [False, True])
def test_serve_app_serves_its_openapi_document_and_an_offline_docs_page(tmp_path, mock):
    settings = mock_settings(db_path=str(tmp_path / "docs.db"))
    app = serve_app(settings, mock=mock)
    try:
        with ReferenceServer(settings, app=app) as server:
            as_yaml = requests.get(f"{server.url}/openapi.yaml", timeout=10)
            as_json = requests.get(f"{server.url}/openapi.json", timeout=10)
            docs = requests.get(f"{server.url}/docs", timeout=10)
            health = requests.get(f"{server.url}/health", timeout=10)
            clock = requests.get(f"{server.url}/_mock/clock", timeout=10)
            posted = requests.post(f"{server.url}/docs", timeout=10)
    finally:
        app.close()  # type: ignore[attr-defined]
    assert as_yaml.status_code == 200 and as_yaml.headers["Content-Type"] == "application/yaml"
    assert as_json.json() == yaml.safe_load(as_yaml.text)
    assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")
    # Self-contained: no script, no stylesheet or image fetched from anywhere.
    assert "<script" not in docs.text and "http://" not in docs.text.replace("http://127.0.0.1:8000", "")
    assert "src=" not in docs.text and "default-src 'none'" in docs.headers["Content-Security-Policy"]
    assert "/refresh" in docs.text and "/_mock/clock" in docs.text
    assert health.status_code == 200
    assert clock.status_code == (200 if mock else 404)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"


def test_mock_mode_is_loopback_only_unless_overridden():
    settings = mock_settings(host="0.0.0.0")
    with pytest.raises(PermissionError, match=ALLOW_REMOTE_MOCK):
        serve_app(settings, mock=True, environ={})
    app = serve_app(settings, mock=True, environ={ALLOW_REMOTE_MOCK: "1"})
    assert isinstance(app.app, MockApp)  # type: ignore[attr-defined]
    app.close()  # type: ignore[attr-defined]
    serve_app(settings, mock=False, environ={}).close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("192.168.1.2", False)],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback
