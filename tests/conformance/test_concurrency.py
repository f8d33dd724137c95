"""Concurrency checks: each passes on the reference server and fails on its one defect.

The racy variants force the bad interleaving (a pause or an event between check and write), so a
single round shows the defect every time.
"""

from __future__ import annotations

import dataclasses

import pytest

from tokenconform.profile import load_profile
from tokenconform.results import Outcome

from .conftest import assert_outcome, run_against
from .test_reuse import grace_profile, retry_grace_app


@pytest.mark.parametrize("requirement_id", ["CON-01", "CON-02", "CON-03"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("racy_rotation", "CON-01"),
        ("logout_refresh_race", "CON-02"),
        ("parallel_logins_share_session", "CON-03"),
    ],
)
def test_fails_on_its_defect_in_a_single_round(defect, requirement_id):
    result = run_against([requirement_id], defect=defect, config={"rounds": 1})[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def test_concurrent_successes_with_one_successor_pass_under_a_declared_grace():
    # Every racer gets 200 with the same successor: allowed when a grace window is declared.
    result = run_against(["CON-01"], app_factory=retry_grace_app, profile=grace_profile())["CON-01"]
    assert_outcome(result, Outcome.PASSED)


def test_racy_rotation_fails_under_a_declared_grace_too():
    result = run_against(["CON-01"], defect="racy_rotation", profile=grace_profile(), config={"rounds": 1})["CON-01"]
    assert_outcome(result, Outcome.FAILED)
    assert "different refresh tokens" in result.message


def test_logout_race_is_skipped_without_a_logout_endpoint():
    profile = dataclasses.replace(load_profile("reference"), logout=None, logout_all=None)
    result = run_against(["CON-02"], profile=profile)["CON-02"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "[logout]" in result.message


def test_several_successes_of_one_refresh_token_fail_even_when_one_successor_survives():
    """Issue 6.17: the racers all "win" but only the last write stays current; the family never
    forks, yet one single-use token minted several access tokens."""
    # Four racers fit the server's eight worker threads, so all pass the check before any write.
    result = run_against(["CON-01"], defect="refresh_last_write_wins", config={"rounds": 1, "concurrency": 4})["CON-01"]
    assert_outcome(result, Outcome.FAILED)
    assert "refreshes with the same refresh token succeeded" in result.message
