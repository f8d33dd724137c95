"""The HTTP endpoints: read the request, call the SessionService, write the response.

Each handler is thin on purpose. Rules about tokens and sessions live in ``sessions.py``, SQL in
``store.py``, cookie attributes in ``cookies.py``; what stays here is where a credential may come
from (Authorization header, cookie or JSON body; never the query string) and which status and
headers an outcome gets. Errors are raised as ``ApiError`` and rendered by ``app.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bottle

from . import cookies
from .errors import BadRequest, PayloadTooLarge, Unauthorized, UnprocessableEntity
from .throttle import client_address

if TYPE_CHECKING:
    from .config import Settings
    from .sessions import IssuedTokens, SessionService

__all__ = ["BODY_FIELD", "install_routes", "json_response", "read_json_object"]

#: the JSON body field that may carry a refresh token (the seed's name)
BODY_FIELD = "refreshToken"

# Where the parsed body is kept for the rest of the request.
_BODY_KEY = "tokenconform.body"
_MISSING = object()


# ---------------------------------------------------------------- reading requests


def _content_length(environ: dict[str, Any]) -> int:
    raw = environ.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        raise BadRequest("Invalid Content-Length") from None
    if length < 0:
        raise BadRequest("Invalid Content-Length")
    return length


def check_body_size(environ: dict[str, Any], limit: int) -> None:
    """413 before anything reads a body whose declared length is over ``limit``."""
    if _content_length(environ) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")


def _is_json(content_type: str) -> bool:
    # RFC 8259 §11 registers application/json; RFC 6839 §3.1 the +json structured suffix.
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _reject_constant(name: str) -> Any:
    # RFC 8259 §6: NaN and Infinity are not JSON numbers; Python's json accepts them by default.
    raise ValueError(f"{name} is not valid JSON")


def _has_lone_surrogate(document: object) -> bool:
    """True if any string (key or value) in ``document`` holds an unpaired UTF-16 surrogate.

    RFC 8259 §8.2: a string such as ``"\\ud800"`` is syntactically valid JSON but its value is
    not Unicode text, and "the behavior of software that receives JSON texts containing such
    values is unpredictable" (here: UnicodeEncodeError, a 500, where it met bcrypt or SQLite).
    Walked iteratively, since a successfully parsed document can still be deep.
    """
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def read_json_object(limit: int) -> dict[str, Any] | None:
    """The request body as a JSON object; ``None`` when there is no body.

    The size is checked twice: the declared Content-Length, and the bytes actually read (never
    more than ``limit + 1``), so a body that lies about its length cannot get past the limit.
    The body is read from ``wsgi.input`` directly rather than through ``bottle.request.json``,
    whose limit is the process-wide ``BaseRequest.MEMFILE_MAX`` and which buffers first.
    """
    environ = bottle.request.environ
    cached = environ.get(_BODY_KEY, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[no-any-return]
    length = _content_length(environ)
    if length > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    data = environ["wsgi.input"].read(min(length, limit + 1)) if length else b""
    if len(data) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    body: dict[str, Any] | None = None
    if data.strip():
        if not _is_json(environ.get("CONTENT_TYPE", "")):
            # A form or text/plain body is refused rather than guessed at: those are the
            # content types a cross-site HTML form can send without a CORS preflight.
            raise BadRequest("Content-Type must be application/json")
        try:
            parsed = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            # ValueError covers bad syntax and bad UTF-8; RecursionError a deeply nested array.
            raise BadRequest("Malformed JSON") from None
        if not isinstance(parsed, dict):
            raise BadRequest("Request body must be a JSON object")
        if _has_lone_surrogate(parsed):
            raise BadRequest("Malformed JSON: a string holds an unpaired surrogate")
        body = parsed
    environ[_BODY_KEY] = body
    return body


def _cookie(name: str) -> str | None:
    """The value of cookie ``name`` from the Cookie header; ``None`` when absent or empty.

    Parsed by hand (RFC 6265 §5.4 / RFC 6265bis §5.7.4 cookie-string: ``name=value`` pairs joined
    by "; "), because ``http.cookies.SimpleCookie`` silently drops every cookie after one it
    cannot parse, which would let garbage in one cookie hide another.
    """
    header: str = bottle.request.environ.get("HTTP_COOKIE", "")
    for pair in header.split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            return value or None
    return None


def _access_token(settings: Settings) -> str | None:
    """The access token from ``Authorization: Bearer`` or else the access cookie.

    RFC 6750 §2.1: the Bearer header. The scheme name is case-insensitive (RFC 9110 §11.1), so
    ``bearer`` works. RFC 6750 §2.3 allows a query parameter, but this server never reads one:
    URLs end up in logs and Referer headers (RFC 6750 §5.3, RFC 9700 §2.4.2).

    An Authorization header that is present wins over the cookie: a valid cookie must never
    rescue a bad header. A header with another scheme (``Basic``, ``Token``, ``JWT``) or with
    no scheme at all (a bare JWT) gives no token, so the request is refused with 401 and, as
    RFC 6750 §3.1 asks for "an unsupported authentication method", no error code (issue 8: a
    bare ``Authorization: <jwt>`` used to be accepted).
    """
    header: str | None = bottle.request.environ.get("HTTP_AUTHORIZATION")
    if header is not None:
        # RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip()
        return ""
    return _cookie(cookies.access_cookie_name(settings))


def _body_refresh_token(body: dict[str, Any] | None) -> str | None:
    if body is None:
        return None
    value = body.get(BODY_FIELD)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise UnprocessableEntity(f"{BODY_FIELD} must be a string", field=BODY_FIELD)
    return value


# ---------------------------------------------------------------- writing responses


def json_response(payload: object, *, status: int = 200, sensitive: bool = True) -> str:
    """Serialise ``payload`` as the response body, with the headers every JSON answer gets."""
    response = bottle.response
    response.status = status
    # RFC 8259 §11: application/json has no charset parameter; it is always UTF-8.
    response.content_type = "application/json"
    response.set_header("X-Content-Type-Options", "nosniff")
    if sensitive:
        # RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control"
        # response header field [RFC2616] with a value of "no-store" in any response containing
        # tokens, credentials, or other sensitive information, as well as the "Pragma" response
        # header field [RFC2616] with a value of "no-cache"."
        response.set_header("Cache-Control", "no-store")
        response.set_header("Pragma", "no-cache")
    return json.dumps(payload)


# ---------------------------------------------------------------- the endpoints


def install_routes(
    app: bottle.Bottle,
    service: SessionService,
    settings: Settings,
    clock: Callable[[], float],
) -> None:
    """Register every endpoint of the reference API (issue 2's table) on ``app``."""
    in_body = settings.delivery in ("body", "both")
    in_cookies = settings.delivery in ("cookie", "both")
    limit = settings.max_body_bytes

    def deliver(payload: dict[str, Any], tokens: IssuedTokens) -> None:
        # --delivery: "body" puts the tokens in JSON only, "cookie" in Set-Cookie only (ASVS 5.0
        # V3.3.4 prefers that for browser clients), "both" does both as the seed does.
        if in_body:
            payload["accessToken"] = tokens.access_token
            payload["refreshToken"] = tokens.refresh_token
        if in_cookies:
            cookies.set_auth_cookies(bottle.response, tokens, settings, clock())

    def signed_out(message: str) -> str:
        # The cookies are cleared even with delivery "body": a client may hold some from an
        # earlier configuration, and clearing costs nothing.
        cookies.clear_auth_cookies(bottle.response, settings)
        # W3C Clear Site Data §3.1: "cookies" removes every cookie of the origin's site.
        bottle.response.set_header("Clear-Site-Data", '"cookies"')
        return json_response({"message": message})

    def health() -> str:
        return json_response({"status": "ok"}, sensitive=False)

    def register() -> str:
        body = read_json_object(limit)
        user = service.register({} if body is None else body)
        return json_response({"user": user}, status=201)

    def login() -> str:
        body = read_json_object(limit)
        environ = bottle.request.environ
        user_agent = environ.get("HTTP_USER_AGENT", "")
        # Password spraying (issue 8): beside the per-account limit inside service.login, a
        # per-client one; who the client is depends on settings.trusted_proxy_hops.
        client = client_address(
            environ.get("REMOTE_ADDR", ""),
            environ.get("HTTP_X_FORWARDED_FOR"),
            trusted_hops=settings.trusted_proxy_hops,
        )
        service.check_client(client)
        try:
            result = service.login({} if body is None else body, user_agent=user_agent)
        except Unauthorized:
            service.record_client_failure(client)
            raise
        payload: dict[str, Any] = {"message": "Login successful", "user": result.user}
        deliver(payload, result.tokens)
        return json_response(payload)

    def refresh() -> str:
        from_body = _body_refresh_token(read_json_object(limit))
        from_cookie = _cookie(cookies.refresh_cookie_name(settings))
        if from_body is not None and from_cookie is not None and from_body != from_cookie:
            # Two different tokens: no way to tell which one the client meant. Neither is used
            # up, but either may be a replayed one, so both go through reuse detection
            # (RFC 9700 §4.14.2) before the request is refused.
            service.check_reuse(from_body)
            service.check_reuse(from_cookie)
            raise BadRequest("Conflicting refresh tokens")
        tokens = service.refresh(from_body if from_body is not None else from_cookie)
        payload: dict[str, Any] = {"message": "Access token refreshed"}
        deliver(payload, tokens)
        return json_response(payload)

    def logout() -> str:
        # A client whose access token has expired can still end its session with its refresh
        # token; the service falls back to it only when no valid access token is presented.
        refresh_token = _body_refresh_token(read_json_object(limit))
        if refresh_token is None:
            refresh_token = _cookie(cookies.refresh_cookie_name(settings))
        service.logout(access_token=_access_token(settings), refresh_token=refresh_token)
        return signed_out("Logout successful")

    def logout_all() -> str:
        service.logout_all(_access_token(settings))
        return signed_out("Logged out of all sessions")

    def profile() -> str:
        principal = service.authenticate(_access_token(settings))
        return json_response({"user": service.profile(principal)})

    # Registered by call, not decorator: bottle is untyped, and a decorator would erase the types.
    app.route("/health", "GET", health)
    app.route("/register", "POST", register)
    app.route("/login", "POST", login)
    app.route("/refresh", "POST", refresh)
    app.route("/logout", "POST", logout)
    app.route("/logout-all", "POST", logout_all)
    app.route("/profile", "GET", profile)
