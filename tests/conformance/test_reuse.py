"""Reuse checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.broken._service import app_with
from tokenconform.profile import Profile, load_profile
from tokenconform.results import CheckResult, Outcome
from tokenconform_server.sessions import IssuedTokens, SessionService

from .conftest import assert_outcome, run_against

#: The retry grace window of RetryGrace, and the one the grace profile declares.
GRACE = 5


def grace_profile() -> Profile:
    reference = load_profile("reference")
    return dataclasses.replace(reference, policy=dataclasses.replace(reference.policy, concurrent_refresh_grace=GRACE))


class RetryGrace(SessionService):
    """A correct retry grace window: a retried refresh within GRACE s gets the successor already issued.

    Not a broken variant: it shows the grace-aware checks (REU-01, REU-07, CON-01) passing on a
    target that answers several refreshes of one token, always with the same successor.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered: dict[str, tuple[float, IssuedTokens]] = {}
        self.lock = threading.Lock()

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        with self.lock:
            known = self.answered.get(refresh_token or "")
            if known is not None and self.clock() - known[0] < GRACE:
                return known[1]
            issued = super().refresh(refresh_token)
            self.answered[refresh_token or ""] = (self.clock(), issued)
            return issued


retry_grace_app = app_with(RetryGrace)


@pytest.mark.parametrize("requirement_id", ["REU-01", "REU-02", "REU-03", "REU-04", "REU-05", "REU-06"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


def test_grace_retry_is_skipped_without_a_declared_grace(reference_results):
    result = reference_results["REU-07"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "policy.concurrent_refresh_grace" in result.message


@pytest.mark.parametrize(
    ("defect", "requirement_ids"),
    [
        ("no_reuse_detection", ["REU-01"]),
        ("reuse_rejected_without_family_revocation", ["REU-02", "REU-03", "REU-05"]),
        ("reuse_keeps_access_tokens_alive", ["REU-04"]),
        ("reuse_detection_forgets_older_generations", ["REU-05"]),
        ("reuse_revokes_all_user_sessions", ["REU-06"]),
    ],
)
def test_fails_on_its_defect(defect, requirement_ids):
    results = run_against(requirement_ids, defect=defect)
    for requirement_id in requirement_ids:
        assert_outcome(results[requirement_id], Outcome.FAILED)


def test_forgetting_older_generations_fails_only_the_older_generation_check():
    results = run_against(["REU-02", "REU-03", "REU-05"], defect="reuse_detection_forgets_older_generations")
    assert_outcome(results["REU-02"], Outcome.PASSED)
    assert_outcome(results["REU-03"], Outcome.PASSED)
    assert_outcome(results["REU-05"], Outcome.FAILED)


def test_declared_lack_of_reuse_detection_is_reported_as_declared():
    reference = load_profile("reference")
    profile = dataclasses.replace(reference, policy=dataclasses.replace(reference.policy, reuse_detection=False))
    results = run_against(["REU-02", "REU-03", "REU-04", "REU-05"], profile=profile)
    for result in results.values():
        assert_outcome(result, Outcome.DECLARED)


def test_grace_retry_refused_by_a_strict_server_passes():
    # Within the declared window the target may refuse the retry: the reference server does.
    assert_outcome(run_against(["REU-07"], profile=grace_profile())["REU-07"], Outcome.PASSED)


def test_grace_retry_answered_with_the_same_successor_passes():
    result = run_against(["REU-07"], app_factory=retry_grace_app, profile=grace_profile())["REU-07"]
    assert_outcome(result, Outcome.PASSED)


def test_grace_retry_that_branches_the_family_fails():
    result = run_against(["REU-07"], defect="grace_window_branches_family", profile=grace_profile())["REU-07"]
    assert_outcome(result, Outcome.FAILED)


@pytest.fixture(scope="module")
def grace_wait_results() -> dict[str, CheckResult]:
    """REU-01 on the retry-grace server, which waits the 5 s window out: two runs side by side."""
    scenarios = {
        # The refresh token outlives the window: its rejection after it shows reuse detection.
        "long_refresh_ttl": {"settings": {"refresh_ttl": 30}},
        # The embedded 6 s refresh TTL ends within the window plus slack: a rejection shows expiry.
        "short_refresh_ttl": {},
    }
    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        futures = {
            name: pool.submit(run_against, ["REU-01"], app_factory=retry_grace_app, profile=grace_profile(), **kwargs)
            for name, kwargs in scenarios.items()
        }
        return {name: future.result()["REU-01"] for name, future in futures.items()}


@pytest.mark.slow
def test_replay_after_the_declared_grace_window_is_rejected(grace_wait_results):
    result = grace_wait_results["long_refresh_ttl"]
    assert_outcome(result, Outcome.PASSED)


@pytest.mark.slow
def test_rejection_of_an_expired_token_is_no_verdict(grace_wait_results):
    # Issue 6.6: a token that reached its lifetime proves neither revocation nor a defect.
    result = grace_wait_results["short_refresh_ttl"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "reached its lifetime" in result.message


def test_reu06_does_not_blame_reuse_for_a_session_a_second_login_ended():
    """A target keeping one refresh token per user (the seed's user.refreshToken) ends the first
    session at the second login, before any reuse: REU-06 skips naming CON-03, which fails."""
    results = run_against(["REU-06", "CON-03"], defect="one_refresh_token_per_user")
    assert_outcome(results["REU-06"], Outcome.SKIPPED)
    assert "CON-03" in results["REU-06"].message
    assert_outcome(results["CON-03"], Outcome.FAILED)
    assert_outcome(run_against(["REU-06"], defect="reuse_revokes_all_user_sessions")["REU-06"], Outcome.FAILED)
