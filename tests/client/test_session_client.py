"""TokenSession against the mock: attach, refresh once, single-flight, rotation, session end,
Retry-After, proactive refresh, and where each token may go; against small fakes behind
``responses``: double-submit CSRF (flask-jwt-extended's flow) and OAuth 2.0 client authentication."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import pytest
import responses

from tokenconform.profile import Profile, load_profile
from tokenconform.session_client import SessionExpired, TokenAuth, Tokens, TokenSession
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


# ---------------------------------------------------------------- double-submit CSRF (profile [csrf])


def _cookies(request) -> dict[str, str]:
    pairs = (p.strip().partition("=") for p in request.headers.get("Cookie", "").split(";") if p.strip())
    return {name: value for name, _, value in pairs}


class CsrfApi:
    """flask-jwt-extended's cookie flow behind ``responses``: every token comes with its own CSRF
    cookie, state-changing requests must echo that exact value in X-CSRF-TOKEN (refresh: the
    refresh token's, others: the access token's). ``rotate=False`` is the library's documented
    refresh, which sets a new access token only."""

    url = "http://csrf.example"

    def __init__(self, rsps: responses.RequestsMock, *, rotate: bool = False) -> None:
        self.rotate = rotate
        self.csrf: dict[str, str] = {}  # token -> the CSRF value issued with it
        self.count = 0
        #: (method, path, X-CSRF-TOKEN or None, status) per request
        self.seen: list[tuple[str, str, str | None, int]] = []
        for method, path, handler in (
            ("POST", "/login", self._login),
            ("POST", "/refresh", self._refresh),
            ("GET", "/protected", self._protected),
            ("POST", "/protected", self._protected),
            ("POST", "/logout", self._logout),
        ):
            rsps.add_callback(method, self.url + path, callback=self._recorded(handler))

    def _recorded(self, handler):
        def callback(request):
            status, headers, body = handler(request)
            self.seen.append((request.method, request.path_url, request.headers.get("X-CSRF-TOKEN"), status))
            return status, headers, body

        return callback

    def _issue(self, kind: str) -> list[tuple[str, str]]:
        self.count += 1
        token, csrf = f"{kind}-token-{self.count}", f"{kind}-csrf-{self.count}"
        self.csrf[token] = csrf
        return [
            ("Set-Cookie", f"{kind}_token_cookie={token}; Secure; HttpOnly; Path=/"),
            ("Set-Cookie", f"csrf_{kind}_token={csrf}; Secure; Path=/"),
        ]

    def _checked(self, request, kind: str) -> str | None:
        token = _cookies(request).get(f"{kind}_token_cookie")
        if token not in self.csrf:
            return None
        if request.method != "GET" and request.headers.get("X-CSRF-TOKEN") != self.csrf[token]:
            return None
        return token

    def _login(self, request):
        return 200, self._issue("access") + self._issue("refresh"), b'{"msg": "ok"}'

    def _refresh(self, request):
        if self._checked(request, "refresh") is None:
            return 401, [], b'{"msg": "refused"}'
        return 200, self._issue("access") + (self._issue("refresh") if self.rotate else []), b"{}"

    def _protected(self, request):
        return (200, [], b"{}") if self._checked(request, "access") else (401, [], b'{"msg": "refused"}')

    def _logout(self, request):
        token = self._checked(request, "access")
        if token is None:
            return 401, [], b"{}"
        del self.csrf[token]
        return 200, [], b"{}"

    def expire_access(self) -> None:
        self.csrf = {k: v for k, v in self.csrf.items() if not k.startswith("access")}


@pytest.fixture
def csrf_rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_csrf_header_carries_the_current_value_on_state_changing_requests_only(csrf_rsps):
    api = CsrfApi(csrf_rsps)
    session = TokenSession(api.url, "flask-jwt-extended")
    login = session.login("alice", "pw")
    assert (login.access_csrf, login.refresh_csrf) == ("access-csrf-1", "refresh-csrf-2")
    session.get("/protected")
    session.refresh()  # a new access token and CSRF value; the refresh pair stays
    session.post("/protected")
    api.expire_access()
    session.post("/protected")  # 401, refresh, retry
    session.logout()
    assert api.seen == [
        ("POST", "/login", None, 200),
        ("GET", "/protected", None, 200),
        ("POST", "/refresh", "refresh-csrf-2", 200),
        ("POST", "/protected", "access-csrf-3", 200),
        ("POST", "/protected", "access-csrf-3", 401),
        ("POST", "/refresh", "refresh-csrf-2", 200),
        ("POST", "/protected", "access-csrf-4", 200),
        ("POST", "/logout", "access-csrf-4", 200),
    ]


def test_csrf_values_rotate_with_the_pair_and_are_persisted_with_it(csrf_rsps):
    api = CsrfApi(csrf_rsps, rotate=True)
    saved: list[Tokens | None] = []
    session = TokenSession(api.url, "flask-jwt-extended", on_tokens=saved.append)
    session.login("alice", "pw")
    session.refresh()
    rotated = session.tokens
    assert rotated is not None and (rotated.access_csrf, rotated.refresh_csrf) == ("access-csrf-3", "refresh-csrf-4")
    assert "csrf-" not in repr(rotated)
    resumed = TokenSession(api.url, "flask-jwt-extended", tokens=saved[-1])
    resumed.refresh()
    resumed.post("/protected")
    assert api.seen[-2:] == [("POST", "/refresh", "refresh-csrf-4", 200), ("POST", "/protected", "access-csrf-5", 200)]


# ---------------------------------------------------------------- OAuth 2.0 client authentication


class OAuthApi:
    """An OAuth 2.0 token endpoint (password and refresh_token grants, rotation), RFC 7009
    revocation and a Bearer resource, behind ``responses``; it records what each request sent."""

    url = "https://as.example"

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.refresh_tokens: set[str] = set()
        self.count = 0
        #: (path, Authorization header or None, form fields) per token/revoke request
        self.seen: list[tuple[str, str | None, dict[str, str]]] = []
        rsps.add_callback("POST", self.url + "/oauth/token", callback=self._token)
        rsps.add_callback("POST", self.url + "/oauth/revoke", callback=self._revoke)
        rsps.add_callback("GET", self.url + "/userinfo", callback=lambda r: (200, [], b"{}"))

    def _form(self, request) -> dict[str, str]:
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        return dict(parse_qsl(request.body))

    def _token(self, request):
        form = self._form(request)
        self.seen.append(("/oauth/token", request.headers.get("Authorization"), form))
        if form["grant_type"] == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, [], b'{"error": "invalid_grant"}'
            self.refresh_tokens.discard(form["refresh_token"])
        self.count += 1
        refresh = f"refresh-{self.count}"
        self.refresh_tokens.add(refresh)
        body = {"access_token": f"access-{self.count}", "refresh_token": refresh, "token_type": "Bearer"}
        return 200, [], json.dumps(body)

    def _revoke(self, request):
        form = self._form(request)
        self.seen.append(("/oauth/revoke", request.headers.get("Authorization"), form))
        self.refresh_tokens.discard(form.get("token", ""))
        return 200, [], b""


CLIENT_ID, CLIENT_SECRET = "app client", "s3:cr/t+é"
#: RFC 6749 §2.3.1, written out: each part form-urlencoded, then "id:secret" in base64
BASIC = "Basic " + base64.b64encode(b"app%20client:s3%3Acr%2Ft%2B%C3%A9").decode()


def _with_client_auth(profile: Profile, mode: str, **logout_extra: str) -> Profile:
    def endpoint(spec):
        return dataclasses.replace(spec, endpoint=dataclasses.replace(spec.endpoint, client_auth=mode))

    assert profile.logout is not None
    logout = dataclasses.replace(endpoint(profile.logout), extra=logout_extra)
    return dataclasses.replace(profile, login=endpoint(profile.login), refresh=endpoint(profile.refresh), logout=logout)


def test_client_auth_basic_form_urlencodes_the_credentials(csrf_rsps):
    api = OAuthApi(csrf_rsps)
    session = TokenSession(api.url, "oauth2", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    session.login("alice", "pw")
    assert session.get("/userinfo").status_code == 200
    session.refresh()
    session.logout()
    assert api.seen == [
        (
            "/oauth/token",
            BASIC,
            {"grant_type": "password", "scope": "openid profile", "username": "alice", "password": "pw"},
        ),
        ("/oauth/token", BASIC, {"grant_type": "refresh_token", "refresh_token": "refresh-1"}),
        ("/oauth/revoke", BASIC, {"token": "refresh-2"}),
    ]
    assert api.refresh_tokens == set()


def test_client_auth_body_sends_the_credentials_as_fields(csrf_rsps):
    api = OAuthApi(csrf_rsps)
    profile = _with_client_auth(load_profile("oauth2"), "body", token_type_hint="refresh_token")
    session = TokenSession(api.url, profile, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    session.login("alice", "pw")
    session.refresh()
    session.logout()
    credentials = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert api.seen == [
        (
            "/oauth/token",
            None,
            {"grant_type": "password", "scope": "openid profile", "username": "alice", "password": "pw", **credentials},
        ),
        ("/oauth/token", None, {"grant_type": "refresh_token", "refresh_token": "refresh-1", **credentials}),
        ("/oauth/revoke", None, {"token_type_hint": "refresh_token", "token": "refresh-2", **credentials}),
    ]


def test_the_client_secret_is_never_shown(csrf_rsps):
    api = OAuthApi(csrf_rsps)
    secret = "VerySecret-Value-1234"
    session = TokenSession(api.url, "oauth2", client_id="app", client_secret=secret)
    auth = TokenAuth(api.url, "oauth2", client_id="app", client_secret=secret)
    session.login("alice", "pw")
    api.refresh_tokens.clear()
    with pytest.raises(SessionExpired) as caught:
        session.refresh()
    shown = [
        repr(session),
        str(session),
        repr(auth),
        str(auth),
        repr(session.tokens),
        str(caught.value),
        repr(caught.value),
    ]
    assert "'app'" in repr(session) and not [text for text in shown if secret in text]


def test_a_profile_with_client_auth_needs_a_client_id_before_any_request(csrf_rsps):
    with pytest.raises(ValueError, match=r"\[login\].*client_id="):
        TokenSession(OAuthApi.url, "oauth2")
    with pytest.raises(ValueError, match="client_id="):
        TokenAuth(OAuthApi.url, "oauth2", client_secret="only-a-secret")
    assert len(csrf_rsps.calls) == 0
