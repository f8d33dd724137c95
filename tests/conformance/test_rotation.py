"""Rotation checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import pytest

from tokenconform.results import Outcome

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


def _refresh_by_bearer(app):
    """The reference API, except that /refresh takes the refresh token from Authorization: Bearer
    (as some APIs do) instead of the body or cookie."""
    import io
    import json as json_module

    def wrapped(environ, start_response):
        header = environ.get("HTTP_AUTHORIZATION", "")
        if environ.get("PATH_INFO") == "/refresh" and header.lower().startswith("bearer "):
            body = json_module.dumps({"refreshToken": header[7:].strip()}).encode()
            environ = dict(environ, HTTP_AUTHORIZATION="", CONTENT_TYPE="application/json")
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return wrapped


def test_a_refresh_token_presented_by_bearer_is_spoken():
    """Issue 6.21: `[refresh] present = ["bearer"]` sends the refresh token in the Authorization header."""
    import dataclasses

    from tokenconform.profile import load_profile
    from tokenconform_server.app import create_app

    reference = load_profile("reference")
    profile = dataclasses.replace(reference, refresh=dataclasses.replace(reference.refresh, present=("bearer",)))
    results = run_against(
        ["ROT-01", "ROT-02", "ROT-03", "REU-01", "REU-02"],
        app_factory=lambda settings: _refresh_by_bearer(create_app(settings)),
        profile=profile,
    )
    for result in results.values():
        assert_outcome(result, Outcome.PASSED)
    assert any("Bearer" in line and "/refresh" in line for r in results.values() for line in r.evidence)


def test_without_rotation_the_chain_skips_naming_rot01_and_identity_is_judged_on_the_access_token():
    """Regression: a refresh that issues no new refresh token left the presented one standing in, so
    ROT-03 exchanged R1 three times and ROT-04 compared R1's claims with R1's, both passing."""
    results = run_against(["ROT-03", "ROT-04"], defect="refresh_returns_presented_token")
    assert_outcome(results["ROT-03"], Outcome.SKIPPED)
    assert "see ROT-01" in results["ROT-03"].message
    assert_outcome(results["ROT-04"], Outcome.PASSED)


def _no_rotation_and_unusable_access_token(settings):
    from tests.broken._wsgi import rewrite
    from tests.broken.refresh_returns_presented_token import create_app as without_rotation
    from tests.broken.refresh_returns_unusable_access_token import _spoil_access_token

    return rewrite(without_rotation(settings), _spoil_access_token)


def test_without_rotation_the_refreshed_access_token_is_still_judged():
    results = run_against(["ROT-03", "ROT-04"], app_factory=_no_rotation_and_unusable_access_token)
    assert_outcome(results["ROT-03"], Outcome.FAILED)
    assert "refresh #1 was refused" in results["ROT-03"].message
    assert_outcome(results["ROT-04"], Outcome.FAILED)


@pytest.mark.slow
def test_flask_docs_refresh_without_rotation():
    """flask-jwt-extended's documented refresh view sets a new access cookie only."""
    from tests.shapes.conftest import flask_jwt_extended_shape, run_shape

    results = run_shape(flask_jwt_extended_shape(), ["ROT-03", "ROT-04"])
    assert_outcome(results["ROT-03"], Outcome.SKIPPED)
    assert "see ROT-01" in results["ROT-03"].message
    assert_outcome(results["ROT-04"], Outcome.PASSED)
