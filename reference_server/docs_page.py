"""What ``tokenconform serve`` serves besides the API: its OpenAPI document and an offline docs page.

``/openapi.yaml`` is spec/openapi.yaml as shipped; ``/openapi.json`` the same document as JSON;
``/docs`` a readable HTML page rendered on the server from it, with inline CSS and no script or
external resource, so it works offline. :func:`serve_app` builds the application ``serve`` runs:
the reference app or, with ``mock=True``, :class:`~tokenconform_server.mock.MockApp` (loopback only
unless ``TOKENCONFORM_MOCK_ALLOW_REMOTE=1``), wrapped by :func:`with_docs`.
"""

from __future__ import annotations

import errno
import functools
import html
import importlib.resources
import ipaddress
import json
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .config import Settings
    from .server import WSGIApp

__all__ = ["ALLOW_REMOTE_MOCK", "DOCS_PATHS", "is_loopback", "render_docs", "serve_app", "spec_document", "with_docs"]

#: the env var that lets mock mode bind a non-loopback address
ALLOW_REMOTE_MOCK = "TOKENCONFORM_MOCK_ALLOW_REMOTE"
DOCS_PATHS = ("/openapi.yaml", "/openapi.json", "/docs")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.lru_cache(maxsize=1)
def spec_text() -> str:
    """spec/openapi.yaml, as installed (spec/ ships as the ``tokenconform_spec`` package)."""
    return importlib.resources.files("tokenconform_spec").joinpath("openapi.yaml").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def spec_document() -> dict[str, Any]:
    """The OpenAPI document parsed. Needs PyYAML (raises ``ModuleNotFoundError`` without it)."""
    import yaml  # type: ignore[import-untyped,unused-ignore]  # late: only /openapi.json and /docs need it

    document: dict[str, Any] = yaml.safe_load(spec_text())
    return document


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_app(settings: Settings, *, mock: bool = False, environ: dict[str, str] | None = None) -> WSGIApp:
    """The application ``tokenconform serve`` runs, with the docs routes.

    Raises:
        PermissionError: ``mock`` on a non-loopback host without ``TOKENCONFORM_MOCK_ALLOW_REMOTE=1``
            (an ``OSError``, so ``serve`` reports it as it reports a port it cannot bind).
    """
    env = os.environ if environ is None else environ
    if mock:
        if not is_loopback(settings.host) and env.get(ALLOW_REMOTE_MOCK) != "1":
            raise PermissionError(
                errno.EACCES,
                f"mock mode serves loopback only (its /_mock/ API moves the clock and ends sessions); "
                f"set {ALLOW_REMOTE_MOCK}=1 to bind {settings.host}",
            )
        from .mock import MockApp

        return with_docs(MockApp(settings))
    from .app import create_app

    return with_docs(create_app(settings))


def with_docs(app: Any) -> WSGIApp:
    """``app`` plus GET ``/openapi.yaml``, ``/openapi.json`` and ``/docs``; everything else goes to
    ``app``. The returned callable keeps ``app`` as ``.app`` and closes it with ``.close()``."""
    return _WithDocs(app)


class _Route(NamedTuple):
    method: str
    rule: str


class _WithDocs:
    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def routes(self) -> list[Any]:
        """Every route served (objects with ``.method`` and ``.rule``, like Bottle's), docs last."""
        inner = getattr(self.app, "routes", [])
        served = [_Route(*r) if isinstance(r, tuple) else r for r in inner]
        return [*served, *(_Route("GET", path) for path in DOCS_PATHS)]

    def close(self) -> None:
        close = getattr(self.app, "close", None)
        if close is not None:
            close()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in DOCS_PATHS:
            result: Iterable[bytes] = self.app(environ, start_response)
            return result
        if environ.get("REQUEST_METHOD", "GET").upper() not in ("GET", "HEAD"):
            return _send(start_response, "405 Method Not Allowed", b'{"message": "Method not allowed"}',
                         "application/json", [("Allow", "GET, HEAD")])  # fmt: skip
        if path == "/openapi.yaml":
            return _send(start_response, "200 OK", spec_text().encode("utf-8"), "application/yaml")
        try:
            document = spec_document()
        except ModuleNotFoundError:
            message = {"message": "PyYAML is not installed: only /openapi.yaml can be served"}
            return _send(start_response, "503 Service Unavailable", json.dumps(message).encode(), "application/json")
        if path == "/openapi.json":
            return _send(start_response, "200 OK", json.dumps(document, indent=2).encode("utf-8"), "application/json")
        return _send(start_response, "200 OK", render_docs(document).encode("utf-8"), "text/html; charset=utf-8")


def _send(
    start_response: Callable[..., Any],
    status: str,
    body: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("X-Content-Type-Options", "nosniff"),
        # The page has no script and loads nothing: say so, so a browser enforces it.
        ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
        *(extra or []),
    ]
    start_response(status, headers)
    return [body]


_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
.get{color:#0a6}.post{color:#06c}.put,.patch{color:#a60}.delete{color:#c22}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
nav a{margin-right:1rem}
"""


def _text(value: object) -> str:
    return html.escape(str(value or ""))


def _paragraphs(text: object) -> str:
    return "".join(f"<p>{_text(p)}</p>" for p in str(text or "").split("\n\n") if p.strip())


def render_docs(document: dict[str, Any]) -> str:
    """The OpenAPI document as one self-contained HTML page (operations grouped by tag)."""
    info = document.get("info", {})
    tags = [t.get("name", "") for t in document.get("tags", [])]
    by_tag: dict[str, list[str]] = {tag: [] for tag in tags}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            tag = (operation.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(method, path, operation))
    descriptions = {t.get("name"): t.get("description", "") for t in document.get("tags", [])}
    sections = []
    for tag, operations in by_tag.items():
        if operations:
            sections.append(
                f'<h2 id="tag-{_text(tag)}">{_text(tag)}</h2>{_paragraphs(descriptions.get(tag))}' + "".join(operations)
            )
    nav = " ".join(f'<a href="#tag-{_text(t)}">{_text(t)}</a>' for t, ops in by_tag.items() if ops)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_text(info.get('title'))}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_text(info.get('title'))}</h1><p><code>{_text(info.get('version'))}</code> · "
        '<a href="/openapi.yaml">openapi.yaml</a> · <a href="/openapi.json">openapi.json</a></p>'
        f"<p><strong>{_text(info.get('summary'))}</strong></p>{_paragraphs(info.get('description'))}"
        f"<nav>{nav}</nav>{''.join(sections)}</body></html>"
    )


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    parts = [
        f'<div class=op><div><span class="m {method}">{method.upper()}</span> <code>{_text(path)}</code>'
        f" — {_text(operation.get('summary'))}</div>",
        _paragraphs(operation.get("description")),
    ]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body is not None:
        parts.append(
            f"<details><summary>Request body</summary><pre>{_text(json.dumps(body, indent=2))}</pre></details>"
        )
    rows = "".join(
        f"<tr><td><code>{_text(status)}</code></td><td>{_text(_response_text(response))}</td></tr>"
        for status, response in (operation.get("responses") or {}).items()
    )
    if rows:
        parts.append(f"<table><tr><th>Status</th><th>Meaning</th></tr>{rows}</table>")
    parts.append("</div>")
    return "".join(parts)


def _response_text(response: Any) -> str:
    if isinstance(response, dict):
        if "$ref" in response:
            return str(response["$ref"]).rsplit("/", 1)[-1]
        return str(response.get("description", ""))
    return ""
