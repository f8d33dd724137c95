"""Emulate a flask-jwt-extended app with JWT_TOKEN_LOCATION = ["cookies"] and its default cookie settings.

Defaults reproduced (jwt_manager.py _set_default_configuration_options, config.py):
JWT_COOKIE_CSRF_PROTECT True, JWT_CSRF_IN_COOKIES True, JWT_CSRF_METHODS POST/PUT/PATCH/DELETE,
JWT_ACCESS_CSRF_HEADER_NAME = JWT_REFRESH_CSRF_HEADER_NAME = "X-CSRF-TOKEN", cookie names
access_token_cookie / refresh_token_cookie / csrf_access_token / csrf_refresh_token, every cookie
path "/" (JWT_REFRESH_COOKIE_PATH defaults to "/", not to the refresh route), JWT_COOKIE_SECURE
False, JWT_COOKIE_SAMESITE None, JWT_COOKIE_DOMAIN None, JWT_SESSION_COOKIE True (no Max-Age),
JWT_ERROR_MESSAGE_KEY "msg", JWT_DECODE_LEEWAY 0, JWT_ENCODE_NBF True, HS256.

The routes are application code; they follow the docs' examples (examples/jwt_locations.py,
examples/jwt_in_cookie.py, docs "Explicit Refreshing"): POST /login sets both cookie pairs,
POST /refresh (``@jwt_required(refresh=True)``) sets a new access cookie, POST /logout
(``@jwt_required()``) calls unset_jwt_cookies, GET /protected (``@jwt_required()``). Nothing is
revoked server side: unset_jwt_cookies only asks the browser to drop its cookies, and a refresh
token lives to its exp unless the app adds a token_in_blocklist_loader.

``rotate=True`` is the common extension of that refresh view: it also calls create_refresh_token
and set_refresh_cookies, and with ``blocklist_rotated=True`` puts the presented refresh token's jti
on the deny list the docs' blocklist example keeps (checked, then written, with no lock between).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import bottle
import jwt

from . import Accounts, database_round_trip, install_json_errors, json_response, read_json, request_cookies

ACCESS_COOKIE = "access_token_cookie"
REFRESH_COOKIE = "refresh_token_cookie"
ACCESS_CSRF_COOKIE = "csrf_access_token"
REFRESH_CSRF_COOKIE = "csrf_refresh_token"
CSRF_HEADER = "X-CSRF-TOKEN"
CSRF_METHODS = ("POST", "PUT", "PATCH", "DELETE")
ALGORITHM = "HS256"
#: werkzeug dump_cookie for expires=0, as unset_access_cookies/unset_refresh_cookies send it
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


class JWTError(Exception):
    """One of flask-jwt-extended's error callbacks: the status and the {"msg": ...} it answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _unauthorized(message: str) -> JWTError:
    # default_callbacks.py default_unauthorized_callback: NoAuthorizationError and CSRFError -> 401.
    return JWTError(401, message)


def _invalid(message: str) -> JWTError:
    # default_invalid_token_callback: DecodeError, InvalidTokenError, WrongTokenError -> 422.
    return JWTError(422, message)


class FlaskJWTExtended:
    """JWTManager state and the app's views."""

    def __init__(
        self,
        *,
        secret_key: str,
        users: Mapping[str, str],
        access_ttl: int = 900,
        refresh_ttl: int = 30 * 86400,
        rotate: bool = False,
        blocklist_rotated: bool = False,
        query_latency: float = 0.003,
    ) -> None:
        # JWT_ACCESS_TOKEN_EXPIRES defaults to 15 minutes, JWT_REFRESH_TOKEN_EXPIRES to 30 days.
        self.secret_key = secret_key
        self.accounts = Accounts(users)
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.rotate = rotate
        self.blocklist_rotated = blocklist_rotated
        self.query_latency = query_latency
        self._blocklist: set[str] = set()
        self._lock = threading.Lock()

    # ---- tokens.py _encode_jwt / _decode_jwt

    def create_token(self, identity: str, token_type: str) -> str:
        now = int(time.time())
        lifetime = self.access_ttl if token_type == "access" else self.refresh_ttl
        claims = {
            "fresh": False,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "type": token_type,
            "sub": identity,
            "nbf": now,
            # JWT_COOKIE_CSRF_PROTECT: the double-submit value lives in the token itself.
            "csrf": str(uuid.uuid4()),
            "exp": now + lifetime,
        }
        return jwt.encode(claims, self.secret_key, algorithm=ALGORITHM)

    def verify_jwt_in_request(self, *, refresh: bool) -> dict[str, Any]:
        """view_decorators.py: _decode_jwt_from_cookies, decode_token (with the CSRF compare), type, blocklist."""
        cookies = request_cookies()
        cookie_name = REFRESH_COOKIE if refresh else ACCESS_COOKIE
        encoded = cookies.get(cookie_name)
        if not encoded:
            raise _unauthorized(f'Missing cookie "{cookie_name}"')
        csrf_value = None
        if bottle.request.method in CSRF_METHODS:
            csrf_value = bottle.request.get_header(CSRF_HEADER)
            if not csrf_value:
                raise _unauthorized("Missing CSRF token")
        try:
            decoded: dict[str, Any] = jwt.decode(encoded, self.secret_key, algorithms=[ALGORITHM], leeway=0)
        except jwt.ExpiredSignatureError:
            # default_expired_token_callback: 401 "Token has expired".
            raise JWTError(401, "Token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise _invalid(str(exc)) from None
        if csrf_value:
            if "csrf" not in decoded:
                raise _invalid("Missing claim: csrf")
            if not isinstance(decoded["csrf"], str) or decoded["csrf"] != csrf_value:
                raise _unauthorized("CSRF double submit tokens do not match")
        # verify_token_type: WrongTokenError -> 422.
        if not refresh and decoded.get("type") == "refresh":
            raise _invalid("Only non-refresh tokens are allowed")
        if refresh and decoded.get("type") != "refresh":
            raise _invalid("Only refresh tokens are allowed")
        if self.blocklist_rotated:
            # verify_token_not_blocklisted -> the app's token_in_blocklist_loader: one query.
            database_round_trip(self.query_latency)
            with self._lock:
                if decoded.get("jti") in self._blocklist:
                    raise JWTError(401, "Token has been revoked")
        return decoded

    def revoke(self, jti: str) -> None:
        database_round_trip(self.query_latency)
        with self._lock:
            self._blocklist.add(jti)


def _csrf_of(token: str) -> str:
    # utils.py get_csrf_token: the csrf claim of the token, read without verification.
    return str(jwt.decode(token, options={"verify_signature": False})["csrf"])


def _set_cookie(response: bottle.HTTPResponse, name: str, value: str, *, httponly: bool) -> None:
    # werkzeug.http.dump_cookie order: Domain, Expires, Max-Age, Secure, HttpOnly, Path, SameSite;
    # the defaults leave out Domain, Expires/Max-Age (session cookie), Secure and SameSite.
    response.add_header("Set-Cookie", f"{name}={value}; {'HttpOnly; ' if httponly else ''}Path=/")


def set_access_cookies(response: bottle.HTTPResponse, token: str) -> None:
    _set_cookie(response, ACCESS_COOKIE, token, httponly=True)
    _set_cookie(response, ACCESS_CSRF_COOKIE, _csrf_of(token), httponly=False)


def set_refresh_cookies(response: bottle.HTTPResponse, token: str) -> None:
    _set_cookie(response, REFRESH_COOKIE, token, httponly=True)
    _set_cookie(response, REFRESH_CSRF_COOKIE, _csrf_of(token), httponly=False)


def unset_jwt_cookies(response: bottle.HTTPResponse) -> None:
    for name, httponly in (
        (ACCESS_COOKIE, True),
        (ACCESS_CSRF_COOKIE, False),
        (REFRESH_COOKIE, True),
        (REFRESH_CSRF_COOKIE, False),
    ):
        response.add_header("Set-Cookie", f"{name}=; Expires={_EPOCH}; {'HttpOnly; ' if httponly else ''}Path=/")


def create_app(manager: FlaskJWTExtended) -> bottle.Bottle:
    app = bottle.Bottle()
    install_json_errors(app, lambda status, message: {"msg": message})

    def guarded(refresh: bool) -> dict[str, Any] | bottle.HTTPResponse:
        try:
            return manager.verify_jwt_in_request(refresh=refresh)
        except JWTError as exc:
            # No WWW-Authenticate: the default callbacks answer jsonify({"msg": ...}), status only.
            return json_response(exc.status, {"msg": exc.message})

    @app.post("/login")
    def login() -> bottle.HTTPResponse:
        document, problem = read_json()
        if problem is not None or not isinstance(document, dict):
            return json_response(400, {"msg": "Expected a JSON object with username and password"})
        username, password = document.get("username"), document.get("password")
        if not manager.accounts.check(username, password):
            # The docs' example: return jsonify({"msg": "Bad username or password"}), 401
            return json_response(401, {"msg": "Bad username or password"})
        assert isinstance(username, str)
        response = json_response(200, {"msg": "login successful"})
        set_access_cookies(response, manager.create_token(username, "access"))
        set_refresh_cookies(response, manager.create_token(username, "refresh"))
        return response

    @app.post("/refresh")
    def refresh() -> bottle.HTTPResponse:
        claims = guarded(refresh=True)
        if isinstance(claims, bottle.HTTPResponse):
            return claims
        response = json_response(200, {"refresh": True})
        set_access_cookies(response, manager.create_token(claims["sub"], "access"))
        if manager.rotate:
            if manager.blocklist_rotated:
                manager.revoke(claims["jti"])
            set_refresh_cookies(response, manager.create_token(claims["sub"], "refresh"))
        return response

    @app.post("/logout")
    def logout() -> bottle.HTTPResponse:
        claims = guarded(refresh=False)
        if isinstance(claims, bottle.HTTPResponse):
            return claims
        response = json_response(200, {"msg": "logout successful"})
        unset_jwt_cookies(response)
        return response

    @app.get("/protected")
    def protected() -> bottle.HTTPResponse:
        claims = guarded(refresh=False)
        if isinstance(claims, bottle.HTTPResponse):
            return claims
        return json_response(200, {"logged_in_as": claims["sub"]})

    return app
