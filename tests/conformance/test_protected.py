"""Protected-resource checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.broken._privileged import PRIVILEGED_PATH, with_privileged_route
from tokenconform.profile import load_profile
from tokenconform.results import Outcome

from .conftest import assert_outcome, run_against


def profile_with(**changes: Any):
    """The reference profile with some sections replaced (dataclasses.replace at each level)."""
    profile = load_profile("reference")
    for section, values in changes.items():
        profile = dataclasses.replace(profile, **{section: dataclasses.replace(getattr(profile, section), **values)})
    return profile


@pytest.mark.parametrize("requirement_id", ["PRO-01", "PRO-02", "PRO-03", "PRO-05", "PRO-06", "PRO-07", "PRO-08"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("no_www_authenticate", "PRO-01"),
        ("forbidden_instead_of_unauthorized", "PRO-02"),
        ("empty_bearer_crashes", "PRO-03"),
        ("case_sensitive_bearer", "PRO-05"),
        ("accepts_token_in_query", "PRO-06"),
        ("access_cookie_without_samesite", "PRO-07"),
        ("ignores_access_cookie", "PRO-08"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


def test_an_invalid_token_answered_403_fails_pro02_alone_and_the_evidence_shows_the_header():
    # The seed's middleware: no token -> 401, a token that does not verify -> 403. Two quote
    # characters are such a token (PRO-02's), not an empty credential (PRO-03's).
    results = run_against(["PRO-02", "PRO-03"], defect="forbidden_for_invalid_token")
    assert_outcome(results["PRO-02"], Outcome.FAILED)
    assert_outcome(results["PRO-03"], Outcome.PASSED)
    empty = run_against(["PRO-03"], defect="empty_bearer_crashes")["PRO-03"]
    assert any("Authorization: 'Bearer'" in line for line in empty.evidence), empty.evidence


# ---------------------------------------------------------------- PRO-04: gated by policy.privileged_path


def test_privileged_route_check_skips_without_a_declared_route(reference_results):
    result = reference_results["PRO-04"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "policy.privileged_path" in result.message


#: The reference plus an /admin route done right (403 insufficient_scope to every user): the good side
#: of PRO-04, as the self-proof matrix's privileged setup uses it.
_admin_forbidden = with_privileged_route(check_role=True)


def test_privileged_route_check_passes_on_a_403():
    profile = profile_with(policy={"privileged_path": PRIVILEGED_PATH})
    result = run_against(["PRO-04"], app_factory=_admin_forbidden, profile=profile)["PRO-04"]
    assert_outcome(result, Outcome.PASSED)


def test_privileged_route_check_fails_when_any_user_gets_in():
    profile = profile_with(policy={"privileged_path": PRIVILEGED_PATH})
    result = run_against(["PRO-04"], defect="privileged_route_open_to_users", profile=profile)["PRO-04"]
    assert_outcome(result, Outcome.FAILED)
    # Regression (issue 10): the plain reference fails PRO-04 too (404), so only this says the open route was seen.
    assert "the target accepted it" in result.message


def test_privileged_route_check_fails_on_a_404():
    # RFC 6750 §3.1 wants 403: a declared privileged route that answers 404 does not meet it.
    profile = profile_with(policy={"privileged_path": PRIVILEGED_PATH})
    result = run_against(["PRO-04"], profile=profile)["PRO-04"]
    assert_outcome(result, Outcome.FAILED)


# ---------------------------------------------------------------- presentation gates


def test_cookie_csrf_check_skips_without_cookie_presentation():
    result = run_against(["PRO-07"], profile=profile_with(protected={"present": ("bearer",)}))["PRO-07"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "protected.present" in result.message


def test_bearer_checks_skip_without_bearer_presentation():
    profile = profile_with(protected={"present": ("cookie",)})
    results = run_against(["PRO-03", "PRO-05"], profile=profile)
    for requirement_id in ("PRO-03", "PRO-05"):
        assert_outcome(results[requirement_id], Outcome.SKIPPED)


def test_cookie_presentation_defect_hides_from_a_bearer_only_profile():
    # Why every declared presentation is exercised: the same defect is invisible through Bearer alone.
    profile = profile_with(protected={"present": ("bearer",)})
    result = run_against(["PRO-08"], defect="ignores_access_cookie", profile=profile)["PRO-08"]
    assert_outcome(result, Outcome.PASSED)


# ---------------------------------------------------------------- PRO-09: only the Bearer scheme


def test_bearer_only_check_passes_on_reference_server():
    # Not from reference_results: it needs the reference's refusal of bare tokens (issue 6 #9).
    assert_outcome(run_against(["PRO-09"])["PRO-09"], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "probe"),
    [("accepts_token_without_scheme", "no scheme"), ("accepts_any_authorization_scheme", "the Basic scheme")],
)
def test_bearer_only_check_fails_on_a_token_without_the_bearer_scheme(defect, probe):
    result = run_against(["PRO-09"], defect=defect)["PRO-09"]
    assert_outcome(result, Outcome.FAILED)
    assert probe in result.message


def _jwt_scheme_only(settings, store=None, *, clock=None):
    """djoser's documented AUTH_HEADER_TYPES = ('JWT',): 'JWT <token>' works, 'Bearer <token>' is
    refused with a JWT challenge."""
    from tests.broken._wsgi import Closing
    from tokenconform_server.app import create_app as reference_app

    app = reference_app(settings, store, clock=clock)

    def jwt_scheme(environ, start_response):
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme == "Bearer":
            start_response("401 Unauthorized", [("WWW-Authenticate", 'JWT realm="api"'), ("Content-Length", "0")])
            return [b""]
        if scheme == "JWT":
            environ = dict(environ, HTTP_AUTHORIZATION=f"Bearer {token}")
        return app(environ, start_response)

    return Closing(jwt_scheme, app)


def test_a_target_that_wants_another_scheme_is_named_in_the_calibration_error():
    result = run_against(["PRO-02"], app_factory=_jwt_scheme_only)["PRO-02"]
    assert_outcome(result, Outcome.ERROR)
    assert "asks for the 'JWT' scheme" in result.message and "Bearer" in result.message
