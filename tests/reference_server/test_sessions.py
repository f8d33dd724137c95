"""sessions.py: the seed's rules and issue 2's, driven through SessionService with a fake clock."""

from __future__ import annotations

import json
import threading

import bcrypt
import pytest

from tokenconform_server import tokens
from tokenconform_server.errors import Conflict, TooManyRequests, Unauthorized, UnprocessableEntity
from tokenconform_server.sessions import IssuedTokens, SessionService

START = 1_800_000_000.0
PASSWORD = "correct horse battery"


class FakeClock:
    """An injected clock: tests move time, nothing sleeps."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_service(new_database, clock):
    """Services on a fresh database each, of the engine under test."""
    stores = []

    def make(**overrides):
        database = new_database()
        settings = database.settings(**overrides)
        store = database.open()
        stores.append(store)
        return SessionService(settings, store, clock=clock)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def service(make_service):
    return make_service(access_ttl=60, refresh_ttl=600, session_max_age=3600)


def register(service, name="ann", password=PASSWORD):
    return service.register(
        {"username": name, "email": f"{name}@example.com", "password": password, "fullName": name.title()}
    )


def login(service, name="ann", password=PASSWORD, user_agent="pytest/1"):
    return service.login({"email": f"{name}@example.com", "password": password}, user_agent=user_agent)


def rejected(call, *args, **kwargs) -> Unauthorized:
    with pytest.raises(Unauthorized) as info:
        call(*args, **kwargs)
    return info.value


# -- register -------------------------------------------------------------------------------------


def test_register_returns_the_public_user_only(service):
    user = register(service)
    assert set(user) == {"_id", "username", "email", "fullName"}
    assert user["username"] == "ann" and user["email"] == "ann@example.com" and user["fullName"] == "Ann"
    assert PASSWORD not in json.dumps(user) and "$2b$" not in json.dumps(user)


def test_register_hashes_with_the_configured_bcrypt_cost(service):
    user = register(service)
    stored = service.store.get_user(user["_id"])
    assert stored.password_hash.startswith("$2b$04$")
    assert bcrypt.checkpw(PASSWORD.encode(), stored.password_hash.encode())


GOOD = {"username": "ann", "email": "ann@example.com", "password": PASSWORD, "fullName": "Ann"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": None}, "username"),
        ({"email": None}, "email"),
        ({"password": None}, "password"),
        ({"fullName": None}, "fullName"),
        ({"username": 7}, "username"),
        ({"email": ["a@b.c"]}, "email"),
        ({"password": 12345678}, "password"),
        ({"fullName": {"first": "Ann"}}, "fullName"),
        ({"username": "   "}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "ann@localhost"}, "email"),
        ({"email": "ann @example.com"}, "email"),
        ({"password": "short7!"}, "password"),
        ({"password": "é" * 37}, "password"),  # 37 characters but 74 bytes: over bcrypt's 72
        ({"password": "x" * 73}, "password"),
        ({"username": "u" * 65}, "username"),
    ],
)
def test_register_validation_names_the_field(service, changes, field):
    body = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    with pytest.raises(UnprocessableEntity) as info:
        service.register(body)
    assert info.value.status == 422
    assert info.value.field == field
    assert field in info.value.message


@pytest.mark.parametrize("body", [None, [], "ann", 42, [GOOD]])
def test_register_refuses_a_body_that_is_not_an_object(service, body):
    with pytest.raises(UnprocessableEntity):
        service.register(body)


def test_password_of_exactly_72_bytes_is_accepted_and_works(service):
    password = "é" * 36  # 72 bytes
    register(service, password=password)
    assert login(service, password=password).tokens.access_token


@pytest.mark.parametrize(
    ("username", "email"),
    [("ann", "other@example.com"), ("ANN", "other@example.com"), ("bob", "ann@example.com")],
)
def test_duplicate_username_or_email_is_a_conflict(service, username, email):
    register(service)
    with pytest.raises(Conflict) as info:
        service.register({**GOOD, "username": username, "email": email})
    assert info.value.status == 409


# -- login ----------------------------------------------------------------------------------------


def test_login_issues_both_tokens_in_a_new_session(service, clock):
    user = register(service)
    result = login(service, user_agent="Firefox/200")
    assert result.user == user
    t = result.tokens
    access = tokens.decode_access(service.settings, t.access_token, now=clock())
    refresh = tokens.decode_refresh(service.settings, t.refresh_token, now=clock())
    assert access["_id"] == refresh["_id"] == user["_id"]
    assert access["sid"] == refresh["sid"] == t.session_id
    assert (access["email"], access["username"], access["fullName"], access["ver"]) == (
        "ann@example.com",
        "ann",
        "Ann",
        0,
    )
    assert t.access_expires_at == int(START) + 60 and t.refresh_expires_at == int(START) + 600
    assert service.store.get_session(t.session_id).user_agent == "Firefox/200"


def test_each_login_is_its_own_session_and_family(service):
    register(service)
    one, two = login(service, user_agent="phone"), login(service, user_agent="laptop")
    assert one.tokens.session_id != two.tokens.session_id
    assert one.tokens.refresh_token != two.tokens.refresh_token


def test_unknown_email_and_wrong_password_fail_identically(service):
    register(service)
    with pytest.raises(Unauthorized) as unknown:
        service.login({"email": "nobody@example.com", "password": PASSWORD}, user_agent="")
    with pytest.raises(Unauthorized) as wrong:
        service.login({"email": "ann@example.com", "password": "wrong password"}, user_agent="")
    for e in (unknown.value, wrong.value):
        assert e.status == 401
        assert json.dumps(e.to_dict()) == '{"message": "Invalid credentials"}'
    assert unknown.value.headers == wrong.value.headers
    assert "WWW-Authenticate" in unknown.value.headers


def test_unknown_email_still_costs_one_bcrypt_comparison(service, monkeypatch):
    register(service)
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, hashed: calls.append(hashed) or real(pw, hashed))
    for email in ("nobody@example.com", "ann@example.com"):
        rejected(service.login, {"email": email, "password": "wrong password"}, user_agent="")
    assert len(calls) == 2
    # The dummy hash has the same cost as a real one, so both take as long.
    assert calls[0].startswith(b"$2b$04$") and calls[1].startswith(b"$2b$04$")


def test_login_with_a_password_over_72_bytes_is_refused_not_a_crash(service):
    register(service, password="x" * 72)
    e = rejected(service.login, {"email": "ann@example.com", "password": "x" * 73}, user_agent="")
    assert e.message == "Invalid credentials"


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD},
        {"email": "ann@example.com"},
        {"email": 1, "password": PASSWORD},
        {"email": "a", "password": 1},
    ],
)
def test_login_with_missing_or_mistyped_fields_is_422(service, body):
    with pytest.raises(UnprocessableEntity):
        service.login(body, user_agent="")


@pytest.mark.parametrize("who", ["ann", "nobody"])
def test_failed_logins_are_throttled_per_account_known_or_not(make_service, clock, who):
    service = make_service(login_max_failures=3, login_failure_window=60)
    register(service)
    bad = {"email": f"{who}@example.com", "password": "wrong password"}
    for _ in range(3):
        rejected(service.login, bad, user_agent="")
        clock.advance(1)
    with pytest.raises(TooManyRequests) as info:
        # The key is the lower-cased email: changing case does not escape the throttle.
        service.login({**bad, "email": bad["email"].upper()}, user_agent="")
    assert info.value.status == 429
    assert info.value.retry_after == 57  # the oldest failure (t=0) leaves the window at t=60
    assert info.value.headers == {"Retry-After": "57"}
    # Even the right password is refused while throttled, or throttling would be an oracle.
    if who == "ann":
        with pytest.raises(TooManyRequests):
            login(service)
    # Other accounts are unaffected.
    register(service, "bob")
    assert login(service, "bob").tokens
    clock.advance(57)
    if who == "ann":
        assert login(service).tokens
    else:
        rejected(service.login, bad, user_agent="")


def test_unknown_and_known_accounts_throttle_identically(make_service):
    service = make_service(login_max_failures=2, login_failure_window=60)
    register(service)
    answers = []
    for email in ("ann@example.com", "nobody@example.com"):
        bad = {"email": email, "password": "wrong password"}
        rejected(service.login, bad, user_agent="")
        rejected(service.login, bad, user_agent="")
        with pytest.raises(TooManyRequests) as info:
            service.login(bad, user_agent="")
        answers.append((info.value.status, info.value.to_dict(), info.value.headers))
    assert answers[0] == answers[1]


def test_a_successful_login_clears_the_failures(make_service):
    service = make_service(login_max_failures=3, login_failure_window=60)
    register(service)
    for _ in range(2):
        rejected(service.login, {"email": "ann@example.com", "password": "nope nope"}, user_agent="")
    login(service)
    for _ in range(2):
        rejected(service.login, {"email": "ann@example.com", "password": "nope nope"}, user_agent="")
    assert login(service).tokens


# -- refresh --------------------------------------------------------------------------------------


def test_refresh_rotates_both_tokens_and_uses_up_the_presented_one(service, clock):
    register(service)
    first = login(service).tokens
    clock.advance(5)
    second = service.refresh(first.refresh_token)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert service.authenticate(second.access_token).session_id == first.session_id
    e = rejected(service.refresh, first.refresh_token)
    assert e.message == "Refresh token expired or used"
    assert 'error="invalid_token"' in e.headers["WWW-Authenticate"]


def test_reuse_revokes_the_whole_family(service, clock):
    """RFC 9700 §4.14.2: the legitimate client refreshed first; the attacker's replay of the
    old token kills the newest token (and its access tokens) too."""
    register(service)
    first = login(service).tokens
    second = service.refresh(first.refresh_token)
    rejected(service.refresh, first.refresh_token)  # the replay
    rejected(service.refresh, second.refresh_token)
    rejected(service.authenticate, second.access_token)
    rejected(service.authenticate, first.access_token)
    assert service.store.get_session(first.session_id).revoked_reason == "reuse"


def test_reuse_in_one_session_leaves_other_sessions_alone(service):
    register(service)
    phone, laptop = login(service).tokens, login(service).tokens
    service.refresh(phone.refresh_token)
    rejected(service.refresh, phone.refresh_token)
    assert service.authenticate(laptop.access_token).session_id == laptop.session_id
    assert service.refresh(laptop.refresh_token).session_id == laptop.session_id


def test_twenty_concurrent_refreshes_with_one_token_give_exactly_one_success(service):
    register(service)
    token = login(service).tokens.refresh_token
    barrier = threading.Barrier(20)
    results: list = [None] * 20

    def attempt(i):
        barrier.wait()
        try:
            results[i] = service.refresh(token)
        except Unauthorized as exc:
            results[i] = exc
        except BaseException as exc:  # anything else (e.g. "database is locked") is a failure
            results[i] = ("unexpected", exc)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [r for r in results if isinstance(r, IssuedTokens)]
    losers = [r for r in results if isinstance(r, Unauthorized)]
    assert len(winners) == 1 and len(losers) == 19, results
    # The losers presented a used token, so the family is revoked: the winner's tokens die too.
    rejected(service.refresh, winners[0].refresh_token)


def test_refresh_without_a_token_is_401_without_an_error_code(service):
    for missing in (None, ""):
        e = rejected(service.refresh, missing)
        assert e.message == "Refresh token required"
        assert e.headers["WWW-Authenticate"] == 'Bearer realm="tokenconform"'


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "e" * 20000, "Bearer abc"])
def test_refresh_with_garbage_is_401_invalid_token(service, garbage):
    e = rejected(service.refresh, garbage)
    assert e.message == "Invalid refresh token"
    assert 'error="invalid_token"' in e.headers["WWW-Authenticate"]


def test_an_access_token_is_not_a_refresh_token_and_vice_versa(service):
    register(service)
    t = login(service).tokens
    rejected(service.refresh, t.access_token)
    rejected(service.authenticate, t.refresh_token)
    assert service.refresh(t.refresh_token)  # neither attempt used anything up


def test_expired_refresh_token_is_rejected(service, clock):
    register(service)
    t = login(service).tokens
    clock.now = t.refresh_expires_at
    rejected(service.refresh, t.refresh_token)


def test_each_rotation_gets_a_fresh_ttl_capped_at_the_absolute_expiry(make_service, clock):
    """ASVS 5.0 §10.4.8: sliding refresh lifetime, but never past session_max_age."""
    service = make_service(access_ttl=30, refresh_ttl=60, session_max_age=100)
    register(service)
    t = login(service).tokens
    cap = int(START) + 100
    assert t.refresh_expires_at == int(START) + 60
    clock.advance(50)
    t = service.refresh(t.refresh_token)
    assert t.refresh_expires_at == cap  # min(START + 110, cap)
    clock.advance(30)
    t = service.refresh(t.refresh_token)
    assert t.refresh_expires_at == cap
    assert t.access_expires_at == cap  # min(START + 110, cap): access tokens are capped too
    clock.now = cap - 1
    t = service.refresh(t.refresh_token)
    assert t.refresh_expires_at == cap
    clock.now = cap
    rejected(service.refresh, t.refresh_token)
    rejected(service.authenticate, t.access_token)


# -- authenticate and profile ---------------------------------------------------------------------


def test_authenticate_and_profile(service):
    user = register(service)
    t = login(service).tokens
    principal = service.authenticate(t.access_token)
    assert (principal.user_id, principal.session_id) == (user["_id"], t.session_id)
    assert service.profile(principal) == user


def test_authenticate_without_a_token_has_no_error_code(service):
    for missing in (None, ""):
        e = rejected(service.authenticate, missing)
        assert e.message == "Access denied"
        # RFC 6750 §3.1: no error information when the request had no authentication.
        assert e.headers == {"WWW-Authenticate": 'Bearer realm="tokenconform"'}


def test_expired_access_token_says_so_in_the_challenge(service, clock):
    register(service)
    t = login(service).tokens
    clock.now = t.access_expires_at
    e = rejected(service.authenticate, t.access_token)
    assert e.message == "Invalid token"
    assert e.headers["WWW-Authenticate"] == (
        'Bearer realm="tokenconform", error="invalid_token", error_description="The access token expired"'
    )


def test_access_token_of_a_deleted_or_foreign_session_is_rejected(service):
    register(service)
    t = login(service).tokens
    service.store.revoke_session(t.session_id, reason="test", now=START)
    e = rejected(service.authenticate, t.access_token)
    assert 'error="invalid_token"' in e.headers["WWW-Authenticate"]


# -- logout ---------------------------------------------------------------------------------------


def test_logout_revokes_this_session_only(service):
    register(service)
    phone, laptop = login(service, user_agent="phone").tokens, login(service, user_agent="laptop").tokens
    service.logout(access_token=phone.access_token, refresh_token=None)
    rejected(service.authenticate, phone.access_token)
    rejected(service.refresh, phone.refresh_token)
    assert service.authenticate(laptop.access_token).session_id == laptop.session_id
    assert service.refresh(laptop.refresh_token)


def test_logout_with_the_refresh_token_when_the_access_token_expired(service, clock):
    register(service)
    t = login(service).tokens
    clock.now = t.access_expires_at + 1
    service.logout(access_token=t.access_token, refresh_token=t.refresh_token)
    assert service.store.get_session(t.session_id).revoked_reason == "logout"
    rejected(service.refresh, t.refresh_token)
    # Logging out again with the same tokens: neither is valid any more.
    rejected(service.logout, access_token=t.access_token, refresh_token=t.refresh_token)


def test_logout_with_a_used_refresh_token_is_401_and_revokes_the_family(service):
    register(service)
    first = login(service).tokens
    second = service.refresh(first.refresh_token)
    rejected(service.logout, access_token=None, refresh_token=first.refresh_token)
    rejected(service.refresh, second.refresh_token)


def test_logout_needs_some_valid_token(service):
    e = rejected(service.logout, access_token=None, refresh_token=None)
    assert "error=" not in e.headers["WWW-Authenticate"]
    e = rejected(service.logout, access_token="garbage", refresh_token="garbage")
    assert 'error="invalid_token"' in e.headers["WWW-Authenticate"]


def test_logout_all_kills_every_session_and_old_access_tokens(service):
    register(service)
    register(service, "bob")
    sessions = [login(service).tokens for _ in range(3)]
    bob = login(service, "bob").tokens
    service.logout_all(sessions[0].access_token)
    for t in sessions:
        rejected(service.authenticate, t.access_token)
        rejected(service.refresh, t.refresh_token)
    assert service.authenticate(bob.access_token)
    # A new login afterwards carries the new token version and works.
    fresh = login(service).tokens
    assert tokens.decode_access(service.settings, fresh.access_token, now=START)["ver"] == 1
    assert service.authenticate(fresh.access_token)
    rejected(service.logout_all, sessions[1].access_token)


def test_check_reuse_uses_nothing_up_but_revokes_on_a_used_token(service):
    register(service)
    first = login(service).tokens
    service.check_reuse(first.refresh_token)  # current: nothing happens
    service.check_reuse("garbage")
    service.check_reuse(None)
    second = service.refresh(first.refresh_token)
    service.check_reuse(first.refresh_token)  # used: the family goes
    rejected(service.refresh, second.refresh_token)


# -- no secrets anywhere --------------------------------------------------------------------------


def test_no_password_or_hash_in_any_token_or_return_value(service):
    user = register(service)
    result = login(service)
    refreshed = service.refresh(result.tokens.refresh_token)
    principal = service.authenticate(refreshed.access_token)
    stored_hash = service.store.get_user(user["_id"]).password_hash
    texts = [
        json.dumps(user),
        repr(result),
        repr(refreshed),
        json.dumps(service.profile(principal)),
        json.dumps(principal.claims),
    ]
    for issued in (result.tokens, refreshed):
        texts.append(json.dumps(tokens.decode_access(service.settings, issued.access_token, now=START)))
        texts.append(json.dumps(tokens.decode_refresh(service.settings, issued.refresh_token, now=START)))
    for text in texts:
        assert PASSWORD not in text
        assert stored_hash not in text
        assert "$2b$" not in text
        assert "password" not in text.lower()
