"""Logout checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses

import pytest

from tokenconform.profile import load_profile
from tokenconform.results import Outcome

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


def test_logout_after_access_expiry_passes_on_reference_server(reference_results):
    assert_outcome(reference_results["LGO-09"], Outcome.PASSED)


def test_logout_after_access_expiry_fails_when_logout_needs_a_live_access_token():
    result = run_against(["LGO-09"], defect="logout_needs_live_access_token")["LGO-09"]
    assert_outcome(result, Outcome.FAILED)
    assert "could not log out" in result.message


def _shared_accounts_app(accounts):
    """The reference app with ``accounts`` registered up front, as a deployment whose test
    users are given to the suite through the environment."""
    import time

    from tokenconform_server.app import create_app
    from tokenconform_server.sessions import SessionService
    from tokenconform_server.sqlite_store import SqliteStore

    def factory(settings):
        store = SqliteStore(settings.db_path)
        service = SessionService(settings, store, clock=time.time)
        for name, password in accounts:
            service.register({"username": name, "email": f"{name}@example.test", "password": password, "fullName": "T"})
        from tests.broken._wsgi import Closing

        app = create_app(settings, service=service)
        return Closing(app, app, store)

    return factory


def test_logout_all_with_shared_credentials_disturbs_no_other_check(monkeypatch):
    """Regression (issue 6.2): with env credentials, logout-all ended the shared account's other
    sessions mid-run and turned unrelated checks into errors. It now runs after every other check."""
    from tokenconform.registry import load_all_checks

    accounts = [("shared_one", "Shared-pass-1"), ("shared_two", "Shared-pass-2")]
    for suffix, (name, password) in zip(("", "_2"), accounts, strict=True):
        monkeypatch.setenv(f"TOKENCONFORM_USERNAME{suffix}", f"{name}@example.test")
        monkeypatch.setenv(f"TOKENCONFORM_PASSWORD{suffix}", password)
    profile = dataclasses.replace(load_profile("reference"), register=None)
    results = run_against(
        [c.id for c in load_all_checks().all()], app_factory=_shared_accounts_app(accounts), profile=profile
    )
    assert {i: r.message for i, r in results.items() if r.outcome in (Outcome.ERROR, Outcome.FAILED)} == {}
    assert_outcome(results["LGO-06"], Outcome.PASSED)


def test_checks_that_end_every_session_run_after_all_others_timed_ones_included():
    from tokenconform.catalog import load_catalog
    from tokenconform.context import CheckContext, RunConfig, Wait
    from tokenconform.engine import run_checks
    from tokenconform.registry import Check

    catalog = load_catalog()
    order = []

    def untimed(ctx):
        order.append("untimed")

    def timed(ctx):
        order.append("timed-start")
        yield Wait(deadline=ctx.clock(), reason="none")
        order.append("timed-end")

    def ends_all(ctx):
        order.append("ends-all")

    checks = [
        Check(catalog.get("LGO-06"), ends_all, ends_all_sessions=True),
        Check(catalog.get("EXP-03"), timed),
        Check(catalog.get("LGO-05"), untimed),
    ]
    ctx = CheckContext(load_profile("reference"), RunConfig(target="http://127.0.0.1:9"))
    results = run_checks(checks, ctx)
    assert order == ["untimed", "timed-start", "timed-end", "ends-all"]
    assert [r.id for r in results] == ["LGO-06", "EXP-03", "LGO-05"]
    assert {r.outcome for r in results} == {Outcome.PASSED}


def test_missing_clear_site_data_is_a_may_not_present_never_a_failure():
    # Issue 6.8: a MAY cannot be failed; its absence is information, outside counts and exit codes.
    result = run_against(["LGO-04"], defect="logout_without_clear_site_data")["LGO-04"]
    assert_outcome(result, Outcome.NOT_PRESENT)
    assert "Clear-Site-Data" in result.message


def _refresh_bearer_profile():
    """A profile whose logout takes the refresh token as Bearer only (flask-jwt-extended header mode)."""
    from tests.selfproof.setups import SETUPS

    return SETUPS["refresh_bearer_logout"].build_profile()


def test_get_presents_the_token_logout_is_keyed_on():
    """Regression: LGO-08 always sent Bearer <access token>. A logout keyed on the refresh token as
    Bearer that also answers GET refuses that GET (405) and the check passed."""
    result = run_against(["LGO-08"], defect="logout_by_get_with_refresh_bearer", profile=_refresh_bearer_profile())
    assert_outcome(result["LGO-08"], Outcome.FAILED)
    assert "Bearer <refresh token>" in result["LGO-08"].message


def test_get_passes_on_a_refresh_bearer_logout_by_post_only():
    from tests.broken.logout_by_get_with_refresh_bearer import legit_app

    results = run_against(["LGO-01", "LGO-08", "LGO-09"], app_factory=legit_app, profile=_refresh_bearer_profile())
    for requirement_id in ("LGO-01", "LGO-08", "LGO-09"):
        assert_outcome(results[requirement_id], Outcome.PASSED)


def test_get_judges_the_access_token_when_logout_revokes_it():
    """A GET that kills only the access token (a per-token deny list keyed on the Bearer presented)
    leaves the refresh token alive: the access token's refusal is the evidence."""
    result = run_against(["LGO-08"], defect="logout_by_get_denies_access_token")["LGO-08"]
    assert_outcome(result, Outcome.FAILED)
    assert "access token is refused" in result.message


def test_get_is_not_judged_when_no_get_can_present_the_session():
    # Body-only logout, no token cookie: a GET cannot carry the token, and a query parameter is a
    # way the profile never declared. No verdict beats a vacuous pass.
    reference = load_profile("reference")
    profile = dataclasses.replace(
        reference,
        logout=dataclasses.replace(reference.logout, token="refresh", present=("body",)),
        tokens_access=dataclasses.replace(reference.tokens_access, cookie=""),
        tokens_refresh=dataclasses.replace(reference.tokens_refresh, cookie=""),
    )
    result = run_against(["LGO-08"], defect="logout_by_get", profile=profile)["LGO-08"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "cannot carry" in result.message


def test_body_only_logout_is_judged_by_the_cookies_a_browser_attaches():
    reference = load_profile("reference")
    profile = dataclasses.replace(
        reference, logout=dataclasses.replace(reference.logout, token="refresh", present=("body",))
    )
    assert_outcome(run_against(["LGO-08"], profile=profile)["LGO-08"], Outcome.PASSED)
    assert_outcome(run_against(["LGO-08"], defect="logout_by_get", profile=profile)["LGO-08"], Outcome.FAILED)


def test_logout_after_access_expiry_presents_no_undeclared_body_field():
    """Regression: LGO-09 put the refresh token in a body field "refreshToken" (the [logout] field
    default) whatever the profile declared. A bearer-only logout keyed on the access token with no
    refresh cookie gives no way to present the refresh token: skipped, not failed or passed."""
    reference = load_profile("reference")
    profile = dataclasses.replace(
        reference,
        logout=dataclasses.replace(reference.logout, present=("bearer",)),
        tokens_refresh=dataclasses.replace(reference.tokens_refresh, cookie=""),
    )
    result = run_against(["LGO-09"], profile=profile)["LGO-09"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "no way to present the refresh token" in result.message
