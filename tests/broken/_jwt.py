"""Helpers for broken variants whose one defect is in how tokens are read or written.

``rewrite_access_token(app, settings, fix)`` lets a variant accept a forged access token: ``fix``
turns the token a request presents (Bearer header or access cookie) into the one the reference
server sees, typically the same claims re-signed with the real key, which is what a server with
that defect would effectively verify. ``reissue(app, settings, edit)`` changes the tokens a server
hands out (header or claims, re-signed with the real key) and maps them back on the way in, so
the variant still works end to end and differs from the reference only in what it issues.
Signing goes through ``tokenconform.jwt_probes`` (hmac), never ``jwt.encode``.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from tokenconform import jwt_probes
from tokenconform_server.cookies import access_cookie_name

from ._wsgi import Closing, rewrite

WSGIApp = Callable[..., Iterable[bytes]]
#: a JWT-shaped string (both JSON segments start with '{', i.e. "eyJ")
_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def resign(parts: jwt_probes.Parts, secret: str, *, header: dict[str, Any] | None = None) -> str:
    """The claims of ``parts`` signed with ``secret`` under the server's own header."""
    chosen = header if header is not None else {"alg": "HS256", "typ": "at+jwt"}
    return jwt_probes.sign_hs(chosen, parts.payload, secret.encode("utf-8"), str(chosen.get("alg", "HS256")))


def rewrite_access_token(app: WSGIApp, settings: Any, fix: Callable[[str], str | None]) -> Closing:
    """Replace the presented access token by ``fix(token)`` (None: leave it) before the app sees it."""
    cookie_name = access_cookie_name(settings)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ = dict(environ)
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() == "bearer" and token:
                fixed = fix(token.strip())
                if fixed is not None:
                    environ["HTTP_AUTHORIZATION"] = f"{scheme} {fixed}"
        pairs = []
        for pair in environ.get("HTTP_COOKIE", "").split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name == cookie_name and value:
                value = fix(value) or value
            pairs.append(f"{name}{sep}{value}")
        if environ.get("HTTP_COOKIE"):
            environ["HTTP_COOKIE"] = "; ".join(pairs)
        return app(environ, start_response)

    return Closing(wrapped, app)


def parse(token: str) -> jwt_probes.Parts | None:
    try:
        return jwt_probes.split(token)
    except ValueError:
        return None


def reissue(
    app: WSGIApp,
    settings: Any,
    edit: Callable[[str, dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]],
) -> Closing:
    """Hand out ``edit(kind, header, payload)`` versions of every issued token, re-signed with its key.

    ``kind`` is "access" or "refresh" (from the reference's typ). Requests presenting an edited
    token (header, cookie or body) have it swapped back for the original before the app sees it.
    """
    originals: dict[str, str] = {}
    lock = threading.Lock()
    secrets = {"access": settings.access_secret, "refresh": settings.refresh_secret}

    def edited(original: str) -> str:
        parts = parse(original)
        if parts is None:
            return original
        kind = "refresh" if jwt_probes.normalise_typ(parts.header.get("typ")) == "rt+jwt" else "access"
        header, payload = edit(kind, dict(parts.header), dict(parts.payload))
        token = jwt_probes.sign_hs(header, payload, secrets[kind].encode("utf-8"), str(header.get("alg", "HS256")))
        with lock:
            originals[token] = original
        return token

    def restore(text: str) -> str:
        with lock:
            return _TOKEN.sub(lambda m: originals.get(m.group(0), m.group(0)), text)

    def outgoing(environ: dict[str, Any], status: str, headers: Any, body: bytes) -> tuple[str, Any, bytes]:
        found = set(_TOKEN.findall(body.decode("latin-1")))
        for name, value in headers:
            if name.lower() == "set-cookie":
                found.update(_TOKEN.findall(value))
        for original in found:
            token = edited(original)
            headers = [(k, v.replace(original, token)) for k, v in headers]
            body = body.replace(original.encode(), token.encode())
        return status, headers, body

    inner = rewrite(app, outgoing)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ = dict(environ)
        for key in ("HTTP_AUTHORIZATION", "HTTP_COOKIE"):
            if key in environ:
                environ[key] = restore(environ[key])
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > 0:
            body = restore(environ["wsgi.input"].read(length).decode("latin-1")).encode("latin-1")
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return inner(environ, start_response)

    return Closing(wrapped, inner)
