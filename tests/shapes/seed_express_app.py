"""Emulate the Express backend the seed document describes, as a developer runs it locally.

Written from ../shared/seed (the document tokenconform started from) line by line:
- ``generateAccessToken`` signs {_id, email, username} and ``generateRefreshToken`` signs {_id}
  with jsonwebtoken, which adds iat and exp and no jti: two issuances for one user within one
  second are the same string.
- login checks the bcrypt hash (a salted hash here), answers 400 "Invalid credentials", stores the
  ONE refresh token on the user row, and sends both tokens as cookies only; ``secure`` is on only
  in production (``secure: process.env.NODE_ENV === "production"``), so over plain http in
  development the cookies carry no Secure, and Express sets no SameSite and no Max-Age.
- refresh takes the token from the cookie or the body, compares it with the stored one, rotates,
  and answers the new access token in JSON as well as in both cookies.
- ``verifyJWT`` reads ``req.cookies.accessToken || req.header("Authorization")?.split(" ")[1]``
  (any scheme word works) and answers 403 for a token that does not verify.
- logout needs ``req.user`` (a live access token), clears the stored refresh token and the cookies.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import bottle
import jwt

from . import Accounts, database_round_trip, install_json_errors, json_response, read_json, request_cookies

EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
#: Seconds between mongoose's findById and save in the refresh controller.
ROUND_TRIP = 0.05


@dataclass
class _User:
    id: str
    username: str
    email: str
    refresh_token: str | None = None


class SeedBackend:
    def __init__(self, *, access_secret: str, refresh_secret: str, access_ttl: int, refresh_ttl: int) -> None:
        self.access_secret, self.refresh_secret = access_secret, refresh_secret
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self.accounts = Accounts({})
        self._users: dict[str, _User] = {}
        self._passwords: dict[str, Accounts] = {}
        self._lock = threading.Lock()

    def register(self, body: Any) -> _User | str:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body.get(k) for k in ("username", "email", "password")
        ):
            return "All fields are required"
        with self._lock:
            if any(u.email == body["email"] or u.username == body["username"] for u in self._users.values()):
                return "User with email or username already exists"
            user = _User(id=secrets.token_hex(12), username=body["username"], email=body["email"])
            self._users[user.email] = user
            self._passwords[user.email] = Accounts({user.email: body["password"]})
        return user

    def check_password(self, email: Any, password: Any) -> _User | None:
        if not isinstance(email, str):
            return None
        user = self._users.get(email)
        accounts = self._passwords.get(email)
        if user is None or accounts is None or not accounts.check(email, password):
            return None
        return user

    def accounts_by_email(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._users)

    def by_id(self, user_id: Any) -> _User | None:
        return next((u for u in self._users.values() if u.id == user_id), None)

    def access_token(self, user: _User) -> str:
        now = int(time.time())
        claims = {"_id": user.id, "email": user.email, "username": user.username, "iat": now}
        return jwt.encode({**claims, "exp": now + self.access_ttl}, self.access_secret, algorithm="HS256")

    def refresh_token(self, user: _User) -> str:
        now = int(time.time())
        return jwt.encode({"_id": user.id, "iat": now, "exp": now + self.refresh_ttl}, self.refresh_secret, "HS256")


def _cookie(response: bottle.HTTPResponse, name: str, value: str) -> None:
    # res.cookie(name, value, { httpOnly: true, secure: isProduction }) in development.
    response.add_header("Set-Cookie", f"{name}={value}; Path=/; HttpOnly")


def create_app(backend: SeedBackend) -> bottle.Bottle:
    app = bottle.Bottle()
    install_json_errors(app, lambda status, message: {"message": message})

    def verify_jwt() -> _User | bottle.HTTPResponse:
        header = bottle.request.get_header("Authorization")
        token = request_cookies().get("accessToken") or (header.split(" ")[1] if header and " " in header else None)
        if not token:
            return json_response(401, {"message": "Unauthorized request"})
        try:
            claims = jwt.decode(token, backend.access_secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return json_response(403, {"message": "Invalid access token"})
        user = backend.by_id(claims.get("_id"))
        return user if user is not None else json_response(401, {"message": "Invalid access token"})

    @app.post("/register")
    def register() -> bottle.HTTPResponse:
        body, _ = read_json()
        created = backend.register(body)
        if isinstance(created, str):
            return json_response(409 if "exists" in created else 400, {"message": created})
        return json_response(201, {"_id": created.id, "username": created.username, "email": created.email})

    @app.post("/login")
    def login() -> bottle.HTTPResponse:
        body, _ = read_json()
        body = body if isinstance(body, dict) else {}
        email, password = body.get("email"), body.get("password")
        if isinstance(email, str) and email in backend.accounts_by_email() and not isinstance(password, str):
            # User.findOne({ email }) found the account, then bcrypt.compare(password, user.password)
            # throws "data and hash must be strings"; Express 5 answers the rejection 500 (Express 4's
            # process exits). An unknown email was answered 400 before the password was read.
            return bottle.HTTPResponse(
                body="<pre>Error: data and hash must be strings</pre>",
                status=500,
                headers={"Content-Type": "text/html; charset=utf-8"},
            )
        user = backend.check_password(email, password)
        if user is None:
            return json_response(400, {"message": "Invalid credentials"})
        access, refresh = backend.access_token(user), backend.refresh_token(user)
        user.refresh_token = refresh
        response = json_response(200, {"message": "Login successful", "user": {"_id": user.id, "email": user.email}})
        _cookie(response, "accessToken", access)
        _cookie(response, "refreshToken", refresh)
        return response

    @app.post("/refresh")
    def refresh() -> bottle.HTTPResponse:
        body, _ = read_json()
        incoming = request_cookies().get("refreshToken") or (
            body.get("refreshToken") if isinstance(body, dict) else None
        )
        if not incoming:
            return json_response(401, {"message": "Refresh token required"})
        try:
            claims = jwt.decode(incoming, backend.refresh_secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return json_response(401, {"message": "Invalid refresh token"})
        user = backend.by_id(claims.get("_id"))
        if user is None:
            return json_response(401, {"message": "Invalid refresh token"})
        if incoming != user.refresh_token:
            return json_response(401, {"message": "Refresh token expired or used"})
        access, new_refresh = backend.access_token(user), backend.refresh_token(user)
        # `await user.save()`: the compare above and this write are two database round trips apart.
        database_round_trip(ROUND_TRIP)
        user.refresh_token = new_refresh
        response = json_response(200, {"message": "Access token refreshed", "accessToken": access})
        _cookie(response, "accessToken", access)
        _cookie(response, "refreshToken", new_refresh)
        return response

    @app.get("/profile")
    def profile() -> bottle.HTTPResponse:
        user = verify_jwt()
        if isinstance(user, bottle.HTTPResponse):
            return user
        return json_response(200, {"user": {"_id": user.id, "username": user.username, "email": user.email}})

    @app.post("/logout")
    def logout() -> bottle.HTTPResponse:
        user = verify_jwt()
        if isinstance(user, bottle.HTTPResponse):
            return user
        # `User.findByIdAndUpdate(req.user._id, {$set: {refreshToken: null}})`: one database round
        # trip, whose write lands about half-way through it (and inside a racing refresh's own).
        database_round_trip(ROUND_TRIP / 2)
        user.refresh_token = None
        response = json_response(200, {"message": "Logout successful"})
        for name in ("accessToken", "refreshToken"):
            response.add_header("Set-Cookie", f"{name}=; Path=/; Expires={EPOCH}")
        return response

    return app
