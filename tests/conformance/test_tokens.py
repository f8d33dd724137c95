"""Token checks: each passes on the reference server and fails on its one defect; jwt_probes itself."""

from __future__ import annotations

import secrets

import jwt
import pytest

from tokenconform import jwt_probes
from tokenconform.checks.tokens import ACCESS_SECRET_ENV, REFRESH_SECRET_ENV
from tokenconform.results import Outcome

from .conftest import assert_outcome, run_against

PASSING = ["TOK-01", "TOK-02", "TOK-04", "TOK-05", "TOK-07", "TOK-08", "TOK-09", "TOK-10", "TOK-11", "TOK-13", "TOK-14"]


@pytest.mark.parametrize("requirement_id", PASSING)
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


def test_compact_serialization_passes_on_reference_server(reference_results):
    """Regression: PyJWT decodes an '='-padded signature segment, which RFC 7515 §2 excludes; TOK-06
    caught the reference server accepting it until tokens.py checked the compact shape first."""
    assert_outcome(reference_results["TOK-06"], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("accepts_alg_none", "TOK-01"),
        ("skips_signature_check", "TOK-02"),
        ("weak_hmac_secret", "TOK-04"),
        ("trusts_embedded_jwk", "TOK-05"),
        ("accepts_jws_json_serialization", "TOK-06"),
        ("accepts_refresh_token_as_access", "TOK-07"),
        ("accepts_access_token_at_refresh", "TOK-08"),
        ("untyped_tokens", "TOK-09"),
        ("password_hash_in_token", "TOK-10"),
        ("reuses_tokens_across_logins", "TOK-11"),
        ("tokens_without_exp", "TOK-13"),
        ("long_lived_access_token", "TOK-14"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def test_json_serialization_is_the_probe_that_fails():
    # The reference already fails TOK-06 on padding (see above): show the variant's own defect is caught.
    result = run_against(["TOK-06"], defect="accepts_jws_json_serialization")["TOK-06"]
    assert "JSON serialization" in result.message


# ---------------------------------------------------------------- TOK-03: needs the key


def test_algorithm_pinning_skips_without_the_key(reference_results):
    result = reference_results["TOK-03"]
    assert_outcome(result, Outcome.SKIPPED)
    assert ACCESS_SECRET_ENV in result.message


def test_algorithm_pinning_passes_on_reference_server_given_the_key(monkeypatch):
    secret = secrets.token_urlsafe(48)
    monkeypatch.setenv(ACCESS_SECRET_ENV, secret)
    result = run_against(["TOK-03"], settings={"access_secret": secret})["TOK-03"]
    assert_outcome(result, Outcome.PASSED)


def test_algorithm_pinning_fails_on_its_defect(monkeypatch):
    secret = secrets.token_urlsafe(48)
    monkeypatch.setenv(ACCESS_SECRET_ENV, secret)
    result = run_against(["TOK-03"], defect="accepts_other_hs_algorithms", settings={"access_secret": secret})["TOK-03"]
    assert_outcome(result, Outcome.FAILED)


def test_algorithm_pinning_uses_a_key_the_dictionary_recovers():
    # No env var: the weak key is found by the TOK-04 dictionary, and the reference pins HS256.
    result = run_against(["TOK-03"], defect="weak_hmac_secret")["TOK-03"]
    assert_outcome(result, Outcome.PASSED)


def test_algorithm_pinning_with_a_wrong_key_is_an_error(monkeypatch):
    monkeypatch.setenv(ACCESS_SECRET_ENV, "not-the-key-" + secrets.token_hex(16))
    result = run_against(["TOK-03"])["TOK-03"]
    assert_outcome(result, Outcome.ERROR)


# ---------------------------------------------------------------- jwt_probes


KEY = secrets.token_bytes(32)


def test_sign_hs_verifies_with_pyjwt():
    for alg in jwt_probes.HS_ALGORITHMS:
        key = secrets.token_bytes(64)
        token = jwt_probes.sign_hs({"typ": "at+jwt"}, {"sub": "x"}, key, alg)
        assert jwt.decode(token, key, algorithms=[alg]) == {"sub": "x"}
        assert jwt.get_unverified_header(token) == {"typ": "at+jwt", "alg": alg}


def test_reencode_keeps_untouched_segments():
    token = jwt_probes.sign_hs({"alg": "HS256"}, {"a": 1}, KEY)
    forged = jwt_probes.reencode(token, header={"alg": "none"}, signature="")
    assert forged.split(".")[1] == token.split(".")[1]
    assert forged.endswith(".")
    assert jwt_probes.split(forged).alg == "none"


def test_crack_hs_recovers_a_common_secret_and_nothing_else():
    weak = jwt_probes.sign_hs({"alg": "HS256"}, {"a": 1}, b"your-256-bit-secret")
    assert jwt_probes.crack_hs(weak, jwt_probes.common_secrets()) == "your-256-bit-secret"
    strong = jwt_probes.sign_hs({"alg": "HS256"}, {"a": 1}, KEY)
    assert jwt_probes.crack_hs(strong, jwt_probes.common_secrets()) is None


def test_verify_hs_rejects_other_algorithms_and_keys():
    parts = jwt_probes.split(jwt_probes.sign_hs({"alg": "HS256"}, {"a": 1}, KEY))
    assert jwt_probes.verify_hs(parts, KEY)
    assert not jwt_probes.verify_hs(parts, KEY, "HS512")
    assert not jwt_probes.verify_hs(parts, b"other")


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c.d", "!!!.@@@.###", "eyJ9.eyJ9.x", "W10.e30.x"])
def test_split_refuses_what_is_not_a_compact_jws(junk):
    with pytest.raises(ValueError):
        jwt_probes.split(junk)


def test_b64url_decode_refuses_padding_and_standard_alphabet():
    with pytest.raises(ValueError):
        jwt_probes.b64url_decode("YQ==")
    with pytest.raises(ValueError):
        jwt_probes.b64url_decode("+/+/")


def test_wordlist_is_small_unique_and_has_the_classics():
    words = jwt_probes.common_secrets()
    assert 100 <= len(words) <= 600
    assert len(set(words)) == len(words)
    for classic in ("secret", "your-256-bit-secret", "ACCESS_TOKEN_SECRET", "changeme"):
        assert classic in words


#: The seed's placeholder and example secrets (/work/shared/seed: its .env block and walkthrough).
SEED_SECRETS = (
    "your_access_secret_here",
    "your_refresh_secret_here",
    "your-super-secret-key",
    "my-super-secret-key",
    "my-super-secret-key-xyz123",
    "my-secret-key",
    "secret-key",
    "secret123",
    "your-secret-key",
)


def test_wordlist_has_the_seeds_placeholders_and_common_env_example_values():
    """Regression test for issue 6 #15: the dictionary held generic words, not the placeholders
    deployments actually leave in place (the seed's own, .env.example files, framework docs)."""
    words = set(jwt_probes.common_secrets())
    assert set(SEED_SECRETS) <= words
    for placeholder in ("your_jwt_secret_here", "change-me-in-production", "<secret>"):
        assert placeholder in words
    # NestJS's documented sample and FastAPI's tutorial key, both copied into real apps.
    assert any(word.startswith("DO NOT USE THIS VALUE") for word in words)
    assert "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7" in words


def test_a_seed_placeholder_secret_fails_tok04():
    result = run_against(["TOK-04"], defect="signs_with_seed_placeholder_secret")["TOK-04"]
    assert_outcome(result, Outcome.FAILED)
    assert "your_access_secret_here" in result.actual


def test_typ_is_compared_case_insensitively_without_application_prefix():
    assert jwt_probes.normalise_typ("application/AT+JWT") == "at+jwt"
    assert jwt_probes.normalise_typ(None) == ""


# ---------------------------------------------------------------- secret-assisted: TOK-12 and EXP-05 mint tokens


@pytest.fixture
def given_secrets(monkeypatch):
    """Both HMAC secrets, in the env vars and in the server's settings (what the embedded run does)."""
    chosen = {"access_secret": secrets.token_urlsafe(48), "refresh_secret": secrets.token_urlsafe(48)}
    monkeypatch.setenv(ACCESS_SECRET_ENV, chosen["access_secret"])
    monkeypatch.setenv(REFRESH_SECRET_ENV, chosen["refresh_secret"])
    return chosen


@pytest.mark.parametrize("requirement_id", ["TOK-12", "EXP-05"])
def test_minting_checks_skip_without_the_secrets_naming_the_env_vars(reference_results, requirement_id):
    result = reference_results[requirement_id]
    assert_outcome(result, Outcome.SKIPPED)
    assert ACCESS_SECRET_ENV in result.message
    assert REFRESH_SECRET_ENV in result.message


@pytest.mark.parametrize("requirement_id", ["TOK-12", "EXP-05"])
def test_minting_checks_pass_on_reference_server_given_the_secrets(given_secrets, requirement_id):
    result = run_against([requirement_id], settings=given_secrets)[requirement_id]
    assert_outcome(result, Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id", "probe"),
    [
        ("accepts_other_issuer_and_audience", "TOK-12", "iss of another issuer"),
        ("ignores_nbf_and_missing_exp", "EXP-05", "nbf 3600 s in the future"),
    ],
)
def test_minting_checks_fail_on_their_defect(given_secrets, defect, requirement_id, probe):
    result = run_against([requirement_id], defect=defect, settings=given_secrets)[requirement_id]
    assert_outcome(result, Outcome.FAILED)
    assert probe in result.message


def test_the_refresh_secret_alone_judges_the_refresh_endpoint(monkeypatch):
    # No access secret: the protected-resource half (where the variant's defect is) is not judged,
    # so the check neither skips nor fails: the refresh endpoint refuses the minted tokens.
    refresh_secret = secrets.token_urlsafe(48)
    monkeypatch.setenv(REFRESH_SECRET_ENV, refresh_secret)
    settings = {"refresh_secret": refresh_secret}
    result = run_against(["TOK-12"], defect="accepts_other_issuer_and_audience", settings=settings)["TOK-12"]
    assert_outcome(result, Outcome.PASSED)


def test_a_key_read_from_the_file_the_kid_names_fails_tok05():
    """Regression test for issue 6 #18: kid values naming predictable files (/dev/null,
    /proc/sys/kernel/ostype) were not tried beyond one deep /dev/null traversal."""
    result = run_against(["TOK-05"], defect="loads_key_from_kid_path")["TOK-05"]
    assert_outcome(result, Outcome.FAILED)
    assert "kid /dev/null" in result.message


def test_a_refresh_handing_back_the_presented_token_is_no_second_issuance():
    """Found on django-oauth-toolkit with ROTATE_REFRESH_TOKEN off: a non-rotating refresh that
    returns the presented refresh token (RFC 6749 §6 allows it; ROT-01 judges it) failed TOK-11 as
    "the same token issued twice". Identical tokens from two logins still fail it."""
    assert_outcome(run_against(["TOK-11"], defect="refresh_returns_presented_token")["TOK-11"], Outcome.PASSED)
    assert_outcome(run_against(["TOK-11"], defect="reuses_tokens_across_logins")["TOK-11"], Outcome.FAILED)
