"""TokenAuth (the helper as a requests AuthBase) against the mock: attach, one refresh and one
resend per 401 with the 401 in history, single-flight across threads and sessions, session end,
where each token may go; and the double-submit CSRF header on any session it is set on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import responses

from tokenconform.session_client import SessionExpired, TokenAuth
from tokenconform_server.mock import fingerprint

from .test_session_client import CsrfApi


def logged_in(mock, **options) -> TokenAuth:
    auth = TokenAuth(mock.url, **options)
    auth.login(mock.username, mock.password)
    return auth


def paths(mock) -> list[str]:
    return [e["path"] for e in mock.events()]


def test_attaches_the_access_token_on_a_plain_call(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    auth = logged_in(mock)
    assert auth.tokens is not None
    response = requests.get(mock.url + "/profile", auth=auth)
    assert response.status_code == 200 and response.history == []
    assert mock.events()[-1]["access"] == fingerprint(auth.tokens.access_token)


def test_a_401_is_refreshed_once_and_resent_once_with_the_401_in_history(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    auth = logged_in(mock)
    with requests.Session() as http:
        http.auth = auth
        mock.expire("access")
        response = http.get(mock.url + "/profile")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert paths(mock) == ["/login", "/profile", "/refresh", "/profile"]
    assert auth.tokens is not None
    assert response.request.headers["Authorization"] == f"Bearer {auth.tokens.access_token}"
    assert mock.events()[-1]["access"] == fingerprint(auth.tokens.access_token)


def test_a_second_401_is_the_callers_answer(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    auth = logged_in(mock)
    mock.fail_next("/profile", 401, count=2)
    response = requests.get(mock.url + "/profile", auth=auth)
    assert response.status_code == 401 and [r.status_code for r in response.history] == [401]
    assert paths(mock) == ["/login", "/profile", "/refresh", "/profile"]


def test_concurrent_401s_across_threads_and_sessions_share_one_refresh(tokenconform_mock):
    mock = tokenconform_mock
    auth = logged_in(mock)
    mock.expire("access")
    shared = requests.Session()
    shared.auth = auth

    def call(number: int) -> int:
        # Half through one shared session, half through requests.get: the same auth object.
        if number % 2:
            return shared.get(mock.url + "/profile").status_code
        return requests.get(mock.url + "/profile", auth=auth).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(call, range(8)))
    shared.close()
    auth.close()
    assert statuses == [200] * 8
    assert paths(mock).count("/refresh") == 1


def test_a_401_answered_after_another_requests_refresh_takes_its_pair(tokenconform_responses_mock):
    """The interleaving the threaded test above may or may not hit, made certain: both requests
    present the old token; the later 401 must not refresh again (the pair it presented is gone)."""
    mock = tokenconform_responses_mock
    auth = logged_in(mock)
    mock.expire("access")
    with requests.Session() as http:
        http.auth = auth
        first, second = (http.prepare_request(requests.Request("GET", mock.url + "/profile")) for _ in range(2))
        assert first.headers["Authorization"] == second.headers["Authorization"]
        assert [http.send(first).status_code, http.send(second).status_code] == [200, 200]
    assert paths(mock) == ["/login", "/profile", "/refresh", "/profile", "/profile", "/profile"]
    assert [e["status"] for e in mock.events()] == [200, 401, 200, 200, 401, 200]


def test_a_refused_refresh_raises_session_expired_and_is_not_retried(tokenconform_mock):
    mock = tokenconform_mock
    auth = logged_in(mock)
    mock.revoke_family()
    errors: list[SessionExpired] = []
    lock = threading.Lock()

    def call(_: int) -> None:
        try:
            requests.get(mock.url + "/profile", auth=auth)
        except SessionExpired as exc:
            with lock:
                errors.append(exc)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(call, range(4)))
    assert len(errors) == 4 and paths(mock).count("/refresh") == 1
    response = errors[0].response
    assert response is not None and response.status_code == 401
    sent = len(mock.events())
    with pytest.raises(SessionExpired, match="log in again"):
        requests.get(mock.url + "/profile", auth=auth)
    assert len(mock.events()) == sent and auth.tokens is None
    auth.close()


def test_the_refresh_token_goes_to_the_refresh_endpoint_only(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    auth = logged_in(mock)
    with requests.Session() as http:
        http.auth = auth
        http.get(mock.url + "/profile")
        mock.expire("access")
        http.get(mock.url + "/profile")
        http.post(mock.url + "/logout")
        assert len(http.cookies) == 0  # the refresh cookie never reached the caller's jar
    for event in mock.events():
        if event["path"] != "/refresh":
            assert event["refresh"] is None, event
    assert paths(mock) == ["/login", "/profile", "/profile", "/refresh", "/profile", "/logout"]


def test_no_token_goes_to_another_origin(tokenconform_responses_mock):
    auth = logged_in(tokenconform_responses_mock)
    seen: list[dict[str, str]] = []

    def record(request):
        seen.append(dict(request.headers))
        return 401, {}, b"{}"

    tokenconform_responses_mock.rsps.add_callback(responses.GET, "http://elsewhere.example/x", callback=record)
    assert requests.get("http://elsewhere.example/x", auth=auth).status_code == 401
    assert len(seen) == 1 and "Authorization" not in seen[0] and "Cookie" not in seen[0]
    assert paths(tokenconform_responses_mock) == ["/login"]  # and its 401 refreshes nothing


def test_after_logout_no_request_is_sent(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    auth = logged_in(mock)
    auth.logout()
    with pytest.raises(SessionExpired, match="logged out"):
        requests.get(mock.url + "/profile", auth=auth)
    assert paths(mock) == ["/login", "/logout"]


def test_the_csrf_header_goes_on_state_changing_calls_with_the_current_value():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        api = CsrfApi(rsps)
        auth = TokenAuth(api.url, "flask-jwt-extended")
        auth.login("alice", "pw")
        with requests.Session() as http:
            http.auth = auth
            http.get(api.url + "/protected")
            http.post(api.url + "/protected")
            api.expire_access()
            retried = http.post(api.url + "/protected")
            assert retried.status_code == 200 and [r.status_code for r in retried.history] == [401]
            assert "refresh_token_cookie" not in retried.request.headers["Cookie"]
    assert api.seen == [
        ("POST", "/login", None, 200),
        ("GET", "/protected", None, 200),
        ("POST", "/protected", "access-csrf-1", 200),
        ("POST", "/protected", "access-csrf-1", 401),
        ("POST", "/refresh", "refresh-csrf-2", 200),
        ("POST", "/protected", "access-csrf-3", 200),
    ]


def test_a_bounded_retry_after_on_the_callers_request_is_waited_out_and_resent(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    slept: list[float] = []
    auth = logged_in(mock, sleep=slept.append)
    mock.fail_next("/profile", 503, retry_after=2)
    response = requests.get(mock.url + "/profile", auth=auth)
    assert response.status_code == 200 and [r.status_code for r in response.history] == [503]
    assert slept == [2.0]
    assert [e["status"] for e in mock.events() if e["path"] == "/profile"] == [503, 200]


def test_a_retry_after_beyond_the_budget_is_the_callers_answer(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    slept: list[float] = []
    auth = logged_in(mock, sleep=slept.append, max_retry_after=5)
    mock.fail_next("/profile", 429, retry_after=60)
    assert requests.get(mock.url + "/profile", auth=auth).status_code == 429
    assert slept == []


def test_retry_after_waits_are_bounded_in_number(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    slept: list[float] = []
    auth = logged_in(mock, sleep=slept.append, retry_after_attempts=2)
    mock.fail_next("/profile", 429, retry_after=1, count=5)
    assert requests.get(mock.url + "/profile", auth=auth).status_code == 429
    assert slept == [1.0, 1.0]
    assert [e["status"] for e in mock.events() if e["path"] == "/profile"] == [429, 429, 429]


def test_after_a_401_and_refresh_a_503_is_waited_out_with_the_new_token(tokenconform_responses_mock):
    mock = tokenconform_responses_mock
    slept: list[float] = []
    auth = logged_in(mock, sleep=slept.append)
    mock.expire("access")

    def fail_the_resend(event, app):  # the 503 must hit the resend, not the first call
        if event["path"] == "/refresh" and event["status"] == 200:
            mock.fail_next("/profile", 503, retry_after=1)

    mock.mock.on_response(fail_the_resend)
    with requests.Session() as http:
        http.auth = auth
        response = http.get(mock.url + "/profile")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401, 503]
    assert auth.tokens is not None
    assert mock.events()[-1]["access"] == fingerprint(auth.tokens.access_token)
    assert [e["path"] for e in mock.events()] == ["/login", "/profile", "/refresh", "/profile", "/profile"]
