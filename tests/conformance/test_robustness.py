"""Robustness checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses

import pytest
import responses

from tokenconform.context import CheckContext, RunConfig
from tokenconform.engine import run_checks
from tokenconform.profile import load_profile
from tokenconform.registry import load_all_checks
from tokenconform.results import Outcome

from .conftest import assert_outcome, run_against


@pytest.mark.parametrize("requirement_id", ["RBS-01", "RBS-02", "RBS-03", "RBS-05"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("crashes_on_garbage_token", "RBS-01"),
        ("error_bodies_leak_traceback", "RBS-02"),
        ("body_token_wins_over_cookie", "RBS-03"),
        ("crashes_on_malformed_json", "RBS-05"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def test_conflicting_sources_check_skips_with_one_refresh_presentation():
    profile = load_profile("reference")
    profile = dataclasses.replace(profile, refresh=dataclasses.replace(profile.refresh, present=("body",)))
    result = run_against(["RBS-03"], profile=profile)["RBS-03"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "refresh.present" in result.message


# ---------------------------------------------------------------- RBS-04: https only


def test_hsts_check_skips_on_plain_http(reference_results):
    result = reference_results["RBS-04"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "plain http" in result.message


HTTPS_TARGET = "https://api.tokenconform.test"
ONE_YEAR = "max-age=31536000; includeSubDomains"


def _run_hsts_check_against_canned_https(hsts: str | None):
    """RBS-04 against canned https answers (no TLS server needed), with ``hsts`` on every response."""
    headers = {"Strict-Transport-Security": hsts} if hsts else {}
    tokens = {"accessToken": "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln", "refreshToken": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}
    with responses.RequestsMock() as mock:
        mock.post(f"{HTTPS_TARGET}/register", json={"user": {}}, status=201, headers=headers)
        mock.post(f"{HTTPS_TARGET}/login", json=tokens, headers=headers)
        mock.get(f"{HTTPS_TARGET}/profile", json={"user": {}}, headers=headers)
        ctx = CheckContext(load_profile("reference"), RunConfig(target=HTTPS_TARGET))
        try:
            [result] = run_checks([load_all_checks().get("RBS-04")], ctx)
        finally:
            ctx.close()
    return result


def test_hsts_check_passes_with_a_year_of_hsts():
    assert_outcome(_run_hsts_check_against_canned_https(ONE_YEAR), Outcome.PASSED)


@pytest.mark.parametrize("hsts", [None, "max-age=86400"], ids=["no-hsts", "one-day"])
def test_hsts_check_fails_on_https_without_a_year_of_hsts(hsts):
    assert_outcome(_run_hsts_check_against_canned_https(hsts), Outcome.FAILED)


# ---------------------------------------------------------------- missing input (issue 6 #11)


@pytest.mark.parametrize(
    ("requirement_id", "probe"),
    [("RBS-01", "no token at all"), ("RBS-05", "a login with no email field"), ("RBS-02", "stack trace")],
)
def test_missing_input_answered_with_a_crash_fails(requirement_id, probe):
    """Regression test for issue 6 #11: RBS-01/05 passed a target whose /refresh with no token and
    /login with a missing field answered 500 with a stack trace."""
    result = run_against([requirement_id], defect="crashes_on_missing_input")[requirement_id]
    assert_outcome(result, Outcome.FAILED)
    assert probe in result.message
