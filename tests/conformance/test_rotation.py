"""Rotation checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import pytest

from conformance.results import Outcome

from .conftest import assert_outcome, run_against


@pytest.mark.parametrize("requirement_id", ["ROT-01", "ROT-02", "ROT-03", "ROT-04", "ROT-05"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("refresh_returns_presented_token", "ROT-01"),
        ("refresh_token_not_used_up", "ROT-02"),
        ("refresh_returns_unusable_access_token", "ROT-03"),
        ("refresh_grants_admin_role", "ROT-04"),
        ("token_responses_cacheable", "ROT-05"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)
