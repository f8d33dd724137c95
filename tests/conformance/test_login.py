"""Login checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses

import pytest

from tokenconform.checks.login import mann_whitney_p
from tokenconform.profile import load_profile
from tokenconform.results import Outcome

from .conftest import assert_outcome, run_against


@pytest.mark.parametrize("requirement_id", ["LGN-01", "LGN-02", "LGN-05", "LGN-06", "LGN-07"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("login_reveals_unknown_accounts", "LGN-01"),
        ("login_failure_headers_differ", "LGN-02"),
        ("login_reuses_previous_session", "LGN-05"),
        ("password_hash_in_login_response", "LGN-06"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def test_unthrottled_logins_fail():
    result = run_against(["LGN-07"], settings={"login_max_failures": 10_000})["LGN-07"]
    assert_outcome(result, Outcome.FAILED)


def test_registration_disclosure_is_declared_by_the_reference_profile(reference_results):
    assert_outcome(reference_results["LGN-04"], Outcome.DECLARED)


#: LGN-04 is a MAY: a target without the feature is reported not_present (issue 6 #8), never failed.
MAY_UNMET = getattr(Outcome, "NOT_PRESENT", Outcome.FAILED)


def test_registration_disclosure_fails_when_not_declared():
    reference = load_profile("reference")
    profile = dataclasses.replace(
        reference, policy=dataclasses.replace(reference.policy, registration_reveals_accounts=False)
    )
    assert_outcome(run_against(["LGN-04"], profile=profile)["LGN-04"], MAY_UNMET)


def test_mann_whitney_separates_shifted_samples():
    fast = [0.001 * i for i in range(30)]
    slow = [0.5 + 0.001 * i for i in range(30)]
    assert mann_whitney_p(fast, slow) < 1e-6
    assert mann_whitney_p(fast, list(fast)) > 0.5


def test_header_only_difference_passes_the_body_comparison():
    # The variant differs in one header only: LGN-01 (status and body) must not blame it.
    assert_outcome(run_against(["LGN-01"], defect="login_failure_headers_differ")["LGN-01"], Outcome.PASSED)


@pytest.mark.slow
def test_timing_is_even_on_reference_server_at_realistic_cost():
    result = run_against(["LGN-03"], settings={"bcrypt_rounds": 10}, config={"opt_in": frozenset({"timing"})})["LGN-03"]
    assert_outcome(result, Outcome.PASSED)


@pytest.mark.slow
def test_quick_exit_for_unknown_accounts_is_measured():
    # A realistic bcrypt cost makes the quick exit a gap of tens of milliseconds, as in production.
    result = run_against(
        ["LGN-03"],
        defect="login_quick_exit_for_unknown_accounts",
        settings={"bcrypt_rounds": 10},
        config={"opt_in": frozenset({"timing"})},
    )["LGN-03"]
    assert_outcome(result, Outcome.FAILED)


# ---------------------------------------------------------------- LGN-08: a wrong password never logs in


def test_wrong_password_check_passes_on_reference_server(reference_results):
    assert_outcome(reference_results["LGN-08"], Outcome.PASSED)


def test_any_password_fails_lgn08_once_and_the_failed_login_checks_skip_naming_it():
    """Regression test for issue 6 #10: a target that accepts any password got ERRORs from the
    checks that assume a failed login (LGN-01/02/07) and no failure anywhere."""
    results = run_against(["LGN-08", "LGN-01", "LGN-02", "LGN-07"], defect="accepts_any_password")
    assert_outcome(results["LGN-08"], Outcome.FAILED)
    assert "wrong password" in results["LGN-08"].message
    for requirement_id in ("LGN-01", "LGN-02", "LGN-07"):
        assert_outcome(results[requirement_id], Outcome.SKIPPED)
        assert "LGN-08" in results[requirement_id].message


# ---------------------------------------------------------------- LGN-04: a taken username too


def _not_declaring_registration_disclosure():
    reference = load_profile("reference")
    return dataclasses.replace(
        reference, policy=dataclasses.replace(reference.policy, registration_reveals_accounts=False)
    )


def test_registration_revealing_taken_usernames_only_fails():
    """Regression test for issue 6 #16: LGN-04 tried a taken email only."""
    profile = _not_declaring_registration_disclosure()
    result = run_against(["LGN-04"], defect="registration_reveals_taken_usernames", profile=profile)["LGN-04"]
    assert_outcome(result, MAY_UNMET)
    assert "a taken username" in result.message
    assert "a taken email" not in result.message
