"""Real expiry on the wire: tokens issued with 1-2 s TTLs, checked after one shared wait.

Forged expired tokens (test_http_sessions.py) cover the decoding; these tests show that the
TTL settings really end up in ``exp``. Every session is arranged first, then the module waits
once, so the waits overlap instead of adding up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tokenconform_server.server import ReferenceServer

from .conftest import Api, Tokens
from .engines import Databases

pytestmark = pytest.mark.slow

#: access tokens die after 1 s; refresh tokens live on, or die after 2 s on the second server.
ACCESS_TTL, LONG_REFRESH_TTL, SHORT_REFRESH_TTL = 1, 60, 2


@dataclass
class Expired:
    api: Api
    short_api: Api
    #: logged in on the long-refresh server, then left alone
    idle: Tokens
    #: logged in on the long-refresh server, for a logout with the refresh token
    leaving: Tokens
    #: logged in on the short-refresh server
    short: Tokens


@pytest.fixture(scope="module")
def expired(databases: Databases) -> Iterator[Expired]:
    made = [databases.create(), databases.create()]
    servers = [
        ReferenceServer(database.settings(access_ttl=ACCESS_TTL, refresh_ttl=refresh_ttl)).start()
        for database, refresh_ttl in zip(made, (LONG_REFRESH_TTL, SHORT_REFRESH_TTL), strict=True)
    ]
    api, short_api = Api(servers[0]), Api(servers[1])
    try:
        user, short_user = api.new_user(), short_api.new_user()
        arranged = Expired(api, short_api, api.login(user), api.login(user), short_api.login(short_user))
        # exp is the whole-second iat plus the TTL, so never later than login time + TTL: a
        # little over the longest TTL and every token above is past its exp.
        time.sleep(SHORT_REFRESH_TTL + 0.2)
        yield arranged
    finally:
        for client in (api, short_api):
            client.session.close()
        for server in servers:
            server.stop()
        for database in made:
            databases.drop(database)


def test_expired_access_token_is_401_invalid_token(expired: Expired) -> None:
    reply = expired.api.profile(expired.idle.access)
    assert reply.status == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_refresh_still_works_after_the_access_token_expired(expired: Expired) -> None:
    reply = expired.api.refresh(expired.idle.refresh)
    assert reply.status == 200
    assert expired.api.profile(reply.json()["accessToken"]).status == 200


def test_logout_with_expired_access_token_uses_the_refresh_token(expired: Expired) -> None:
    leaving = expired.leaving
    reply = expired.api.request("POST", "/logout", bearer=leaving.access, cookies={"refreshToken": leaving.refresh})
    assert reply.status == 200
    assert expired.api.refresh(leaving.refresh).status == 401


def test_expired_refresh_token_is_401(expired: Expired) -> None:
    assert expired.short_api.refresh(expired.short.refresh).status == 401


def test_cookie_max_age_matches_the_short_ttls(expired: Expired) -> None:
    reply = expired.short.reply
    assert int(reply.cookie("accessToken")["max-age"]) <= ACCESS_TTL
    assert int(reply.cookie("refreshToken")["max-age"]) <= SHORT_REFRESH_TTL
