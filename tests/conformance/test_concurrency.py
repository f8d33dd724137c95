"""Concurrency checks: each passes on the reference server and fails on its one defect.

The racy variants force the bad interleaving (a pause or an event between check and write), so a
single round shows the defect every time.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from pathlib import Path

import pytest

from tests.broken._service import app_with
from tests.broken.one_refresh_token_per_user import OneRefreshTokenPerUser
from tests.shapes import seed_express_app
from tests.shapes.conftest import Shape, flask_jwt_extended_shape, run_shape
from tokenconform.context import RunConfig
from tokenconform.profile import load_profile
from tokenconform.results import Outcome
from tokenconform_server.sessions import LoginResult, SessionService

from .conftest import ACCESS_TTL, REFRESH_TTL, assert_outcome, run_against
from .test_reuse import grace_profile, retry_grace_app

#: CON-03's parallel logins, as the matrix runs them.
LOGINS: int = {f.name: f.default for f in dataclasses.fields(RunConfig)}["concurrency"]


@pytest.mark.parametrize("requirement_id", ["CON-01", "CON-02", "CON-03"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("racy_rotation", "CON-01"),
        ("logout_refresh_race", "CON-02"),
        ("parallel_logins_share_session", "CON-03"),
        ("one_refresh_token_per_user", "CON-03"),
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


# ---------------------------------------------------------------- CON-03 on slow logins and short lifetimes


class _SerialisedLogins:
    """Logins one at a time, each taking long enough that all of them outlast the access lifetime:
    a bcrypt cost the server cannot run in parallel, as djoser's and the seed's were seen doing."""

    _turn = threading.Lock()
    #: the first session's access token has expired once every login has answered
    DELAY = (ACCESS_TTL + 1) / LOGINS

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        with self._turn:
            time.sleep(self.DELAY)
            return super().login(body, user_agent=user_agent)  # type: ignore[misc]


class SlowLogins(_SerialisedLogins, SessionService):
    """Not a broken variant: a correct target whose logins are slow."""


class SlowLoginsOneRefreshTokenPerUser(_SerialisedLogins, OneRefreshTokenPerUser):
    pass


def test_slow_logins_outlasting_the_access_lifetime_still_pass():
    # The refresh tokens outlive the logins (REFRESH_TTL > ACCESS_TTL + 1): they are judged, and the
    # access tokens still alive once every login has answered.
    assert REFRESH_TTL > ACCESS_TTL + 2
    result = run_against(["CON-03"], app_factory=app_with(SlowLogins))["CON-03"]
    assert_outcome(result, Outcome.PASSED)


def test_one_refresh_token_per_user_fails_even_when_the_access_tokens_expire_first():
    result = run_against(["CON-03"], app_factory=app_with(SlowLoginsOneRefreshTokenPerUser))["CON-03"]
    assert_outcome(result, Outcome.FAILED)
    assert f"refresh token of one of {LOGINS} parallel sessions was refused" in result.message


def test_spaced_logins_of_a_target_without_jti_pass():
    """Same-second logins collide there (TOK-11), so three logins go a second apart: longer than the
    2 s access lifetime, so the first session's token is presented after each later login."""
    result = run_against(["CON-03"], defect="reuses_tokens_across_logins")["CON-03"]
    assert_outcome(result, Outcome.PASSED)


def _seed(access_ttl: int, refresh_ttl: int) -> Shape:
    backend = seed_express_app.SeedBackend(
        access_secret=secrets.token_urlsafe(48),
        refresh_secret=secrets.token_urlsafe(48),
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
    )
    profile = Path(seed_express_app.__file__).with_name("seed_express.toml")
    return Shape(str(profile), seed_express_app.create_app(backend), {})


def test_the_seeds_one_stored_refresh_token_fails_with_its_short_access_lifetime():
    # The seed with a 2 s access token (3 s as deployed) and its 15 s refresh token: its logins go a
    # second apart (no jti), so the first access token expires before the third login answers.
    result = run_shape(_seed(ACCESS_TTL, 15), ["CON-03"])["CON-03"]
    assert_outcome(result, Outcome.FAILED)
    assert "refresh token of one of 3 parallel sessions was refused" in result.message


# ---------------------------------------------------------------- CON-02 judges races only


def test_logout_that_never_ends_the_refresh_token_is_lgo01s_not_a_race():
    results = run_against(["LGO-01", "CON-02"], defect="logout_only_denies_access_tokens", config={"rounds": 1})
    assert_outcome(results["LGO-01"], Outcome.FAILED)
    assert_outcome(results["CON-02"], Outcome.SKIPPED)
    assert "LGO-01" in results["CON-02"].message


def test_logout_that_leaves_access_tokens_is_lgo02s_and_the_refresh_tokens_are_still_judged():
    results = run_against(["LGO-02", "CON-02"], defect="logout_keeps_access_tokens_alive", config={"rounds": 1})
    assert_outcome(results["LGO-02"], Outcome.FAILED)
    assert_outcome(results["CON-02"], Outcome.PASSED)


# ---------------------------------------------------------------- CON-01 says why it has no premise


def test_no_rotation_is_named_for_a_refresh_answering_the_presented_token():
    result = run_against(["CON-01"], defect="refresh_returns_presented_token", config={"rounds": 1})["CON-01"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "answers with the presented refresh token (no rotation" in result.message


def test_no_rotation_is_named_for_a_refresh_answering_no_refresh_token():
    # flask-jwt-extended's documented refresh view sets a new access token only (RFC 6749 §6 allows it).
    result = run_shape(flask_jwt_extended_shape(rotate=False), ["CON-01"], config={"rounds": 1})["CON-01"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "answers with no refresh token, so the presented one stays in use" in result.message
