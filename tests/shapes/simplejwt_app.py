"""Emulate djangorestframework-simplejwt's wire behaviour with its token blacklist app and rotation on.

Settings reproduced (rest_framework_simplejwt/settings.py): ROTATE_REFRESH_TOKENS = True,
BLACKLIST_AFTER_ROTATION = True, "rest_framework_simplejwt.token_blacklist" in INSTALLED_APPS,
ALGORITHM "HS256" keyed with SIGNING_KEY, AUTH_HEADER_TYPES ("Bearer",), USER_ID_CLAIM "user_id",
TOKEN_TYPE_CLAIM "token_type", JTI_CLAIM "jti", LEEWAY 0, TOKEN_FAMILY_ENABLED False. Routes as the
docs' urls.py: /api/token/ (TokenObtainPairView), /api/token/refresh/ (TokenRefreshView),
/api/token/blacklist/ (TokenBlacklistView), and /api/me/, a view with JWTAuthentication and
IsAuthenticated standing for the user's own API.

What the defaults do NOT do is kept as well: access tokens are stateless (blacklisting a refresh
token leaves its access tokens alive to their exp), a replayed refresh token is refused but its
family is not revoked, the refresh view checks the blacklist and writes it in separate queries
without a lock, and no response carries Cache-Control or Clear-Site-Data.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import bottle
import jwt

from . import Accounts, database_round_trip, install_json_errors, json_response, read_json

#: views.py TokenViewBase.www_authenticate_realm and authentication.py JWTAuthentication:
#: '{} realm="{}"'.format(AUTH_HEADER_TYPES[0], self.www_authenticate_realm)
CHALLENGE = 'Bearer realm="api"'
#: authentication.py: AUTH_HEADER_TYPE_BYTES = {h.encode() for h in AUTH_HEADER_TYPES}, compared as is
AUTH_HEADER_TYPES = (b"Bearer",)
ALGORITHM = "HS256"


class TokenError(Exception):
    """exceptions.py TokenError: the message becomes the 401's detail (InvalidToken)."""


class SimpleJWT:
    """The token backend, the blacklist and the views of one emulated Django project."""

    def __init__(
        self,
        *,
        signing_key: str,
        users: Mapping[str, str],
        access_ttl: int = 300,
        refresh_ttl: int = 86400,
        query_latency: float = 0.003,
    ) -> None:
        # settings.py defaults: ACCESS_TOKEN_LIFETIME 5 min, REFRESH_TOKEN_LIFETIME 1 day.
        self.signing_key = signing_key
        self.accounts = Accounts(users)
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.query_latency = query_latency
        #: token_blacklist BlacklistedToken rows, by jti
        self._blacklist: set[str] = set()
        self._lock = threading.Lock()

    # ---- tokens.py

    def _new_token(self, token_type: str, lifetime: int, user_id: int) -> dict[str, Any]:
        # Token.__init__ for a new token: token_type, exp, iat, jti (uuid4().hex); for_user adds user_id.
        now = int(time.time())
        return {
            "token_type": token_type,
            "exp": now + lifetime,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "user_id": user_id,
        }

    def encode(self, payload: dict[str, Any]) -> str:
        # backends.py TokenBackend.encode: jwt.encode(payload, signing_key, algorithm) -> header {alg, typ: JWT}.
        return jwt.encode(payload, self.signing_key, algorithm=ALGORITHM)

    def decode(self, token: str, token_type: str) -> dict[str, Any]:
        """tokens.py Token(token): TokenBackend.decode, then verify(): blacklist, exp, jti, token type."""
        try:
            payload: dict[str, Any] = jwt.decode(token, self.signing_key, algorithms=[ALGORITHM], leeway=0)
        except jwt.ExpiredSignatureError:
            raise TokenError("Token is expired") from None
        except jwt.InvalidTokenError:
            raise TokenError("Token is invalid") from None
        if token_type == "refresh":
            # BlacklistMixin.verify: check_blacklist() first (one SELECT on BlacklistedToken).
            database_round_trip(self.query_latency)
            with self._lock:
                if payload.get("jti") in self._blacklist:
                    raise TokenError("Token is blacklisted")
        if payload.get("exp", 0) <= time.time():
            raise TokenError("Token 'exp' claim has expired")
        if "jti" not in payload:
            raise TokenError("Token has no id")
        if "token_type" not in payload:
            raise TokenError("Token has no type")
        if payload["token_type"] != token_type:
            raise TokenError("Token has wrong type")
        return payload

    def blacklist(self, payload: dict[str, Any]) -> None:
        # BlacklistMixin.blacklist: OutstandingToken.get_or_create + BlacklistedToken.get_or_create.
        database_round_trip(self.query_latency)
        with self._lock:
            self._blacklist.add(payload["jti"])

    def access_from(self, refresh: dict[str, Any]) -> dict[str, Any]:
        # RefreshToken.access_token: a new AccessToken (own exp, iat, jti) plus every refresh claim
        # except no_copy_claims (token_type, exp, jti, iat).
        access = self._new_token("access", self.access_ttl, refresh["user_id"])
        for claim, value in refresh.items():
            if claim not in ("token_type", "exp", "jti", "iat"):
                access[claim] = value
        return access


def _invalid_token(message: str) -> bottle.HTTPResponse:
    # exceptions.py InvalidToken (DetailDictMixin): 401 {"detail": ..., "code": "token_not_valid"};
    # DRF's APIView.handle_exception adds WWW-Authenticate from get_authenticate_header().
    return json_response(401, {"detail": message, "code": "token_not_valid"}, {"WWW-Authenticate": CHALLENGE})


def _field_errors(document: Any, fields: tuple[str, ...]) -> bottle.HTTPResponse | None:
    """DRF Serializer.is_valid for CharFields: a 400 naming each bad field, or None."""
    if not isinstance(document, dict):
        kind = {str: "str", list: "list", int: "int", float: "float", bool: "bool"}.get(type(document), "NoneType")
        return json_response(400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]})
    errors = {}
    for field in fields:
        value = document.get(field)
        if value is None:
            errors[field] = ["This field is required."]
        # fields.py CharField.to_internal_value: bool and non-str/int/float values are refused.
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            errors[field] = ["Not a valid string."]
        elif str(value) == "":
            errors[field] = ["This field may not be blank."]
    return json_response(400, errors) if errors else None


def _parse(fields: tuple[str, ...]) -> tuple[dict[str, Any], bottle.HTTPResponse | None]:
    document, problem = read_json()
    if problem is not None:
        # parsers.py JSONParser: ParseError("JSON parse error - %s" % str(exc)).
        return {}, json_response(400, {"detail": f"JSON parse error - {problem}"})
    bad = _field_errors(document, fields)
    return (document if bad is None else {}), bad


def create_app(backend: SimpleJWT) -> bottle.Bottle:
    app = bottle.Bottle()
    install_json_errors(app, lambda status, message: {"detail": message})

    @app.post("/api/token/")
    def obtain_pair() -> bottle.HTTPResponse:
        document, bad = _parse(("username", "password"))
        if bad is not None:
            return bad
        username, password = str(document["username"]), str(document["password"])
        if not backend.accounts.check(username, password):
            # serializers.py TokenObtainSerializer: AuthenticationFailed(no_active_account), the same
            # for an unknown user and a wrong password.
            return json_response(
                401,
                {"detail": "No active account found with the given credentials"},
                {"WWW-Authenticate": CHALLENGE},
            )
        refresh = backend._new_token("refresh", backend.refresh_ttl, backend.accounts.ids[username])
        access = backend.access_from(refresh)
        # TokenObtainPairSerializer.validate: data["refresh"], then data["access"].
        return json_response(200, {"refresh": backend.encode(refresh), "access": backend.encode(access)})

    @app.post("/api/token/refresh/")
    def refresh() -> bottle.HTTPResponse:
        document, bad = _parse(("refresh",))
        if bad is not None:
            return bad
        try:
            payload = backend.decode(str(document["refresh"]), "refresh")
        except TokenError as exc:
            return _invalid_token(str(exc))
        # serializers.py TokenRefreshSerializer.validate: the access token first, then (ROTATE_REFRESH_TOKENS)
        # blacklist the presented token (BLACKLIST_AFTER_ROTATION) and reuse its payload with a new
        # jti, exp and iat. Nothing revokes other tokens of the family, and nothing locks between
        # the blacklist check above and the write below.
        data = {"access": backend.encode(backend.access_from(payload))}
        # In Django the check and the write are separate database round trips (milliseconds apart);
        # an in-memory set has none, and the race would depend on thread scheduling alone.
        time.sleep(0.005)
        backend.blacklist(payload)
        rotated = dict(payload)
        now = int(time.time())
        rotated.update(jti=uuid.uuid4().hex, exp=now + backend.refresh_ttl, iat=now)
        data["refresh"] = backend.encode(rotated)
        return json_response(200, data)

    @app.post("/api/token/blacklist/")
    def blacklist() -> bottle.HTTPResponse:
        document, bad = _parse(("refresh",))
        if bad is not None:
            return bad
        try:
            payload = backend.decode(str(document["refresh"]), "refresh")
        except TokenError as exc:
            return _invalid_token(str(exc))
        # serializers.py TokenBlacklistSerializer.validate: refresh.blacklist(); return {}.
        backend.blacklist(payload)
        return json_response(200, {})

    def authenticate() -> dict[str, Any] | bottle.HTTPResponse:
        """authentication.py JWTAuthentication + permissions.IsAuthenticated."""
        header = bottle.request.environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        parts = header.split()
        not_provided = json_response(
            401, {"detail": "Authentication credentials were not provided."}, {"WWW-Authenticate": CHALLENGE}
        )
        # get_raw_token: no parts, or a first part not exactly in AUTH_HEADER_TYPE_BYTES, means "no
        # JWT here": the request is anonymous and IsAuthenticated answers NotAuthenticated.
        if not parts or parts[0] not in AUTH_HEADER_TYPES:
            return not_provided
        if len(parts) != 2:
            return json_response(
                401,
                {
                    "detail": "Authorization header must contain two space-delimited values",
                    "code": "bad_authorization_header",
                },
                {"WWW-Authenticate": CHALLENGE},
            )
        try:
            return backend.decode(parts[1].decode("latin-1"), "access")
        except TokenError as exc:
            # get_validated_token: InvalidToken with the message of each AUTH_TOKEN_CLASSES attempt.
            return json_response(
                401,
                {
                    "detail": "Given token not valid for any token type",
                    "code": "token_not_valid",
                    "messages": [{"token_class": "AccessToken", "token_type": "access", "message": str(exc)}],
                },
                {"WWW-Authenticate": CHALLENGE},
            )

    @app.route("/api/me/", method=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def me() -> bottle.HTTPResponse:
        # APIView.dispatch runs initial() (authentication, permissions) before looking up the handler.
        claims = authenticate()
        if isinstance(claims, bottle.HTTPResponse):
            return claims
        if bottle.request.method != "GET":
            return json_response(405, {"detail": f'Method "{bottle.request.method}" not allowed.'}, {"Allow": "GET"})
        names = {number: name for name, number in backend.accounts.ids.items()}
        return json_response(200, {"id": claims["user_id"], "username": names.get(claims["user_id"], "")})

    return app
