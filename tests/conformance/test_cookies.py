"""Cookie checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses

import pytest

from tokenconform.profile import TokenLocation, load_profile
from tokenconform.results import Outcome

from .conftest import assert_outcome, run_against

CHECKS = ["CKE-01", "CKE-02", "CKE-03", "CKE-05", "CKE-06", "CKE-07", "CKE-08", "CKE-10", "CKE-11"]


@pytest.mark.parametrize("requirement_id", CHECKS)
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("cookies_without_secure", "CKE-01"),
        ("cookies_without_httponly", "CKE-02"),
        ("cookies_samesite_none", "CKE-03"),
        ("cookies_with_domain", "CKE-05"),
        ("cookie_outlives_token", "CKE-06"),
        ("oversized_access_cookie", "CKE-07"),
        ("duplicate_set_cookie", "CKE-08"),
        ("refresh_keeps_old_cookies", "CKE-10"),
        ("cookies_without_path", "CKE-11"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def host_prefixed_profile():
    reference = load_profile("reference")
    return dataclasses.replace(
        reference,
        tokens_access=TokenLocation(json="accessToken", cookie="__Host-accessToken"),
        tokens_refresh=TokenLocation(json="refreshToken", cookie="__Host-refreshToken"),
    )


def test_host_prefix_rules_hold_on_reference_server_with_prefix():
    result = run_against(["CKE-04"], profile=host_prefixed_profile(), settings={"cookie_prefix": "__Host-"})["CKE-04"]
    assert_outcome(result, Outcome.PASSED)


def test_host_prefix_rules_fail_when_path_is_narrowed():
    result = run_against(
        ["CKE-04"],
        defect="host_prefix_cookie_with_narrow_path",
        profile=host_prefixed_profile(),
        settings={"cookie_prefix": "__Host-"},
    )["CKE-04"]
    assert_outcome(result, Outcome.FAILED)


def test_delivery_both_is_reported_as_declared(reference_results):
    assert_outcome(reference_results["CKE-09"], Outcome.DECLARED)


def cookie_only_profile():
    reference = load_profile("reference")
    return dataclasses.replace(reference, policy=dataclasses.replace(reference.policy, delivery="cookie"))


def test_cookie_only_delivery_passes_on_cookie_only_server():
    result = run_against(["CKE-09"], profile=cookie_only_profile(), settings={"delivery": "cookie"})["CKE-09"]
    assert_outcome(result, Outcome.PASSED)


def test_tokens_in_body_fail_a_declared_cookie_only_delivery():
    # The server still answers tokens in JSON (delivery "both") while the profile declares cookies only.
    result = run_against(["CKE-09"], profile=cookie_only_profile())["CKE-09"]
    assert_outcome(result, Outcome.FAILED)


def test_no_prefixed_cookie_is_nothing_to_judge(reference_results):
    # A vacuous pass would claim the prefix rules hold where no prefix is used.
    result = reference_results["CKE-04"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "__Host-" in result.message


def json_only_profile():
    """The reference API described as a JSON-only target: the cookies it also sets go unmentioned."""
    reference = load_profile("reference")
    return dataclasses.replace(
        reference,
        tokens_access=TokenLocation(json="accessToken"),
        tokens_refresh=TokenLocation(json="refreshToken"),
        refresh=dataclasses.replace(reference.refresh, present=("body",)),
        protected=dataclasses.replace(reference.protected, present=("bearer",)),
        logout=dataclasses.replace(reference.logout, present=("bearer",)),
        policy=dataclasses.replace(reference.policy, delivery="body"),
    )


def _whole_suite(**kwargs):
    from tokenconform.registry import load_all_checks

    return run_against([c.id for c in load_all_checks().all()], **kwargs)


def test_undeclared_token_cookies_never_stand_in_for_the_credential_under_test():
    """Regression (issue 6.1): the jar's token cookies rode along with 'no token' requests, so the
    calibration saw the protected route open without credentials and every check errored."""
    results = _whole_suite(profile=json_only_profile())
    errors = {i: r.message for i, r in results.items() if r.outcome is Outcome.ERROR}
    failures = {i: r.message for i, r in results.items() if r.outcome is Outcome.FAILED}
    assert not errors and not failures
    # The cookies the profile does not name still carry tokens, so their attributes are judged.
    assert_outcome(results["CKE-01"], Outcome.PASSED)


def test_undeclared_cookie_without_secure_fails_cke01_and_nothing_errors():
    results = _whole_suite(profile=json_only_profile(), defect="cookies_without_secure")
    assert {i for i, r in results.items() if r.outcome is Outcome.ERROR} == set()
    assert {i for i, r in results.items() if r.outcome is Outcome.FAILED} == {"CKE-01"}
