"""access_log.py: one line per request (address, method, path, status, ms), never a secret."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from tokenconform_server.access_log import AccessLog, describe_routes
from tokenconform_server.app import create_app
from tokenconform_server.config import Settings


def _call(app: Any, method: str, path: str, *, query: str = "", headers: dict[str, str] | None = None) -> str:
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": "192.0.2.1",
        "SERVER_NAME": "x",
        "SERVER_PORT": "80",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
    }
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        b"".join(body)
    finally:
        body.close()
    return statuses[0]


def test_each_request_is_one_line_without_query_or_credentials(tmp_path: Path) -> None:
    inner = create_app(Settings.for_testing(db_path=str(tmp_path / "log.db")))
    stream = io.StringIO()
    app = AccessLog(inner, stream)
    try:
        assert _call(app, "GET", "/health").startswith("200")
        _call(app, "GET", "/profile", query="access_token=SECRET", headers={"Authorization": "Bearer SECRET"})
        _call(app, "GET", "/a\nforged 200 line")
    finally:
        app.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert re.fullmatch(r"192\.0\.2\.1 GET /health 200 \d+\.\d ms", lines[0])
    assert re.fullmatch(r"192\.0\.2\.1 GET /profile 401 \d+\.\d ms", lines[1])
    assert lines[2].startswith("192.0.2.1 GET /a\\x0aforged 200 line 404 ")
    assert "SECRET" not in stream.getvalue()


def test_describe_routes_lists_every_route(tmp_path: Path) -> None:
    app = create_app(Settings.for_testing(db_path=str(tmp_path / "routes.db")))
    try:
        routes = describe_routes(app)
    finally:
        app.close()
    assert routes[:3] == ["GET /health", "POST /register", "POST /login"]
    assert "POST /logout-all" in routes and "GET /profile" in routes
