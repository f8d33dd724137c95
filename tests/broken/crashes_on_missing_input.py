"""Missing input crashes the handlers into a 500 with a stack trace (breaks RBS-01, RBS-05, RBS-02).

The seed's shape: ``const { email, password } = req.body`` on a missing body, and
``(req.cookies.refreshToken ?? req.body.refreshToken).split(...)`` when neither the cookie nor
the body carries one. A refresh with no token at all, and a login with a field (or the whole
body) missing, answer 500 with Express's default error page: the stack trace. Input that is
present but wrong (an empty cookie, a mistyped field, malformed JSON) is refused as before, so
the probes RBS-01 and RBS-05 had before issue 6 #11 all pass on this variant.
"""

from __future__ import annotations

import json
from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import refresh_cookie_name

from ._wsgi import REQUEST_BODY, rewrite

_TRACE = (
    "TypeError: Cannot read properties of undefined (reading '{field}')\n"
    "    at {handler} (/app/src/controllers/user.controller.js:42:17)\n"
    "    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)\n"
)
_MISSING = object()


def _document(environ: dict[str, Any]) -> Any:
    """The JSON request body; None for JSON null or no body at all, _MISSING for unparsable bytes."""
    raw = environ.get(REQUEST_BODY) or b""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _MISSING


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    cookie_name = refresh_cookie_name(settings)

    def crash(environ: dict[str, Any], status: str, headers: Any, body: bytes) -> tuple[str, Any, bytes]:
        path = environ.get("PATH_INFO")
        if not status.startswith("4") or status.startswith("413") or path not in ("/login", "/refresh"):
            return status, headers, body
        document = _document(environ)
        if path == "/login":
            absent = [f for f in ("email", "password") if not isinstance(document, dict) or f not in document]
            handler = "loginUser"
        else:
            cookies = [p.strip().partition("=") for p in environ.get("HTTP_COOKIE", "").split(";")]
            # req.cookies.refreshToken ?? req.body.refreshToken: an empty cookie is still a value.
            in_cookie = any(name == cookie_name and sep for name, sep, _ in cookies)
            in_body = isinstance(document, dict) and document.get("refreshToken") is not None
            absent = [] if in_cookie or in_body or document is _MISSING else ["split"]
            handler = "refreshAccessToken"
        if document is _MISSING or isinstance(document, (str, list, int, float)) or not absent:
            return status, headers, body
        # The defect: the handler dereferences input that is not there.
        trace = _TRACE.format(field=absent[0], handler=handler).encode()
        return "500 Internal Server Error", [("Content-Type", "text/html; charset=utf-8")], trace

    return rewrite(reference_app(settings, store, clock=clock), crash)
