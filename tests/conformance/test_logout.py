"""Logout checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses

import pytest

from conformance.profile import load_profile
from conformance.results import Outcome

from .conftest import assert_outcome, run_against


@pytest.mark.parametrize("requirement_id", ["LGO-01", "LGO-02", "LGO-03", "LGO-04", "LGO-05", "LGO-06", "LGO-08"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("logout_only_denies_access_tokens", "LGO-01"),
        ("logout_keeps_access_tokens_alive", "LGO-02"),
        ("logout_keeps_cookies", "LGO-03"),
        ("logout_without_clear_site_data", "LGO-04"),
        ("logout_ends_every_session", "LGO-05"),
        ("logout_all_ends_one_session", "LGO-06"),
        ("logout_by_get", "LGO-08"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def test_declared_stateless_access_tokens_are_reported_as_declared():
    reference = load_profile("reference")
    profile = dataclasses.replace(
        reference, policy=dataclasses.replace(reference.policy, access_token_revoked_at_logout=False)
    )
    assert_outcome(run_against(["LGO-02"], profile=profile)["LGO-02"], Outcome.DECLARED)


def test_logout_checks_skip_without_a_logout_endpoint():
    profile = dataclasses.replace(load_profile("reference"), logout=None, logout_all=None)
    results = run_against(["LGO-01", "LGO-06"], profile=profile)
    assert_outcome(results["LGO-01"], Outcome.SKIPPED)
    assert_outcome(results["LGO-06"], Outcome.SKIPPED)
