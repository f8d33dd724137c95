"""The reference API over real HTTP: each endpoint's success and failure rows, and bad input.

Rotation, reuse, logout and forged tokens are in test_http_sessions.py; cookies and delivery
modes in test_http_cookies.py; real TTL expiry in test_http_expiry.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from .conftest import PASSWORD, Api, claims

# ---------------------------------------------------------------- GET /health


def test_health(api: Api) -> None:
    reply = api.request("GET", "/health")
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}


def test_head_health_has_no_body(api: Api) -> None:
    reply = api.request("HEAD", "/health")
    assert reply.status == 200
    assert reply.body == b""


# ---------------------------------------------------------------- POST /register


def test_register_returns_201_and_the_public_user(api: Api) -> None:
    reply = api.request(
        "POST",
        "/register",
        json_body={"username": "alice", "email": "alice@example.com", "password": PASSWORD, "fullName": "Alice A"},
    )
    assert reply.status == 201
    user = reply.json()["user"]
    assert set(user) == {"_id", "username", "email", "fullName"}
    assert (user["username"], user["email"], user["fullName"]) == ("alice", "alice@example.com", "Alice A")
    assert PASSWORD.encode() not in reply.body and b"$2" not in reply.body  # no password, no bcrypt hash
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["Pragma"] == "no-cache"
    assert reply.set_cookies == []  # registering does not log in


def test_register_duplicate_username_or_email_is_409(api: Api) -> None:
    user = api.new_user()
    same_email = dict(user.registration(), username="someone-else")
    same_username = dict(user.registration(), email="someone-else@example.com")
    for body in (same_email, same_username):
        reply = api.request("POST", "/register", json_body=body)
        assert reply.status == 409, body


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"username": None}, "missing username"),
        ({"email": None}, "missing email"),
        ({"password": None}, "missing password"),
        ({"fullName": None}, "missing fullName"),
        ({"username": 42}, "username not a string"),
        ({"email": ["a@example.com"]}, "email not a string"),
        ({"password": 12345678}, "password not a string"),
        ({"fullName": {"first": "A"}}, "fullName not a string"),
        ({"email": "not-an-email"}, "bad email"),
        ({"password": "short7!"}, "password under 8 characters"),
        ({"password": "x" * 73}, "password over 72 bytes"),
        # 37 two-byte characters: 37 characters but 74 bytes, over bcrypt's 72-byte limit.
        ({"password": "é" * 37}, "password over 72 bytes in UTF-8"),
    ],
)
def test_register_invalid_input_is_422(api: Api, change: dict[str, object], why: str) -> None:
    body: dict[str, object] = {"username": "bob", "email": "bob@example.com", "password": PASSWORD, "fullName": "Bob"}
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    reply = api.request("POST", "/register", json_body=body)
    assert reply.status == 422, why


def test_register_accepts_a_72_byte_password(api: Api) -> None:
    body = {"username": "max", "email": "max@example.com", "password": "p" * 72, "fullName": "Max"}
    assert api.request("POST", "/register", json_body=body).status == 201
    assert api.request("POST", "/login", json_body={"email": "max@example.com", "password": "p" * 72}).status == 200


# ---------------------------------------------------------------- POST /login


def test_login_returns_user_and_both_tokens(api: Api) -> None:
    user = api.new_user()
    reply = api.request("POST", "/login", json_body=user.credentials())
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"message", "user", "accessToken", "refreshToken"}
    assert body["user"]["email"] == user.email
    assert set(body["user"]) == {"_id", "username", "email", "fullName"}
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["Pragma"] == "no-cache"
    assert reply.cookie("accessToken")["value"] == body["accessToken"]
    assert reply.cookie("refreshToken")["value"] == body["refreshToken"]
    access = claims(body["accessToken"])
    for name in ("_id", "email", "username", "fullName", "iat", "exp", "iss", "aud"):
        assert name in access
    assert b"$2" not in reply.body and PASSWORD.encode() not in reply.body


def test_every_login_is_a_new_session(api: Api) -> None:
    user = api.new_user()
    first, second = api.login(user), api.login(user)
    assert claims(first.access)["sid"] != claims(second.access)["sid"]
    assert api.profile(first.access).status == 200
    assert api.profile(second.access).status == 200


def test_login_failure_is_byte_identical_for_unknown_email_and_wrong_password(api: Api) -> None:
    user = api.new_user()
    wrong_password = api.request("POST", "/login", json_body=user.credentials("wrong password"))
    unknown_email = api.request("POST", "/login", json_body={"email": "nobody@example.com", "password": "whatever1"})
    assert wrong_password.status == unknown_email.status == 401
    assert wrong_password.body == unknown_email.body
    assert wrong_password.json() == {"message": "Invalid credentials"}

    def comparable(headers: dict[str, str]) -> dict[str, str]:
        return {k.lower(): v for k, v in headers.items() if k.lower() != "date"}

    assert comparable(dict(wrong_password.headers)) == comparable(dict(unknown_email.headers))
    assert wrong_password.set_cookies == unknown_email.set_cookies == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@example.com"},
        {"password": PASSWORD},
        {"email": 1, "password": PASSWORD},
        {"email": "a@b.c", "password": ["x"]},
    ],
)
def test_login_missing_or_mistyped_fields_are_422(api: Api, body: dict[str, object]) -> None:
    assert api.request("POST", "/login", json_body=body).status == 422


def test_login_records_the_user_agent(api_with_store: tuple[Api, object]) -> None:
    api, store = api_with_store
    user = api.new_user()
    tokens = api.login(user, user_agent="Phone/1.0 (device A)")
    session = store.get_session(claims(tokens.access)["sid"])  # type: ignore[attr-defined]
    assert session is not None
    assert session.user_agent == "Phone/1.0 (device A)"


def test_failed_logins_are_throttled_with_429_and_retry_after(make_api: Callable[..., Api]) -> None:
    api = make_api(login_max_failures=3, login_failure_window=60)
    user = api.new_user()
    for _ in range(3):
        assert api.request("POST", "/login", json_body=user.credentials("wrong password")).status == 401
    throttled = api.request("POST", "/login", json_body=user.credentials("wrong password"))
    assert throttled.status == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # While throttled, even the right password is refused: otherwise guessing would go on.
    assert api.request("POST", "/login", json_body=user.credentials()).status == 429
    # Unknown accounts are throttled the same way, so a 429 reveals nothing about an email.
    unknown = {"email": "ghost@example.com", "password": "wrong password"}
    statuses = [api.request("POST", "/login", json_body=unknown).status for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    # Another account is not affected.
    other = api.new_user()
    assert api.request("POST", "/login", json_body=other.credentials()).status == 200


# ---------------------------------------------------------------- GET /profile


def test_profile_with_bearer_token(api: Api) -> None:
    user = api.new_user()
    tokens = api.login(user)
    reply = api.profile(tokens.access)
    assert reply.status == 200
    assert reply.json()["user"]["email"] == user.email
    assert set(reply.json()["user"]) == {"_id", "username", "email", "fullName"}
    assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_authorization_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    tokens = api.login(api.new_user())
    reply = api.request("GET", "/profile", headers={"Authorization": f"{scheme} {tokens.access}"})
    assert reply.status == 200


def test_profile_with_access_cookie(api: Api) -> None:
    tokens = api.login(api.new_user())
    assert api.request("GET", "/profile", cookies={"accessToken": tokens.access}).status == 200


def test_profile_never_reads_a_token_from_the_query_string(api: Api) -> None:
    tokens = api.login(api.new_user())
    for name in ("access_token", "accessToken", "token"):
        reply = api.request("GET", f"/profile?{name}={tokens.access}")
        assert reply.status == 401, name
        # No token was presented, so the challenge carries no error code (RFC 6750 §3.1).
        assert "error=" not in reply.headers["WWW-Authenticate"]


def test_profile_without_token_is_401_with_plain_challenge(api: Api) -> None:
    reply = api.request("GET", "/profile")
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in reply.headers["WWW-Authenticate"]


def test_a_bad_authorization_header_is_not_rescued_by_a_valid_cookie(api: Api) -> None:
    tokens = api.login(api.new_user())
    for header in (f"Basic {tokens.access}", "Bearer garbage", f"Token {tokens.access}"):
        reply = api.request(
            "GET", "/profile", headers={"Authorization": header}, cookies={"accessToken": tokens.access}
        )
        assert reply.status == 401, header


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer eyJhbGciOiJIUzI1NiJ9",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30",
        "Bearer eyJ%%%.eyJ%%%.sig",
        "Bearer " + "A" * 8000,
        "Bearer \u00ff\u00fe",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Token abc",
        "garbage",
        "Bearer  two  tokens",
    ],
)
def test_garbage_authorization_is_401(api: Api, header: str) -> None:
    reply = api.request("GET", "/profile", headers={"Authorization": header})
    assert reply.status == 401


@pytest.mark.parametrize(
    "cookie",
    [
        "accessToken=garbage",
        "accessToken=a.b.c",
        'accessToken="quoted"',
        "accessToken=eyJhbGciOiJub25lIn0.e30.",
        "accessToken=\u00ff\u00fe",
        "accessToken",
        ";;;=;=accessToken=x",
        "accessToken=x; accessToken=y",
        "other=1; accessToken=%00%01",
    ],
)
def test_garbage_access_cookie_is_401(api: Api, cookie: str) -> None:
    reply = api.request("GET", "/profile", headers={"Cookie": cookie})
    assert reply.status == 401


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("path", ["/register", "/login", "/refresh", "/logout"])
@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"email": }', b"not json", b'{"a": 1}}', b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}'],
    ids=["unclosed", "missing value", "text", "trailing", "bad utf-8", "deep nesting", "NaN"],
)
def test_malformed_json_is_400(api: Api, path: str, raw: bytes) -> None:
    if len(raw) > api.settings.max_body_bytes:
        raw = b"[" * 30_000 + b"]" * 30_000  # still deeper than Python's recursion limit
    reply = api.request("POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400


@pytest.mark.parametrize("path", ["/register", "/login", "/refresh", "/logout"])
@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null", b"true", b'[{"email": "a@b.c"}]'])
def test_json_that_is_not_an_object_is_400(api: Api, path: str, raw: bytes) -> None:
    reply = api.request("POST", path, data=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400


@pytest.mark.parametrize("path", ["/refresh", "/logout"])
@pytest.mark.parametrize("value", [123, ["token"], {"token": "x"}, True])
def test_refresh_token_of_the_wrong_type_is_422(api: Api, path: str, value: object) -> None:
    assert api.request("POST", path, json_body={"refreshToken": value}).status == 422


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_non_json_bodies_are_400(api: Api, content_type: str) -> None:
    user = api.new_user()
    reply = api.request("POST", "/login", data=json.dumps(user.credentials()), headers={"Content-Type": content_type})
    assert reply.status == 400


def test_json_content_type_with_charset_is_accepted(api: Api) -> None:
    user = api.new_user()
    reply = api.request(
        "POST",
        "/login",
        data=json.dumps(user.credentials()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert reply.status == 200


def test_body_over_64_kib_is_413(api: Api) -> None:
    user = api.new_user()
    body = json.dumps(dict(user.credentials(), padding="x" * 65536)).encode()
    for path in ("/login", "/register", "/refresh", "/logout", "/logout-all"):
        reply = api.request("POST", path, data=body, headers={"Content-Type": "application/json"})
        assert reply.status == 413, path


def test_chunked_body_over_64_kib_is_413(api: Api) -> None:
    # A generator makes requests send Transfer-Encoding: chunked, with no Content-Length.
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "a@example.com", "padding": "'
        for _ in range(70):
            yield b"x" * 1024
        yield b'"}'

    reply = api.request("POST", "/login", data=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status == 413


def test_body_of_exactly_64_kib_is_read(api: Api) -> None:
    user = api.new_user()
    compact = json.dumps(user.credentials())
    body = (compact[:-1] + " " * (65536 - len(compact)) + "}").encode()
    assert len(body) == 65536
    reply = api.request("POST", "/login", data=body, headers={"Content-Type": "application/json"})
    assert reply.status == 200


def test_unknown_route_is_404_json(api: Api) -> None:
    for method, path in (("GET", "/nope"), ("POST", "/login/extra"), ("GET", "/%ff"), ("GET", "/profile/")):
        reply = api.request(method, path)
        assert reply.status == 404, path


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/login", "POST"),
        ("PUT", "/register", "POST"),
        ("DELETE", "/profile", "GET"),
        ("GET", "/refresh", "POST"),
        ("GET", "/logout", "POST"),
        ("POST", "/health", "GET"),
    ],
)
def test_wrong_method_is_405_json_with_allow(api: Api, method: str, path: str, allowed: str) -> None:
    reply = api.request(method, path)
    assert reply.status == 405
    assert allowed in reply.headers["Allow"]
