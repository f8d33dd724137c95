"""TokenSession against the mock: attach, refresh once, single-flight, rotation, session end,
Retry-After, proactive refresh, and where each token may go."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses

from tokenconform.session_client import SessionExpired, Tokens, TokenSession
from tokenconform_server.mock import fingerprint


def logged_in(mock, **options) -> TokenSession:
    session = TokenSession(mock.url, **options)
    session.login(mock.username, mock.password)
    return session


def paths(mock) -> list[str]:
    return [e["path"] for e in mock.events()]


def test_attaches_the_access_token_and_refreshes_once_on_401(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    session = logged_in(mock)
    assert session.get("/profile").status_code == 200
    mock.expire("access")
    assert session.get("/profile").status_code == 200
    assert paths(mock) == ["/login", "/profile", "/profile", "/refresh", "/profile"]
    assert [e["status"] for e in mock.events()] == [200, 200, 401, 200, 200]


def test_concurrent_401s_share_one_refresh(tokenconform_mock):
    mock = tokenconform_mock
    session = logged_in(mock)
    mock.expire("access")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: session.get("/profile").status_code, range(8)))
    assert statuses == [200] * 8
    assert paths(mock).count("/refresh") == 1
    session.close()


def test_rotated_refresh_token_replaces_the_old_one_and_is_persisted(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    saved: list[Tokens | None] = []
    session = logged_in(mock, on_tokens=saved.append)
    first = session.tokens
    assert first is not None and saved == [first]
    session.refresh()
    second = session.tokens
    assert second is not None and second.refresh_token != first.refresh_token and saved[-1] is second
    mock.expire("access")
    assert session.get("/profile").status_code == 200
    presented = [e["refresh"] for e in mock.events() if e["path"] == "/refresh"]
    assert presented == [fingerprint(first.refresh_token), fingerprint(second.refresh_token or "")]
    assert "tok" not in repr(second).lower().replace("tokens(", "")


def test_refused_refresh_raises_session_expired_and_never_retries(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    saved: list[Tokens | None] = []
    session = logged_in(mock, on_tokens=saved.append)
    mock.revoke_family()
    with pytest.raises(SessionExpired, match="log in again") as caught:
        session.get("/profile")
    assert caught.value.response is not None and caught.value.response.status_code == 401
    with pytest.raises(SessionExpired):
        session.get("/profile")
    assert paths(mock).count("/refresh") == 1 and saved[-1] is None and session.tokens is None


def test_the_refresh_token_goes_to_the_refresh_endpoint_only(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    session = logged_in(mock)
    mock.expire("access")
    session.get("/profile")
    session.post("/logout")
    for event in mock.events():
        if event["path"] != "/refresh":
            assert event["refresh"] is None, event
    assert [e["refresh_via"] for e in mock.events() if e["path"] == "/refresh"] == ["cookie"]


def test_retry_after_is_waited_out_then_the_refresh_goes_through(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    slept: list[float] = []
    session = logged_in(mock, sleep=slept.append)
    mock.expire("access")
    mock.fail_next("/refresh", 503, retry_after=2)
    assert session.get("/profile").status_code == 200
    assert slept == [2.0]
    assert [e["status"] for e in mock.events() if e["path"] == "/refresh"] == [503, 200]


def test_a_retry_after_beyond_the_budget_is_returned_not_waited(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    slept: list[float] = []
    session = logged_in(mock, sleep=slept.append, max_retry_after=5)
    mock.fail_next("/profile", 429, retry_after=60)
    assert session.get("/profile").status_code == 429
    assert slept == []


def test_proactive_refresh_before_exp_and_capped_at_half_the_lifetime(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    now = [0.0]
    session = TokenSession(mock.url, refresh_margin=3600, clock=lambda: now[0])
    session.login(mock.username, mock.password)
    tokens = session.tokens
    assert tokens is not None and tokens.access_expires_at and tokens.access_lifetime == 900
    now[0] = tokens.access_expires_at - 600  # 10 min left: outside the capped 450 s margin
    session.get("/profile")
    assert paths(mock).count("/refresh") == 0
    now[0] = tokens.access_expires_at - 60
    mock.advance(840)  # the server's clock agrees with the client's, so the new token is fresh
    session.get("/profile")
    session.get("/profile")
    assert paths(mock).count("/refresh") == 1


def test_no_token_goes_to_another_origin(tokenconform_responses_mock):
    session = logged_in(tokenconform_responses_mock)
    seen: list[dict[str, str]] = []

    def record(request):
        seen.append(dict(request.headers))
        return 200, {}, b"{}"

    tokenconform_responses_mock.rsps.add_callback(responses.GET, "http://elsewhere.example/x", callback=record)
    assert session.get("http://elsewhere.example/x").status_code == 200
    assert "Authorization" not in seen[0] and "Cookie" not in seen[0]


def test_positional_request_options_are_refused(tokenconform_responses_mock):
    session = logged_in(tokenconform_responses_mock)
    with pytest.raises(TypeError):
        session.request("GET", "/profile", {"q": "1"})


def test_waiting_threads_do_not_refresh_again_after_a_refused_refresh(tokenconform_mock):
    mock = tokenconform_mock
    session = logged_in(mock)
    mock.expire("access")
    mock.expire("refresh")
    errors: list[BaseException] = []
    lock = threading.Lock()

    def call(_: int) -> None:
        try:
            session.get("/profile")
        except SessionExpired as exc:
            with lock:
                errors.append(exc)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(call, range(6)))
    assert len(errors) == 6 and paths(mock).count("/refresh") == 1
    session.close()
