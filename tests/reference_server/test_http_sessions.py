"""Rotation, reuse detection, concurrency, logout, logout-all and forged tokens, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import Any

import pytest
import requests

from .conftest import Api, claims

# ---------------------------------------------------------------- forging tokens by hand

# Forged with hmac and base64 directly, never jwt.encode: PyJWT warns about weak keys, and
# warnings are errors here (STYLE.md).
_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def forge(header: dict[str, Any], payload: dict[str, Any], key: str | None) -> str:
    """A compact JWS with ``header`` and ``payload``, signed with ``key`` by ``header["alg"]``."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    alg = str(header.get("alg"))
    if alg == "none" or key is None:
        return signing_input + "."
    signature = hmac.new(key.encode(), signing_input.encode(), _DIGESTS[alg]).digest()
    return f"{signing_input}.{_b64(signature)}"


def resign(token: str, key: str, *, header: dict[str, Any] | None = None, **changes: Any) -> str:
    """``token`` with header fields and claims changed, signed again with ``key``."""
    return forge({**_header(token), **(header or {})}, {**claims(token), **changes}, key)


# ---------------------------------------------------------------- POST /refresh


def test_refresh_by_body_rotates_both_tokens(api: Api) -> None:
    first = api.login(api.new_user())
    reply = api.refresh(first.refresh)
    assert reply.status == 200
    body = reply.json()
    assert set(body) == {"message", "accessToken", "refreshToken"}
    assert body["refreshToken"] != first.refresh
    assert body["accessToken"] != first.access
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["Pragma"] == "no-cache"
    assert api.profile(body["accessToken"]).status == 200
    # Both cookies are set again with the new values.
    assert reply.cookie("accessToken")["value"] == body["accessToken"]
    assert reply.cookie("refreshToken")["value"] == body["refreshToken"]


def test_refresh_by_cookie(api: Api) -> None:
    first = api.login(api.new_user())
    reply = api.request("POST", "/refresh", cookies={"refreshToken": first.refresh})
    assert reply.status == 200
    assert api.refresh(reply.json()["refreshToken"]).status == 200


def test_refresh_keeps_the_session(api: Api) -> None:
    first = api.login(api.new_user())
    second = api.tokens(api.refresh(first.refresh))
    assert claims(second.access)["sid"] == claims(first.access)["sid"]
    assert claims(second.refresh)["jti"] != claims(first.refresh)["jti"]


@pytest.mark.parametrize(
    "presented",
    [
        {},
        {"json_body": {}},
        {"json_body": {"refreshToken": ""}},
        {"json_body": {"refreshToken": None}},
        {"json_body": {"refreshToken": "garbage"}},
        {"json_body": {"refreshToken": "a.b.c"}},
        {"cookies": {"refreshToken": "garbage"}},
        {"headers": {"Cookie": 'refreshToken="%%%"; x'}},
        {"headers": {"Cookie": "refreshToken=\u00ff"}},
    ],
    ids=[
        "nothing",
        "empty body",
        "empty string",
        "null",
        "garbage body",
        "not base64",
        "garbage cookie",
        "quoted",
        "latin-1",
    ],
)
def test_refresh_without_a_valid_token_is_401(api: Api, presented: dict[str, Any]) -> None:
    assert api.request("POST", "/refresh", **presented).status == 401


def test_used_refresh_token_is_401_and_revokes_the_family(api: Api) -> None:
    """RFC 9700 §4.14.2: replaying a rotated refresh token also kills the newest one."""
    user = api.new_user()
    first = api.login(user)
    second = api.tokens(api.refresh(first.refresh))
    replay = api.refresh(first.refresh)
    assert replay.status == 401
    assert replay.set_cookies == []
    assert api.refresh(second.refresh).status == 401, "the newest token of the family must die too"
    assert api.profile(second.access).status == 401, "the family's access tokens must die too"
    # Another login (another family) is unaffected.
    assert api.refresh(api.login(user).refresh).status == 200


def test_concurrent_refreshes_with_one_token_give_exactly_one_200(api: Api) -> None:
    tokens = api.login(api.new_user())
    n = 20
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    new_tokens: list[str] = []
    lock = threading.Lock()

    def refresh() -> None:
        # One Session per thread: requests.Session is not thread-safe.
        with requests.Session() as session:
            barrier.wait()
            reply = api.request("POST", "/refresh", json_body={"refreshToken": tokens.refresh}, session=session)
        with lock:
            statuses.append(reply.status)
            if reply.status == 200:
                new_tokens.append(reply.json()["refreshToken"])

    threads = [threading.Thread(target=refresh) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [200] + [401] * (n - 1)
    # Every loser presented a token already used by the winner: reuse detection revoked the
    # family, so the winner's new token is dead too (the specified, safe default).
    assert api.refresh(new_tokens[0]).status == 401


def test_conflicting_refresh_tokens_are_400(api: Api) -> None:
    user = api.new_user()
    one, two = api.login(user), api.login(user)
    reply = api.request(
        "POST", "/refresh", json_body={"refreshToken": one.refresh}, cookies={"refreshToken": two.refresh}
    )
    assert reply.status == 400
    assert reply.json() == {"message": "Conflicting refresh tokens"}
    # Neither token was used up.
    assert api.refresh(one.refresh).status == 200
    assert api.refresh(two.refresh).status == 200


def test_same_refresh_token_in_body_and_cookie_is_fine(api: Api) -> None:
    tokens = api.login(api.new_user())
    reply = api.request(
        "POST", "/refresh", json_body={"refreshToken": tokens.refresh}, cookies={"refreshToken": tokens.refresh}
    )
    assert reply.status == 200


def test_conflicting_refresh_tokens_still_trigger_reuse_detection(api: Api) -> None:
    user = api.new_user()
    stolen = api.login(user)
    current = api.tokens(api.refresh(stolen.refresh))  # `stolen.refresh` is now used
    other = api.login(user)
    reply = api.request(
        "POST", "/refresh", json_body={"refreshToken": other.refresh}, cookies={"refreshToken": stolen.refresh}
    )
    assert reply.status == 400
    assert api.refresh(current.refresh).status == 401, "the replayed token's family must be revoked"
    assert api.refresh(other.refresh).status == 200, "the unused token must not be used up"


def test_access_token_is_refused_as_refresh_token(api: Api) -> None:
    tokens = api.login(api.new_user())
    assert api.refresh(tokens.access).status == 401
    assert api.request("POST", "/refresh", cookies={"refreshToken": tokens.access}).status == 401
    # Typed tokens (RFC 8725 §3.11): even signed with the refresh secret, an access payload
    # typed at+jwt is no refresh token.
    forged = resign(tokens.access, api.settings.refresh_secret)
    assert api.refresh(forged).status == 401
    assert api.refresh(tokens.refresh).status == 200


# ---------------------------------------------------------------- forged and expired access tokens


def _assert_invalid_token(reply: Any) -> None:
    assert reply.status == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_refresh_token_is_refused_as_access_token(api: Api) -> None:
    tokens = api.login(api.new_user())
    _assert_invalid_token(api.profile(tokens.refresh))
    _assert_invalid_token(api.request("GET", "/profile", cookies={"accessToken": tokens.refresh}))
    # Even signed with the access secret, a token typed rt+jwt is refused (RFC 8725 §3.11).
    _assert_invalid_token(api.profile(resign(tokens.refresh, api.settings.access_secret)))


def test_alg_none_is_401(api: Api) -> None:
    tokens = api.login(api.new_user())
    for alg in ("none", "None", "NONE"):
        forged = forge({**_header(tokens.access), "alg": alg}, claims(tokens.access), None)
        _assert_invalid_token(api.profile(forged))


def test_other_algorithms_are_401_even_with_the_right_key(api: Api) -> None:
    tokens = api.login(api.new_user())
    for alg in ("HS384", "HS512"):
        _assert_invalid_token(api.profile(resign(tokens.access, api.settings.access_secret, header={"alg": alg})))
    # An RS256 header over an HMAC-SHA256 signature made with the right key: only a server that
    # lets the token's "alg" choose the verification would look at it (RFC 8725 §2.1, §3.1).
    header = _b64(json.dumps({**_header(tokens.access), "alg": "RS256"}).encode())
    signing_input = f"{header}.{tokens.access.split('.')[1]}"
    signature = hmac.new(api.settings.access_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    _assert_invalid_token(api.profile(f"{signing_input}.{_b64(signature)}"))


def test_bad_signature_is_401(api: Api) -> None:
    tokens = api.login(api.new_user())
    _assert_invalid_token(api.profile(resign(tokens.access, "another secret that is long enough, 32+ bytes")))
    # A changed claim under the original signature.
    head, _, signature = tokens.access.split(".")
    tampered = (
        f"{head}.{_b64(json.dumps({**claims(tokens.access), 'email': 'admin@example.com'}).encode())}.{signature}"
    )
    _assert_invalid_token(api.profile(tampered))
    # The signature of another token.
    other = api.login(api.new_user())
    _assert_invalid_token(api.profile(tokens.access.rsplit(".", 1)[0] + "." + other.access.rsplit(".", 1)[1]))


def test_expired_access_token_is_401(api: Api) -> None:
    tokens = api.login(api.new_user())
    past = int(time.time()) - 60
    expired = resign(tokens.access, api.settings.access_secret, iat=past - 900, exp=past)
    _assert_invalid_token(api.profile(expired))


def test_wrong_issuer_or_audience_is_401(api: Api) -> None:
    tokens = api.login(api.new_user())
    key = api.settings.access_secret
    _assert_invalid_token(api.profile(resign(tokens.access, key, iss="someone-else")))
    _assert_invalid_token(api.profile(resign(tokens.access, key, aud="someone-else")))


def test_expired_refresh_token_is_401(api: Api) -> None:
    tokens = api.login(api.new_user())
    past = int(time.time()) - 60
    assert api.refresh(resign(tokens.refresh, api.settings.refresh_secret, iat=past - 900, exp=past)).status == 401


# ---------------------------------------------------------------- POST /logout


def _assert_logged_out(reply: Any) -> None:
    assert reply.status == 200
    assert reply.headers["Clear-Site-Data"] == '"cookies"'
    for name in ("accessToken", "refreshToken"):
        cleared = reply.cookie(name)
        assert cleared["value"] == "" and cleared["max-age"] == "0"


def test_logout_with_bearer_revokes_only_this_session(api: Api) -> None:
    user = api.new_user()
    phone, laptop = api.login(user, user_agent="phone"), api.login(user, user_agent="laptop")
    _assert_logged_out(api.request("POST", "/logout", bearer=phone.access))
    # ASVS 5.0 §7.4.1: this session's access tokens are refused from now on, not at expiry.
    _assert_invalid_token(api.profile(phone.access))
    assert api.refresh(phone.refresh).status == 401
    # The other device's session is untouched.
    assert api.profile(laptop.access).status == 200
    assert api.refresh(laptop.refresh).status == 200


def test_logout_with_access_cookie(api: Api) -> None:
    tokens = api.login(api.new_user())
    _assert_logged_out(api.request("POST", "/logout", cookies={"accessToken": tokens.access}))
    assert api.profile(tokens.access).status == 401
    assert api.refresh(tokens.refresh).status == 401


@pytest.mark.parametrize("via", ["cookie", "body"])
def test_logout_with_only_the_refresh_token(api: Api, via: str) -> None:
    tokens = api.login(api.new_user())
    if via == "cookie":
        reply = api.request("POST", "/logout", cookies={"refreshToken": tokens.refresh})
    else:
        reply = api.request("POST", "/logout", json_body={"refreshToken": tokens.refresh})
    _assert_logged_out(reply)
    assert api.profile(tokens.access).status == 401
    assert api.refresh(tokens.refresh).status == 401


def test_logout_with_an_expired_access_token_falls_back_to_the_refresh_token(api: Api) -> None:
    tokens = api.login(api.new_user())
    past = int(time.time()) - 60
    expired = resign(tokens.access, api.settings.access_secret, iat=past - 900, exp=past)
    _assert_logged_out(api.request("POST", "/logout", bearer=expired, cookies={"refreshToken": tokens.refresh}))
    assert api.refresh(tokens.refresh).status == 401


def test_logout_without_any_token_is_401(api: Api) -> None:
    reply = api.request("POST", "/logout")
    assert reply.status == 401
    assert reply.set_cookies == []
    assert "Clear-Site-Data" not in reply.headers


@pytest.mark.parametrize(
    "presented",
    [
        {"bearer": "garbage"},
        {"cookies": {"accessToken": "garbage", "refreshToken": "garbage"}},
        {"json_body": {"refreshToken": "garbage"}},
    ],
)
def test_logout_with_invalid_tokens_is_401(api: Api, presented: dict[str, Any]) -> None:
    _assert_invalid_token(api.request("POST", "/logout", **presented))


def test_logout_with_another_scheme_is_401_without_an_error_code(api: Api) -> None:
    # RFC 6750 §3.1: a request "attempted using an unsupported authentication method" gets no
    # error code in its challenge.
    reply = api.request("POST", "/logout", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert reply.status == 401
    assert "error=" not in reply.headers["WWW-Authenticate"]


def test_logout_twice_is_401_the_second_time(api: Api) -> None:
    tokens = api.login(api.new_user())
    assert api.request("POST", "/logout", bearer=tokens.access).status == 200
    assert api.request("POST", "/logout", bearer=tokens.access, cookies={"refreshToken": tokens.refresh}).status == 401


# ---------------------------------------------------------------- POST /logout-all


def test_logout_all_revokes_every_session_and_old_access_tokens(api: Api) -> None:
    user = api.new_user()
    devices = [api.login(user, user_agent=f"device {i}") for i in range(3)]
    bystander = api.login(api.new_user())
    _assert_logged_out(api.request("POST", "/logout-all", bearer=devices[0].access))
    for tokens in devices:
        _assert_invalid_token(api.profile(tokens.access))
        assert api.refresh(tokens.refresh).status == 401
    # Other users are untouched, and the user can log in again.
    assert api.profile(bystander.access).status == 200
    fresh = api.login(user)
    assert api.profile(fresh.access).status == 200
    assert api.refresh(fresh.refresh).status == 200


def test_logout_all_with_access_cookie(api: Api) -> None:
    tokens = api.login(api.new_user())
    assert api.request("POST", "/logout-all", cookies={"accessToken": tokens.access}).status == 200
    assert api.profile(tokens.access).status == 401


@pytest.mark.parametrize(
    "presented",
    [{}, {"bearer": "garbage"}, {"cookies": {"refreshToken": "x"}}],
    ids=["nothing", "garbage", "refresh cookie only"],
)
def test_logout_all_without_a_valid_access_token_is_401(api: Api, presented: dict[str, Any]) -> None:
    assert api.request("POST", "/logout-all", **presented).status == 401


def test_logout_all_refuses_a_refresh_token(api: Api) -> None:
    tokens = api.login(api.new_user())
    _assert_invalid_token(api.request("POST", "/logout-all", bearer=tokens.refresh))
    assert api.profile(tokens.access).status == 200
