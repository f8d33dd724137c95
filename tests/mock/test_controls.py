"""Every mock control, from Python and over HTTP, on both transports (real socket and responses)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tokenconform_server.mock import fingerprint

TIMEOUT = 10


def login(mock: Any) -> dict[str, Any]:
    response = requests.post(
        f"{mock.url}/login", json={"email": mock.username, "password": mock.password}, timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def profile(mock: Any, access: str) -> requests.Response:
    return requests.get(f"{mock.url}/profile", headers={"Authorization": f"Bearer {access}"}, timeout=TIMEOUT)


def refresh(mock: Any, token: str) -> requests.Response:
    return requests.post(f"{mock.url}/refresh", json={"refreshToken": token}, timeout=TIMEOUT)


def control(mock: Any, method: str, name: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, f"{mock.url}/_mock/{name}", json=body, timeout=TIMEOUT)


def test_advance_past_the_access_ttl_refuses_the_access_token_and_the_refresh_still_works(mock):
    # Issue 9, "done when": log in, advance 16 minutes, access refused, refresh accepted.
    tokens = login(mock)
    assert profile(mock, tokens["accessToken"]).status_code == 200
    before = mock.now()
    mock.advance(16 * 60)
    assert mock.now() >= before + 16 * 60
    refused = profile(mock, tokens["accessToken"])
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["WWW-Authenticate"]
    assert refresh(mock, tokens["refreshToken"]).status_code == 200


def test_clock_over_http_advance_set_and_read(mock):
    tokens = login(mock)
    moved = control(mock, "POST", "clock", {"advance": 16 * 60})
    assert moved.status_code == 200 and moved.json()["offset"] >= 16 * 60 - 1
    assert profile(mock, tokens["accessToken"]).status_code == 401
    target = 2_000_000_000
    assert control(mock, "POST", "clock", {"set": target}).json()["now"] == pytest.approx(target, abs=5)
    assert control(mock, "GET", "clock").json()["now"] == pytest.approx(target, abs=5)
    mock.set_time(target + 10)
    assert mock.now() == pytest.approx(target + 10, abs=5)


def test_clock_refuses_bad_input(mock):
    assert control(mock, "POST", "clock", {"advance": "soon"}).status_code == 422
    assert control(mock, "POST", "clock", {"advance": 1, "set": 2}).status_code == 422
    assert control(mock, "POST", "clock", {}).status_code == 422
    bad_json = requests.post(
        f"{mock.url}/_mock/clock", data=b"{", headers={"Content-Type": "application/json"}, timeout=TIMEOUT
    )
    assert bad_json.status_code == 400 and bad_json.json() == {"message": "Malformed JSON"}


def test_expire_access_ends_issued_access_tokens_only(mock):
    tokens = login(mock)
    assert mock.expire("access") == 1
    assert profile(mock, tokens["accessToken"]).status_code == 401
    renewed = refresh(mock, tokens["refreshToken"])
    assert renewed.status_code == 200
    assert profile(mock, renewed.json()["accessToken"]).status_code == 200


def test_expire_refresh_over_http_by_user_keeps_access_tokens(mock):
    tokens = login(mock)
    answer = control(mock, "POST", "expire", {"what": "refresh", "user": mock.username})
    assert answer.json() == {"expired": 1, "what": "refresh"}
    assert refresh(mock, tokens["refreshToken"]).status_code == 401
    assert profile(mock, tokens["accessToken"]).status_code == 200


def test_expire_session_ends_everything_of_that_session_only(mock):
    first, second = login(mock), login(mock)
    session = next(e["session"] for e in mock.events() if e["issued_access"] == fingerprint(first["accessToken"]))
    assert mock.expire("session", session=session) == 1
    assert profile(mock, first["accessToken"]).status_code == 401
    assert refresh(mock, first["refreshToken"]).status_code == 401
    assert profile(mock, second["accessToken"]).status_code == 200
    assert control(mock, "POST", "expire", {"what": "everything"}).status_code == 422


def test_fail_next_answers_the_documented_503_with_retry_after_once(mock):
    tokens = login(mock)
    mock.fail_next("/refresh", 503, retry_after=2)
    failed = refresh(mock, tokens["refreshToken"])
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"
    assert failed.json() == {"message": "Service temporarily unavailable, try again"}
    assert refresh(mock, tokens["refreshToken"]).status_code == 200  # the token was not used up
    assert [e["fault"] for e in mock.events() if e["path"] == "/refresh"] == ["status", None]


def test_faults_over_http_401_with_challenge_count_and_listing(mock):
    tokens = login(mock)
    added = control(mock, "POST", "faults", {"path": "/profile", "status": 401, "count": 2})
    assert added.status_code == 201 and added.json()["fault"]["count"] == 2
    first = profile(mock, tokens["accessToken"])
    assert first.status_code == 401 and first.headers["WWW-Authenticate"].startswith("Bearer ")
    assert control(mock, "GET", "faults").json()["faults"][0]["count"] == 1
    assert profile(mock, tokens["accessToken"]).status_code == 401
    assert profile(mock, tokens["accessToken"]).status_code == 200
    assert control(mock, "GET", "faults").json() == {"faults": []}
    assert control(mock, "POST", "faults", {"path": "/profile"}).status_code == 422
    assert control(mock, "POST", "faults", {"path": "/_mock/clock", "status": 500}).status_code == 422


def test_fail_next_drop_closes_the_connection_without_an_answer(mock):
    tokens = login(mock)
    mock.fail_next("/profile", drop=True)
    with pytest.raises(requests.ConnectionError):
        profile(mock, tokens["accessToken"])
    assert profile(mock, tokens["accessToken"]).status_code == 200
    dropped = [e for e in mock.events() if e["fault"] == "drop"]
    assert len(dropped) == 1 and dropped[0]["status"] is None


def test_fail_next_delay_passes_through(mock):
    tokens = login(mock)
    control(mock, "POST", "faults", {"path": "/profile", "delay_ms": 20, "method": "GET"})
    assert profile(mock, tokens["accessToken"]).status_code == 200
    assert mock.events()[-1]["fault"] == "delay"


def test_revoke_family_kills_refresh_and_access_tokens(mock):
    tokens = login(mock)
    assert control(mock, "POST", "revoke-family", {"user": mock.username}).json() == {"revoked": 1}
    assert profile(mock, tokens["accessToken"]).status_code == 401
    assert refresh(mock, tokens["refreshToken"]).status_code == 401
    again = login(mock)
    assert mock.revoke_family() == 1  # only the live session; the revoked one is not counted again
    assert profile(mock, again["accessToken"]).status_code == 401


def test_reset_forgets_state_but_keeps_the_seeded_user(mock):
    tokens = login(mock)
    mock.advance(3600)
    mock.fail_next("/profile", 500)
    assert control(mock, "POST", "reset").json() == {"message": "Mock reset"}
    assert mock.events() == [] and abs(mock.now() - __import__("time").time()) < 60
    assert profile(mock, tokens["accessToken"]).status_code == 401  # old database: unknown session
    fresh = login(mock)
    assert profile(mock, fresh["accessToken"]).status_code == 200
    mock.reset()
    assert login(mock)["accessToken"]


def test_events_record_tokens_by_fingerprint_and_flag_reuse(mock):
    tokens = login(mock)
    rotated = refresh(mock, tokens["refreshToken"]).json()
    assert refresh(mock, tokens["refreshToken"]).status_code == 401  # reuse
    events = control(mock, "GET", "events").json()["events"]
    assert [(e["method"], e["path"], e["status"]) for e in events] == [
        ("POST", "/login", 200),
        ("POST", "/refresh", 200),
        ("POST", "/refresh", 401),
    ]
    assert events[0]["issued_refresh"] == fingerprint(tokens["refreshToken"])
    assert events[1]["refresh"] == fingerprint(tokens["refreshToken"]) and events[1]["refresh_via"] == "body"
    assert events[1]["issued_access"] == fingerprint(rotated["accessToken"])
    assert "reuse detected" in (events[2]["note"] or "")
    assert all(e["start"] < e["end"] for e in events)
    text = repr(events)
    for token in (tokens["accessToken"], tokens["refreshToken"], rotated["refreshToken"]):
        assert token not in text and token[-20:] not in text


def test_unknown_control_route_is_json_404(mock):
    answer = control(mock, "GET", "nothing")
    assert answer.status_code == 404 and answer.json() == {"message": "Not found"}
