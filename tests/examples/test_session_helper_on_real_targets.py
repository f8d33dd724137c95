"""The client helper (TokenSession and TokenAuth) on the real example targets, with their profiles.

Each target (examples/targets/*, venvs from ``bash examples/targets/setup.sh``) is started once
for the module on 127.0.0.1:0 with a 2-second access token, so the 401 path is the real one: the
helper logs in, calls the protected route, refreshes, waits the access token out, is refused once,
refreshes once and retries, logs out, and then the session is over in the helper and at the server.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tokenconform.profile import Profile, load_profile
from tokenconform.session_client import SessionExpired, TokenAuth, Tokens, TokenSession

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "targets"))

import launch  # noqa: E402  (examples/targets/launch.py)

pytestmark = pytest.mark.slow

NAMES = list(launch.TARGETS)
#: short enough to wait out, long enough for a call to land before it ends
ACCESS_TTL = "2"


@dataclass(frozen=True)
class Running:
    url: str
    profile: Profile
    environ: dict[str, str]

    @property
    def credentials(self) -> tuple[str, str]:
        return self.environ["TOKENCONFORM_USERNAME"], self.environ["TOKENCONFORM_PASSWORD"]

    @property
    def client(self) -> dict[str, Any]:
        """client_id / client_secret for the OAuth 2.0 target, nothing for the others."""
        if "TOKENCONFORM_CLIENT_ID" not in self.environ:
            return {}
        return {
            "client_id": self.environ["TOKENCONFORM_CLIENT_ID"],
            "client_secret": self.environ["TOKENCONFORM_CLIENT_SECRET"],
        }

    def protected(self, send: Callable[..., requests.Response]) -> requests.Response:
        endpoint = self.profile.protected.endpoint
        return send(endpoint.method, self.url + endpoint.path)


@pytest.fixture(scope="module")
def targets() -> Iterator[Callable[[str], Running]]:
    """Each target started on first use and stopped when the module is done."""
    with contextlib.ExitStack() as stack:
        cache: dict[str, Running] = {}

        def get(name: str) -> Running:
            if name not in cache:
                target = launch.TARGETS[name]
                environ = {**launch.environ_for(target), "ACCESS_TTL": ACCESS_TTL, "REFRESH_TTL": "300"}
                process = stack.enter_context(launch.started(target, environ))
                cache[name] = Running(process.url, load_profile(target.profile_argument), environ)
            return cache[name]

        yield get


def wait_out(tokens: Tokens | None) -> None:
    """Sleep past the access token's exp (the targets check it with no leeway)."""
    assert tokens is not None and tokens.access_expires_at is not None
    time.sleep(max(0.0, tokens.access_expires_at - time.time() + 0.5))


def assert_refused_by_the_server(running: Running, tokens: Tokens) -> None:
    """The last pair, persisted and resumed in a fresh helper, cannot be refreshed any more."""
    with TokenSession(running.url, running.profile, tokens=tokens, **running.client) as resumed:
        with pytest.raises(SessionExpired) as caught:
            resumed.refresh()
        response = caught.value.response
        assert response is not None and response.status_code in running.profile.policy.refresh_rejection_status
        # The CSRF value travelled with the resumed pair: the refusal is the logout's, not a missing header.
        assert "csrf" not in response.text.lower(), response.text
        if running.profile.policy.access_token_revoked_at_logout:
            with pytest.raises(SessionExpired):
                running.protected(resumed.request)


@pytest.mark.parametrize("name", NAMES)
def test_token_session_lives_refreshes_and_ends(targets: Callable[[str], Running], name: str) -> None:
    running = targets(name)
    saved: list[Tokens | None] = []
    with TokenSession(running.url, running.profile, on_tokens=saved.append, **running.client) as session:
        first = session.login(*running.credentials)
        assert running.protected(session.request).status_code == 200
        second = session.refresh()
        assert second.access_token != first.access_token
        assert running.protected(session.request).status_code == 200

        wait_out(session.tokens)
        before = len(saved)
        assert running.protected(session.request).status_code == 200
        assert len(saved) == before + 1, "one refresh after the expired access token's 401"

        last = session.tokens
        assert last is not None
        logout = session.logout()
        assert running.profile.logout is not None and logout is not None
        assert logout.status_code in running.profile.logout.endpoint.success_status, logout.text
        assert saved[-1] is None and session.tokens is None
        with pytest.raises(SessionExpired):
            running.protected(session.request)
    assert_refused_by_the_server(running, last)


@pytest.mark.parametrize("name", NAMES)
def test_token_auth_on_a_plain_requests_session(targets: Callable[[str], Running], name: str) -> None:
    running = targets(name)
    with TokenAuth(running.url, running.profile, **running.client) as auth, requests.Session() as http:
        http.auth = auth
        first = auth.login(*running.credentials)
        assert running.protected(http.request).status_code == 200
        assert auth.refresh().access_token != first.access_token
        assert running.protected(http.request).status_code == 200

        wait_out(auth.tokens)
        response = running.protected(http.request)
        assert response.status_code == 200
        assert [r.status_code for r in response.history] == [401]

        last = auth.tokens
        assert last is not None
        auth.logout()
        with pytest.raises(SessionExpired):
            running.protected(http.request)
    assert_refused_by_the_server(running, last)


@pytest.fixture
def flask_target(targets: Callable[[str], Running]) -> Running:
    running = targets("flask-jwt-extended")
    assert running.profile.csrf is not None and running.profile.logout is not None
    return running


def test_a_cookie_authenticated_post_carries_the_current_csrf_value(flask_target: Running) -> None:
    """flask-jwt-extended refuses a cookie-authenticated POST without the double-submit header, so a
    logout posted through a plain session carrying the auth (after a refresh rotated the access
    CSRF value) going through shows the header and its value; the session is then over."""
    running = flask_target
    assert running.profile.csrf is not None and running.profile.logout is not None  # for mypy
    with TokenAuth(running.url, running.profile) as auth, requests.Session() as http:
        first = auth.login(*running.credentials)
        second = auth.refresh()
        assert second.access_csrf and second.access_csrf != first.access_csrf
        response = http.post(running.url + running.profile.logout.endpoint.path, auth=auth)
        assert response.status_code == 200, response.text
        assert response.request.headers[running.profile.csrf.header] == second.access_csrf
        with pytest.raises(SessionExpired):
            running.protected(lambda method, url: http.request(method, url, auth=auth))
