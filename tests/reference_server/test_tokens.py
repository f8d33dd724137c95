"""tokens.py: typed access/refresh JWTs with pinned algorithm, iss/aud, and clock-driven expiry.

Hostile tokens are forged with ``hmac`` and ``base64`` directly, not through ``jwt.encode``
(STYLE.md: PyJWT warns on weak keys, and warnings are errors here).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from tokenconform_server import tokens
from tokenconform_server.config import Settings
from tokenconform_server.tokens import InvalidToken

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def settings():
    return Settings.for_testing(db_path="unused.db", access_ttl=900, refresh_ttl=3600)


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def forge(header: dict, payload: dict, key: str | bytes, digest=hashlib.sha256) -> str:
    """A compact JWS signed with HMAC by hand."""
    key = key.encode() if isinstance(key, str) else key
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(payload).encode())
    signature = hmac.new(key, signing_input, digest).digest()
    return (signing_input + b"." + b64(signature)).decode()


def parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def access(settings, now=NOW, **kw):
    args = dict(
        user_id="u1",
        email="ann@example.com",
        username="ann",
        full_name="Ann Example",
        session_id="s1",
        token_version=0,
        now=now,
    )
    args.update(kw)
    return tokens.issue_access(settings, **args)


def access_payload(settings, **changes):
    payload = {
        "_id": "u1",
        "email": "ann@example.com",
        "username": "ann",
        "fullName": "Ann Example",
        "sid": "s1",
        "ver": 0,
        "jti": "j",
        "iat": int(NOW),
        "exp": int(NOW) + 60,
        "iss": settings.issuer,
        "aud": settings.audience,
    }
    payload.update(changes)
    return payload


def test_access_token_round_trip_has_exactly_the_contract_claims(settings):
    issued = access(settings)
    claims = tokens.decode_access(settings, issued.token, now=NOW + 1)
    assert set(claims) == {"_id", "email", "username", "fullName", "iat", "exp", "sid", "ver", "jti", "iss", "aud"}
    assert claims["_id"] == "u1" and claims["sid"] == "s1" and claims["ver"] == 0
    assert claims["fullName"] == "Ann Example"
    assert claims["jti"] == issued.jti
    assert claims["exp"] - claims["iat"] == settings.access_ttl == issued.expires_at - int(NOW)


def test_refresh_token_round_trip_carries_nothing_personal(settings):
    issued = tokens.issue_refresh(settings, user_id="u1", session_id="s1", now=NOW)
    claims = tokens.decode_refresh(settings, issued.token, now=NOW)
    assert set(claims) == {"_id", "sid", "jti", "iat", "exp", "iss", "aud"}
    assert claims["exp"] - claims["iat"] == settings.refresh_ttl


def test_headers_are_explicitly_typed_rfc_8725_3_11(settings):
    header, _ = parts(access(settings).token)
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    header, _ = parts(tokens.issue_refresh(settings, user_id="u", session_id="s", now=NOW).token)
    assert header == {"alg": "HS256", "typ": "rt+jwt"}


def test_iss_and_aud_are_set(settings):
    _, payload = parts(access(settings).token)
    assert payload["iss"] == settings.issuer and payload["aud"] == settings.audience


def test_not_after_caps_both_kinds(settings):
    cap = int(NOW) + 10
    assert access(settings, not_after=cap).expires_at == cap
    issued = tokens.issue_refresh(settings, user_id="u", session_id="s", now=NOW, not_after=cap)
    assert issued.expires_at == cap == parts(issued.token)[1]["exp"]


def test_refresh_jti_can_be_chosen_and_jtis_are_unique_and_long(settings):
    issued = tokens.issue_refresh(settings, user_id="u", session_id="s", now=NOW, jti="given")
    assert issued.jti == "given"
    jtis = {tokens.new_jti() for _ in range(1000)}
    assert len(jtis) == 1000
    assert all(len(j) >= 22 for j in jtis)  # >= 16 random bytes in base64url


def test_refresh_token_is_never_accepted_as_access_token(settings):
    refresh = tokens.issue_refresh(settings, user_id="u1", session_id="s1", now=NOW).token
    with pytest.raises(InvalidToken):
        tokens.decode_access(settings, refresh, now=NOW)


def test_access_token_is_never_accepted_as_refresh_token(settings):
    with pytest.raises(InvalidToken):
        tokens.decode_refresh(settings, access(settings).token, now=NOW)


def test_typ_is_checked_even_with_the_right_key(settings):
    # Same key as access tokens, right claims, wrong typ: only the typ check stops it.
    for typ in ("rt+jwt", "JWT", None):
        header = {"alg": "HS256"} if typ is None else {"alg": "HS256", "typ": typ}
        token = forge(header, access_payload(settings), settings.access_secret)
        with pytest.raises(InvalidToken, match="wrong token type"):
            tokens.decode_access(settings, token, now=NOW)


def test_typ_compares_case_insensitively_with_optional_application_prefix(settings):
    # RFC 7515 §4.1.9
    for typ in ("AT+JWT", "application/at+jwt"):
        token = forge({"alg": "HS256", "typ": typ}, access_payload(settings), settings.access_secret)
        assert tokens.decode_access(settings, token, now=NOW)["_id"] == "u1"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_rejected(settings, alg):
    header = b64(json.dumps({"alg": alg, "typ": "at+jwt"}).encode())
    payload = b64(json.dumps(access_payload(settings)).encode())
    for signature in (b"", b"xyz"):
        token = (header + b"." + payload + b"." + signature).decode()
        with pytest.raises(InvalidToken):
            tokens.decode_access(settings, token, now=NOW)


def test_other_hmac_algorithm_with_the_right_secret_is_rejected(settings):
    token = forge(
        {"alg": "HS512", "typ": "at+jwt"},
        access_payload(settings),
        settings.access_secret,
        hashlib.sha512,
    )
    with pytest.raises(InvalidToken):
        tokens.decode_access(settings, token, now=NOW)


def test_bad_signature_is_rejected(settings):
    token = access(settings).token
    header, payload, signature = token.split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered["_id"] = "someone-else"
    for bad in (
        f"{header}.{b64(json.dumps(tampered).encode()).decode()}.{signature}",
        f"{header}.{payload}.{signature[:-4]}",
        f"{header}.{payload}.",
        forge({"alg": "HS256", "typ": "at+jwt"}, access_payload(settings), "k" * 32),
    ):
        with pytest.raises(InvalidToken):
            tokens.decode_access(settings, bad, now=NOW)


def test_other_issuer_or_audience_is_rejected(settings):
    for changes in ({"iss": "other"}, {"aud": "other"}, {"aud": [settings.audience, "x"]}):
        token = forge(
            {"alg": "HS256", "typ": "at+jwt"},
            access_payload(settings, **changes),
            settings.access_secret,
        )
        with pytest.raises(InvalidToken):
            tokens.decode_access(settings, token, now=NOW)


def test_expiry_follows_the_injected_clock(settings):
    issued = access(settings)
    assert tokens.decode_access(settings, issued.token, now=issued.expires_at - 0.001)
    # RFC 7519 §4.1.4: "MUST be before the expiration date/time"
    for now in (issued.expires_at, issued.expires_at + 3600):
        with pytest.raises(InvalidToken) as info:
            tokens.decode_access(settings, issued.token, now=now)
        assert info.value.expired


def test_token_issued_in_the_future_is_rejected(settings):
    with pytest.raises(InvalidToken, match="future"):
        tokens.decode_access(settings, access(settings, now=NOW + 100).token, now=NOW)


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sid", "ver", "_id", "iss", "aud"])
def test_missing_required_claims_are_rejected(settings, claim):
    payload = access_payload(settings)
    del payload[claim]
    token = forge({"alg": "HS256", "typ": "at+jwt"}, payload, settings.access_secret)
    with pytest.raises(InvalidToken):
        tokens.decode_access(settings, token, now=NOW)


@pytest.mark.parametrize(
    "changes",
    [{"exp": "soon"}, {"exp": {"a": 1}}, {"iat": 1.5e400}, {"ver": True}, {"sid": 7}, {"_id": None}],
)
def test_wrongly_typed_claims_are_rejected(settings, changes):
    payload = access_payload(settings, **changes)
    token = forge({"alg": "HS256", "typ": "at+jwt"}, payload, settings.access_secret)
    with pytest.raises(InvalidToken):
        tokens.decode_access(settings, token, now=NOW)


def test_critical_header_extensions_are_rejected(settings):
    header = {"alg": "HS256", "typ": "at+jwt", "crit": ["exp"]}
    token = forge(header, access_payload(settings), settings.access_secret)
    with pytest.raises(InvalidToken):
        tokens.decode_access(settings, token, now=NOW)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b.c",
        "...",
        "x" * 16384,
        "eyJ.eyJ.sig",
        "\u00e9.\u00e9.\u00e9",
        b64(b"\xff\xfe{").decode() + ".e30.",
        b64('{"alg":"HS256","typ":"at+jwt"}'.encode("utf-16")).decode() + ".e30.x",
    ],
)
def test_garbage_raises_only_invalid_token(settings, garbage):
    with pytest.raises(InvalidToken):
        tokens.decode_access(settings, garbage, now=NOW)
    with pytest.raises(InvalidToken):
        tokens.decode_refresh(settings, garbage, now=NOW)


@pytest.mark.parametrize("mangle", [lambda t: t + "=", lambda t: t + "==", lambda t: t + ".extra"])
def test_only_strict_compact_serialization_decodes(mangle):
    """Regression: PyJWT accepts an '='-padded signature; RFC 7515 §2 base64url has no padding (TOK-06)."""
    from tokenconform_server.tokens import decode_access, issue_access

    settings = Settings.for_testing(db_path="unused.db")
    issued = issue_access(
        settings,
        user_id="u1",
        email="a@example.test",
        username="a",
        full_name="A",
        session_id="s1",
        token_version=0,
        now=1_000_000.0,
    )
    decode_access(settings, issued.token, now=1_000_001.0)
    with pytest.raises(InvalidToken):
        decode_access(settings, mangle(issued.token), now=1_000_001.0)


def test_cached_verification_still_checks_expiry_and_the_key():
    """The verified-token cache saves PyJWT work; expiry, key and type still decide every use."""
    from tokenconform_server.tokens import decode_access, decode_refresh, issue_access

    settings = Settings.for_testing(db_path="unused.db")
    other = Settings.for_testing(db_path="unused.db")
    issued = issue_access(
        settings,
        user_id="u1",
        email="a@example.test",
        username="a",
        full_name="A",
        session_id="s1",
        token_version=0,
        now=1_000_000.0,
    )
    claims = decode_access(settings, issued.token, now=1_000_001.0)
    claims["_id"] = "tampered"  # the caller's copy, not the cache's
    assert decode_access(settings, issued.token, now=1_000_001.0)["_id"] == "u1"
    with pytest.raises(InvalidToken) as expired:
        decode_access(settings, issued.token, now=float(issued.expires_at))
    assert expired.value.expired
    with pytest.raises(InvalidToken):
        decode_access(other, issued.token, now=1_000_001.0)
    with pytest.raises(InvalidToken):
        decode_refresh(settings, issued.token, now=1_000_001.0)
