"""Regression tests for issue 8: hostile input gets a 4xx, never a 500.

Lone surrogates in JSON strings, oversized fields at every endpoint, tokens signed with the
right key but carrying claims the server cannot process, deeply nested JOSE headers,
``Authorization`` headers without the Bearer scheme, ``nbf`` in the future, and bodies over
waitress's own cap. Every reply also passes ``conftest.check_invariants`` (no 5xx, JSON errors).
"""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import pytest

from .conftest import Api, claims
from .test_http_sessions import resign

# ---------------------------------------------------------------- lone surrogates in JSON


def _raw_json(api: Api, path: str, text: str) -> Any:
    """POST ``text`` as it is: json.dumps would escape a surrogate the same way, but by hand the
    body is exactly what a hostile client sends."""
    return api.request("POST", path, data=text.encode("ascii"), headers={"Content-Type": "application/json"})


REGISTRATION = {"username": "sur", "email": "sur@example.com", "password": "password123", "fullName": "S"}


@pytest.mark.parametrize("field", ["username", "email", "password", "fullName"])
def test_lone_surrogate_in_any_registration_field_is_400(api: Api, field: str) -> None:
    """Issue 8: ``"\\ud800"`` in a JSON string was a 500 (UnicodeEncodeError in bcrypt/SQLite)."""
    text = json.dumps({**REGISTRATION, field: "ab\ud800cd"})
    assert "\\ud800" in text
    assert _raw_json(api, "/register", text).status == 400


@pytest.mark.parametrize("field", ["email", "password"])
def test_lone_surrogate_in_login_fields_is_400(api: Api, field: str) -> None:
    body = {"email": "a@example.com", "password": "password123", field: "\udfff"}
    assert _raw_json(api, "/login", json.dumps(body)).status == 400


@pytest.mark.parametrize("path", ["/refresh", "/logout"])
def test_lone_surrogate_refresh_token_is_400(api: Api, path: str) -> None:
    assert _raw_json(api, path, json.dumps({"refreshToken": "x\ud800"})).status == 400


def test_lone_surrogate_in_a_key_or_nested_value_is_400(api: Api) -> None:
    assert _raw_json(api, "/login", '{"\\ud800": 1, "email": "a@example.com", "password": "p"}').status == 400
    nested = '{"email": "a@example.com", "password": "p", "x": [{"y": "\\udc00"}]}'
    assert _raw_json(api, "/login", nested).status == 400


def test_a_surrogate_pair_is_text_and_accepted(api: Api) -> None:
    # "\ud83d\ude00" is one character (U+1F600): valid JSON and valid Unicode.
    body = json.dumps({**REGISTRATION, "fullName": "Smile \U0001f600"})
    assert "\\ud83d\\ude00" in body
    reply = _raw_json(api, "/register", body)
    assert reply.status == 201
    assert reply.json()["user"]["fullName"] == "Smile \U0001f600"


# ---------------------------------------------------------------- length caps at every endpoint


def test_oversized_login_fields_are_422_and_record_nothing(api_with_store: Any) -> None:
    """Issue 8: 60 KB emails at /login each grew the database by their size."""
    api, store = api_with_store
    huge = "a" * 60_000 + "@example.com"
    assert api.request("POST", "/login", json_body={"email": huge, "password": "password123"}).status == 422
    assert api.request("POST", "/login", json_body={"email": "a@example.com", "password": "p" * 60_000}).status == 422
    assert store.count_all_login_failures() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "u" * 65),
        ("email", "e" * 250 + "@example.com"),
        ("password", "p" * 1025),
        ("fullName", "f" * 129),
    ],
)
def test_oversized_registration_fields_are_422(api: Api, field: str, value: str) -> None:
    assert api.request("POST", "/register", json_body={**REGISTRATION, field: value}).status == 422


@pytest.mark.parametrize("path", ["/refresh", "/logout"])
def test_an_oversized_refresh_token_is_401(api: Api, path: str) -> None:
    assert api.request("POST", path, json_body={"refreshToken": "a.b." + "c" * 60_000}).status == 401


def test_an_oversized_bearer_token_is_401(api: Api) -> None:
    assert api.profile("a.b." + "c" * 60_000).status == 401


def test_a_huge_user_agent_is_stored_truncated(api_with_store: Any) -> None:
    api, store = api_with_store
    user = api.new_user()
    tokens = api.login(user, user_agent="U" * 100_000)
    session = store.get_session(claims(tokens.access)["sid"])
    assert len(session.user_agent) == 512


# ---------------------------------------------------------------- hostile tokens signed with the right key


@pytest.mark.parametrize(
    "changes",
    [
        {"ver": 2**70},
        {"ver": -1},
        {"jti": "\ud800"},
        {"sid": "\udfff"},
        {"_id": "x\ud800"},
        {"sid": "s" * 5000},
    ],
    ids=["huge-ver", "negative-ver", "surrogate-jti", "surrogate-sid", "surrogate-id", "long-sid"],
)
def test_unprocessable_claims_in_a_validly_signed_access_token_are_401(api: Api, changes: dict[str, Any]) -> None:
    """Issue 8: an oversized ``ver`` and a surrogate ``jti`` in a token signed with the right key
    were 500s (OverflowError, UnicodeEncodeError in the store)."""
    tokens = api.login(api.new_user())
    forged = resign(tokens.access, api.settings.access_secret, **changes)
    assert api.profile(forged).status == 401
    assert api.request("POST", "/logout-all", bearer=forged).status == 401


@pytest.mark.parametrize(
    "changes",
    [{"jti": "\ud800"}, {"sid": "\ud800"}, {"_id": "\ud800"}, {"exp": 2**80}],
    ids=["surrogate-jti", "surrogate-sid", "surrogate-id", "huge-exp"],
)
def test_unprocessable_claims_in_a_validly_signed_refresh_token_are_401(api: Api, changes: dict[str, Any]) -> None:
    tokens = api.login(api.new_user())
    forged = resign(tokens.refresh, api.settings.refresh_secret, **changes)
    assert api.refresh(forged).status == 401
    assert api.request("POST", "/logout", json_body={"refreshToken": forged}).status == 401
    assert api.refresh(tokens.refresh).status == 200, "the genuine token is untouched"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("depth", [2_000, 50_000])
def test_a_deeply_nested_jose_header_is_401(api: Api, depth: int) -> None:
    """Issue 8: a header nested 50,000 levels deep raised RecursionError inside PyJWT, which only
    turns ValueError into a DecodeError. 2,000 levels fit under the token length cap and reach
    the JSON parser; 50,000 are refused by the cap first."""
    tokens = api.login(api.new_user())
    _, payload, signature = tokens.access.split(".")
    header = _b64(("[" * depth + "]" * depth).encode())
    reply = api.profile(f"{header}.{payload}.{signature}")
    assert reply.status == 401


def test_nbf_in_the_future_is_refused(api: Api) -> None:
    """Issue 8 / RFC 7519 §4.1.5: a token is not accepted before its ``nbf``."""
    tokens = api.login(api.new_user())
    iat = claims(tokens.access)["iat"]
    assert api.profile(resign(tokens.access, api.settings.access_secret, nbf=iat + 3600)).status == 401
    assert api.profile(resign(tokens.access, api.settings.access_secret, nbf="soon")).status == 401
    assert api.profile(resign(tokens.access, api.settings.access_secret, nbf=iat - 10)).status == 200
    refresh = resign(tokens.refresh, api.settings.refresh_secret, nbf=iat + 3600)
    assert api.refresh(refresh).status == 401


# ---------------------------------------------------------------- the Bearer scheme only


@pytest.mark.parametrize("scheme", ["", "Token ", "JWT ", "Basic ", "Bearer: ", "Bearerx "])
def test_only_the_bearer_scheme_carries_an_access_token(api: Api, scheme: str) -> None:
    """Issue 8: ``Authorization: <jwt>`` with no scheme was accepted. RFC 6750 §2.1 names the
    Bearer scheme; a header with any other (or none) is a 401 without an error code (RFC 6750
    §3.1), and a valid cookie does not rescue it."""
    tokens = api.login(api.new_user())
    reply = api.request(
        "GET",
        "/profile",
        headers={"Authorization": scheme + tokens.access},
        cookies={"accessToken": tokens.access},
    )
    assert reply.status == 401
    assert "error=" not in reply.headers["WWW-Authenticate"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    # RFC 9110 §11.1: "It uses a case-insensitive token to identify the authentication scheme".
    tokens = api.login(api.new_user())
    assert api.request("GET", "/profile", headers={"Authorization": f"{scheme} {tokens.access}"}).status == 200


# ---------------------------------------------------------------- waitress's own errors are JSON too


def _raw_exchange(api: Api, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection((api.server.host, api.server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status_line, headers, body


def test_a_body_over_waitress_cap_gets_the_documented_json_413(api: Api) -> None:
    """Issue 8: over 1 MiB, waitress refused the body itself with a text/plain page."""
    request = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2000000\r\nConnection: close\r\n\r\n"
    )
    status_line, headers, body = _raw_exchange(api, request)
    assert status_line.split(" ")[1] == "413"
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"message"}


def test_a_body_between_the_app_limit_and_waitress_cap_gets_json_413(api: Api) -> None:
    reply = api.request(
        "POST", "/login", data=b"{" + b" " * 200_000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert reply.status == 413


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\nConnection: close\r\n\r\n",
    ],
    ids=["bad-request-line", "unsupported-transfer-encoding", "header-without-colon"],
)
def test_waitress_errors_are_json(api: Api, request_bytes: bytes) -> None:
    status_line, headers, body = _raw_exchange(api, request_bytes)
    assert status_line.split(" ")[1].startswith("4") or status_line.split(" ")[1] == "501"
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"message"}
