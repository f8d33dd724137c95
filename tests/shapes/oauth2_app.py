"""Emulate an OAuth 2.0 authorization server's token, revocation and userinfo endpoints, as the RFCs specify.

POST /oauth/token takes application/x-www-form-urlencoded bodies (RFC 6749 §4.3.2 password grant,
§6 refresh grant) from a confidential client authenticated by HTTP Basic (§2.3.1). Successes are
§5.1 JSON with Cache-Control: no-store; errors are §5.2 JSON, 400 invalid_grant/invalid_request/…
and 401 invalid_client with a Basic challenge. Refresh tokens rotate, and a replayed one revokes
its whole grant (RFC 9700 §4.14.2). POST /oauth/revoke is RFC 7009. GET /userinfo is a resource
server that follows RFC 6750 §3 (Bearer challenges with error="invalid_token").

Access tokens are RFC 9068 JWTs (typ "at+jwt"), self-contained: the resource server checks the
signature, typ and exp and asks nobody, so revoking a grant does not end its access tokens before
their exp (which the built-in profile declares). Refresh tokens are JWTs too (like Keycloak's),
signed with another key and tracked server side by jti.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import bottle
import jwt

from . import Accounts, install_json_errors, json_response, read_body

ISSUER = "https://as.tokenconform.test"
AUDIENCE = "https://api.tokenconform.test"
ALGORITHM = "HS256"
#: RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control" response header
#: field [RFC2616] with a value of "no-store" in any response containing tokens"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
INVALID = "The access token is invalid"


class OAuthError(Exception):
    """RFC 6749 §5.2 error response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class Grant:
    """One authorization grant: the family of refresh tokens one password grant started."""

    grant_id: str
    client_id: str
    username: str
    scope: str
    #: the jti of the one refresh token that may be used next
    current: str = ""
    #: every jti this grant ever issued (a used one that comes back is reuse)
    issued: set[str] = field(default_factory=set)
    revoked: bool = False


class AuthorizationServer:
    def __init__(
        self,
        *,
        users: Mapping[str, str],
        clients: Mapping[str, str],
        access_key: str,
        refresh_key: str,
        access_ttl: int = 3600,
        refresh_ttl: int = 30 * 86400,
        scopes: tuple[str, ...] = ("openid", "profile", "email"),
    ) -> None:
        self.accounts = Accounts(users)
        self.clients = dict(clients)
        self.access_key = access_key
        self.refresh_key = refresh_key
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.scopes = frozenset(scopes)
        self._grants: dict[str, Grant] = {}
        self._by_jti: dict[str, Grant] = {}
        # One lock makes "is this token current? then replace it" atomic: a rotation race has
        # one winner, and the losers present a used token (RFC 9700 §4.14.2).
        self._lock = threading.Lock()

    # ---- client authentication, RFC 6749 §2.3.1

    def authenticate_client(self) -> str:
        header = bottle.request.get_header("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic" or not credentials:
            raise OAuthError("invalid_client", "Client authentication failed", 401)
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Client authentication failed", 401) from None
        raw_id, _, raw_secret = decoded.partition(":")
        # §2.3.1: "The client identifier is encoded using the "application/x-www-form-urlencoded" encoding algorithm"
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        known = self.clients.get(client_id)
        if known is None or not secrets_equal(known, secret):
            raise OAuthError("invalid_client", "Client authentication failed", 401)
        return client_id

    # ---- tokens

    def _issue(self, grant: Grant) -> dict[str, Any]:
        now = int(time.time())
        # RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti (and scope); §2.1: typ "at+jwt".
        access = jwt.encode(
            {
                "iss": ISSUER,
                "exp": now + self.access_ttl,
                "aud": AUDIENCE,
                "sub": grant.username,
                "client_id": grant.client_id,
                "iat": now,
                "jti": uuid.uuid4().hex,
                "scope": grant.scope,
            },
            self.access_key,
            algorithm=ALGORITHM,
            headers={"typ": "at+jwt"},
        )
        jti = uuid.uuid4().hex
        refresh = jwt.encode(
            {
                "iss": ISSUER,
                "sub": grant.username,
                "client_id": grant.client_id,
                "sid": grant.grant_id,
                "iat": now,
                "exp": now + self.refresh_ttl,
                "jti": jti,
                "token_use": "refresh",
            },
            self.refresh_key,
            algorithm=ALGORITHM,
        )
        grant.current = jti
        grant.issued.add(jti)
        self._by_jti[jti] = grant
        # RFC 6749 §5.1: access_token, token_type, expires_in, refresh_token, scope.
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "refresh_token": refresh,
            "scope": grant.scope,
        }

    def _scope(self, requested: str | None, allowed: frozenset[str]) -> str:
        if requested is None:
            return " ".join(sorted(allowed))
        asked = set(requested.split())
        if not asked <= allowed:
            raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or exceeds the grant")
        return " ".join(sorted(asked))

    def password_grant(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        username, password = form.get("username"), form.get("password")
        if username is None or password is None:
            raise OAuthError("invalid_request", "Missing username or password")
        scope = self._scope(form.get("scope"), self.scopes)
        if not self.accounts.check(username, password):
            # §5.2 invalid_grant: "The provided authorization grant (… resource owner credentials) is invalid";
            # the same answer for an unknown user and a wrong password.
            raise OAuthError("invalid_grant", "Invalid resource owner credentials")
        with self._lock:
            grant = Grant(grant_id=uuid.uuid4().hex, client_id=client_id, username=username, scope=scope)
            self._grants[grant.grant_id] = grant
            return self._issue(grant)

    def refresh_grant(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "Missing refresh_token")
        try:
            claims = jwt.decode(token, self.refresh_key, algorithms=[ALGORITHM], issuer=ISSUER)
        except jwt.InvalidTokenError:
            raise OAuthError("invalid_grant", "The refresh token is invalid or expired") from None
        if claims.get("token_use") != "refresh":
            raise OAuthError("invalid_grant", "The refresh token is invalid or expired")
        with self._lock:
            grant = self._by_jti.get(str(claims.get("jti")))
            if grant is None or grant.revoked:
                raise OAuthError("invalid_grant", "The refresh token is invalid or expired")
            # §6: the refresh token "is bound to the client to which it was issued".
            if grant.client_id != client_id:
                raise OAuthError("invalid_grant", "The refresh token was issued to another client")
            if grant.current != claims["jti"]:
                # RFC 9700 §4.14.2: a used token came back, so revoke the active one with it.
                grant.revoked = True
                raise OAuthError("invalid_grant", "The refresh token is invalid or expired")
            # §6: a requested scope "MUST NOT include any scope not originally granted".
            grant.scope = self._scope(form.get("scope"), frozenset(grant.scope.split()))
            return self._issue(grant)

    def revoke(self, client_id: str, form: dict[str, str]) -> None:
        """RFC 7009 §2.1: revoke a refresh token's grant; anything else is answered 200 all the same."""
        token = form.get("token")
        if token is None:
            raise OAuthError("invalid_request", "Missing token")
        try:
            claims = jwt.decode(token, self.refresh_key, algorithms=[ALGORITHM], issuer=ISSUER)
        except jwt.InvalidTokenError:
            # §2.2: "invalid tokens do not cause an error response"; a self-contained access token
            # cannot be revoked here either.
            return
        with self._lock:
            grant = self._by_jti.get(str(claims.get("jti")))
            if grant is not None and grant.client_id == client_id:
                grant.revoked = True

    def verify_access_token(self, token: str) -> dict[str, Any]:
        # RFC 9068 §4: check typ "at+jwt", the signature, iss, aud and exp.
        header = jwt.get_unverified_header(token)
        if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise jwt.InvalidTokenError("not an access token")
        claims: dict[str, Any] = jwt.decode(
            token, self.access_key, algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE
        )
        return claims


def secrets_equal(left: str, right: str) -> bool:
    import hmac

    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _form() -> dict[str, str]:
    content_type = (bottle.request.content_type or "").split(";")[0].strip().lower()
    body = read_body()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The request body must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "The request body is not UTF-8") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        # §3.2: "Request and response parameters MUST NOT be included more than once."
        if name in form:
            raise OAuthError("invalid_request", f"The {name} parameter is repeated")
        form[name] = value
    return form


def _oauth_error(exc: OAuthError) -> bottle.HTTPResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        # §5.2: invalid_client over Basic "MUST respond with an HTTP 401 (Unauthorized) status code and
        # include the "WWW-Authenticate" response header field matching the authentication scheme".
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return json_response(exc.status, {"error": exc.error, "error_description": exc.description}, headers)


def create_app(server: AuthorizationServer) -> bottle.Bottle:
    app = bottle.Bottle()
    install_json_errors(app, lambda status, message: {"error": "invalid_request", "error_description": message})

    @app.post("/oauth/token")
    def token() -> bottle.HTTPResponse:
        try:
            form = _form()
            client_id = server.authenticate_client()
            grant_type = form.get("grant_type")
            if grant_type == "password":
                issued = server.password_grant(client_id, form)
            elif grant_type == "refresh_token":
                issued = server.refresh_grant(client_id, form)
            elif grant_type is None:
                raise OAuthError("invalid_request", "Missing grant_type")
            else:
                raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")
        except OAuthError as exc:
            return _oauth_error(exc)
        return json_response(200, issued, NO_STORE)

    @app.post("/oauth/revoke")
    def revoke() -> bottle.HTTPResponse:
        try:
            form = _form()
            client_id = server.authenticate_client()
            server.revoke(client_id, form)
        except OAuthError as exc:
            return _oauth_error(exc)
        # RFC 7009 §2.2: "The authorization server responds with HTTP status code 200".
        return bottle.HTTPResponse(status=200, body="")

    @app.get("/userinfo")
    def userinfo() -> bottle.HTTPResponse:
        challenge = 'Bearer realm="api"'
        header = bottle.request.get_header("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        # RFC 9110 §11.1: the scheme is a case-insensitive token.
        if scheme.lower() != "bearer":
            # RFC 6750 §3.1: without credentials, a challenge with no error code.
            return json_response(401, {"error": "unauthorized"}, {"WWW-Authenticate": challenge})
        if not credentials.strip():
            # RFC 6750 §3.1 invalid_request: "The request is missing a required parameter" -> 400.
            return json_response(
                400, {"error": "invalid_request"}, {"WWW-Authenticate": f'{challenge}, error="invalid_request"'}
            )
        try:
            claims = server.verify_access_token(credentials.strip())
        except jwt.InvalidTokenError:
            return json_response(
                401,
                {"error": "invalid_token"},
                {"WWW-Authenticate": f'{challenge}, error="invalid_token", error_description="{INVALID}"'},
            )
        return json_response(200, {"sub": claims["sub"], "preferred_username": claims["sub"]})

    return app
