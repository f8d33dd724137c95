"""The auth cookies' exact attributes, the __Host- prefix, and the three token delivery modes."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

import bottle
import pytest

from tokenconform_server.config import Settings
from tokenconform_server.cookies import clear_auth_cookies, set_auth_cookies

from .conftest import Api, Reply, claims, parse_set_cookie

# accessToken: HttpOnly; Secure; SameSite=Lax. refreshToken: HttpOnly; Secure; SameSite=Strict.
SAME_SITE = {"accessToken": "Lax", "refreshToken": "Strict"}


def _server_time(reply: Reply) -> float:
    return parsedate_to_datetime(reply.headers["Date"]).timestamp()


def _assert_token_cookie(reply: Reply, name: str, token: str, same_site: str) -> None:
    cookie = reply.cookie(name)
    assert cookie["value"] == token
    # Exactly these attributes: no Domain (host-only), no Expires beside Max-Age.
    assert set(cookie) == {"name", "value", "max-age", "path", "secure", "httponly", "samesite"}, cookie
    assert cookie["path"] == "/"
    assert cookie["secure"] == "" and cookie["httponly"] == ""
    assert cookie["samesite"] == same_site
    # Max-Age is the token's remaining lifetime (within the second the Date header rounds off).
    remaining = claims(token)["exp"] - _server_time(reply)
    assert remaining - 2 <= int(cookie["max-age"]) <= remaining


def _assert_cleared(reply: Reply, name: str, same_site: str) -> None:
    cookie = reply.cookie(name)
    assert cookie["value"] == ""
    assert cookie["max-age"] == "0"
    assert parsedate_to_datetime(cookie["expires"]).timestamp() < _server_time(reply)
    # The same Path and attributes as when it was set, or the client would keep the old one.
    assert (cookie["path"], cookie["samesite"]) == ("/", same_site)
    assert "secure" in cookie and "httponly" in cookie and "domain" not in cookie


def test_login_sets_both_cookies_with_exact_attributes(api: Api) -> None:
    tokens = api.login(api.new_user())
    assert len(tokens.reply.set_cookies) == 2
    _assert_token_cookie(tokens.reply, "accessToken", tokens.access, "Lax")
    _assert_token_cookie(tokens.reply, "refreshToken", tokens.refresh, "Strict")
    assert int(tokens.reply.cookie("accessToken")["max-age"]) > api.settings.access_ttl - 3
    assert int(tokens.reply.cookie("refreshToken")["max-age"]) > api.settings.refresh_ttl - 3


def test_refresh_sets_both_cookies_again(api: Api) -> None:
    first = api.login(api.new_user())
    reply = api.request("POST", "/refresh", cookies={"refreshToken": first.refresh})
    second = api.tokens(reply)
    assert len(reply.set_cookies) == 2
    _assert_token_cookie(reply, "accessToken", second.access, "Lax")
    _assert_token_cookie(reply, "refreshToken", second.refresh, "Strict")


@pytest.mark.parametrize("path", ["/logout", "/logout-all"])
def test_logout_clears_both_cookies_with_the_same_attributes(api: Api, path: str) -> None:
    tokens = api.login(api.new_user())
    reply = api.request("POST", path, bearer=tokens.access)
    assert reply.status == 200
    assert len(reply.set_cookies) == 2
    for name, same_site in SAME_SITE.items():
        _assert_cleared(reply, name, same_site)
    assert reply.headers["Clear-Site-Data"] == '"cookies"'


def test_refresh_cookie_never_outlives_the_session_cap(make_api: Callable[..., Api]) -> None:
    # ASVS 5.0 §10.4.8: rotation never extends a session past SESSION_MAX_AGE.
    api = make_api(refresh_ttl=3600, session_max_age=100)
    first = api.login(api.new_user())
    for reply in (first.reply, api.request("POST", "/refresh", cookies={"refreshToken": first.refresh})):
        tokens = api.tokens(reply)
        assert int(reply.cookie("refreshToken")["max-age"]) <= 100
        assert claims(tokens.refresh)["exp"] <= claims(first.refresh)["iat"] + 100
        _assert_token_cookie(reply, "refreshToken", tokens.refresh, "Strict")


def test_errors_set_no_cookies(api: Api) -> None:
    user = api.new_user()
    tokens = api.login(user)
    api.refresh(tokens.refresh)
    for reply in (
        api.request("POST", "/login", json_body=user.credentials("wrong password")),
        api.refresh(tokens.refresh),  # reuse
        api.request("GET", "/profile"),
        api.request("GET", "/nope"),
    ):
        assert reply.status >= 400
        assert reply.set_cookies == []


# ---------------------------------------------------------------- the __Host- prefix


def test_host_prefix_names_and_attributes(make_api: Callable[..., Api]) -> None:
    api = make_api(cookie_prefix="__Host-")
    tokens = api.login(api.new_user())
    assert sorted(c["name"] for c in map(parse_set_cookie, tokens.reply.set_cookies)) == [
        "__Host-accessToken",
        "__Host-refreshToken",
    ]
    # RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, has Path=/ and no Domain.
    _assert_token_cookie(tokens.reply, "__Host-accessToken", tokens.access, "Lax")
    _assert_token_cookie(tokens.reply, "__Host-refreshToken", tokens.refresh, "Strict")

    # The prefixed names are the ones read back; the bare names are not.
    assert api.request("GET", "/profile", cookies={"__Host-accessToken": tokens.access}).status == 200
    assert api.request("GET", "/profile", cookies={"accessToken": tokens.access}).status == 401
    assert api.request("POST", "/refresh", cookies={"refreshToken": tokens.refresh}).status == 401
    reply = api.request("POST", "/refresh", cookies={"__Host-refreshToken": tokens.refresh})
    assert reply.status == 200
    fresh = api.tokens(reply)

    logout = api.request("POST", "/logout", cookies={"__Host-accessToken": fresh.access})
    assert logout.status == 200
    _assert_cleared(logout, "__Host-accessToken", "Lax")
    _assert_cleared(logout, "__Host-refreshToken", "Strict")


# ---------------------------------------------------------------- delivery modes


def test_delivery_cookie_keeps_tokens_out_of_the_body(make_api: Callable[..., Api]) -> None:
    api = make_api(delivery="cookie")
    user = api.new_user()
    tokens = api.login(user)
    body = tokens.reply.json()
    assert set(body) == {"message", "user"}
    assert tokens.access.encode() not in tokens.reply.body and tokens.refresh.encode() not in tokens.reply.body
    _assert_token_cookie(tokens.reply, "accessToken", tokens.access, "Lax")
    _assert_token_cookie(tokens.reply, "refreshToken", tokens.refresh, "Strict")

    assert api.request("GET", "/profile", cookies={"accessToken": tokens.access}).status == 200
    reply = api.request("POST", "/refresh", cookies={"refreshToken": tokens.refresh})
    assert reply.status == 200
    assert set(reply.json()) == {"message"}
    assert reply.headers["Cache-Control"] == "no-store"
    fresh = api.tokens(reply)
    assert fresh.refresh != tokens.refresh
    assert api.request("POST", "/logout", cookies={"accessToken": fresh.access}).status == 200


def test_delivery_body_sets_no_cookies(make_api: Callable[..., Api]) -> None:
    api = make_api(delivery="body")
    tokens = api.login(api.new_user())
    assert tokens.reply.set_cookies == []
    assert set(tokens.reply.json()) == {"message", "user", "accessToken", "refreshToken"}
    reply = api.refresh(tokens.refresh)
    assert reply.status == 200
    assert reply.set_cookies == []
    assert set(reply.json()) == {"message", "accessToken", "refreshToken"}
    assert api.profile(reply.json()["accessToken"]).status == 200


def test_delivery_both_is_the_default(api: Api) -> None:
    assert api.settings.delivery == "both"
    tokens = api.login(api.new_user())
    assert tokens.reply.json()["accessToken"] == tokens.reply.cookie("accessToken")["value"]
    assert tokens.reply.json()["refreshToken"] == tokens.reply.cookie("refreshToken")["value"]


# ---------------------------------------------------------------- cookies.py directly


class _FakeTokens:
    access_token = "a.b.c"
    refresh_token = "d.e.f"
    access_expires_at = 1000.0
    refresh_expires_at = 5000.0


def _response() -> bottle.BaseResponse:
    return bottle.BaseResponse()


def test_setting_twice_leaves_one_set_cookie_per_name() -> None:
    settings = Settings.for_testing(db_path="unused.db")
    response = _response()
    response.add_header("Set-Cookie", "unrelated=1; Path=/")
    set_auth_cookies(response, _FakeTokens(), settings, now=100.0)
    set_auth_cookies(response, _FakeTokens(), settings, now=200.0)
    clear_auth_cookies(response, settings)
    values = response.headers.getall("Set-Cookie")
    names = sorted(v.split("=", 1)[0] for v in values)
    assert names == ["accessToken", "refreshToken", "unrelated"]


def test_max_age_rounds_down_and_never_goes_negative() -> None:
    settings = Settings.for_testing(db_path="unused.db")
    response = _response()
    set_auth_cookies(response, _FakeTokens(), settings, now=999.5)
    parsed = {c.split("=", 1)[0]: c for c in response.headers.getall("Set-Cookie")}
    assert "Max-Age=0;" in parsed["accessToken"]
    assert "Max-Age=4000;" in parsed["refreshToken"]
    response = _response()
    set_auth_cookies(response, _FakeTokens(), settings, now=2000.0)
    assert "Max-Age=0;" in response.headers.getall("Set-Cookie")[0]


def test_a_value_that_could_inject_attributes_is_refused() -> None:
    tokens = _FakeTokens()
    tokens.access_token = "x; Domain=evil.example"
    with pytest.raises(ValueError):
        set_auth_cookies(_response(), tokens, Settings.for_testing(db_path="unused.db"), now=0.0)
