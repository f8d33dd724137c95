"""Robustness checks: each passes on the reference server and fails on its one defect."""

from __future__ import annotations

import dataclasses
import io
import json
import threading

import pytest
import responses

from tests.broken._service import app_with
from tests.broken._wsgi import REQUEST_BODY, Closing, rewrite
from tokenconform.context import CheckContext, RunConfig
from tokenconform.engine import run_checks
from tokenconform.profile import load_profile
from tokenconform.registry import load_all_checks
from tokenconform.results import Outcome
from tokenconform_server.app import create_app as reference_app
from tokenconform_server.cookies import refresh_cookie_name
from tokenconform_server.server import ReferenceServer
from tokenconform_server.sessions import SessionService

from .conftest import assert_outcome, embedded_settings, run_against


@pytest.mark.parametrize("requirement_id", ["RBS-01", "RBS-02", "RBS-03", "RBS-05"])
def test_passes_on_reference_server(reference_results, requirement_id):
    assert_outcome(reference_results[requirement_id], Outcome.PASSED)


@pytest.mark.parametrize(
    ("defect", "requirement_id"),
    [
        ("crashes_on_garbage_token", "RBS-01"),
        ("error_bodies_leak_traceback", "RBS-02"),
        ("refresh_validates_cookie_rotates_body", "RBS-03"),
        ("crashes_on_malformed_json", "RBS-05"),
        ("login_crashes_on_typed_password", "RBS-05"),
    ],
)
def test_fails_on_its_defect(defect, requirement_id):
    result = run_against([requirement_id], defect=defect)[requirement_id]
    assert_outcome(result, Outcome.FAILED)


# ---------------------------------------------------------------- RBS-03: one source read, deterministically


def _one_source(source: str):
    """The reference reading one refresh-token source when a request carries both: ``cookie`` is the
    seed's ``req.cookies.refreshToken || req.body.refreshToken``; ``body`` the other way round."""

    def create_app(settings, store=None, *, clock=None):
        app = reference_app(settings, store, clock=clock)
        name = refresh_cookie_name(settings)

        def read_one(environ, start_response):
            pairs = [p.strip().partition("=") for p in environ.get("HTTP_COOKIE", "").split(";")]
            in_cookie = any(sep and key == name and value for key, sep, value in pairs)
            try:
                document = json.loads(environ.get(REQUEST_BODY) or b"{}")
            except ValueError:
                document = None
            in_body = isinstance(document, dict) and document.get("refreshToken")
            if environ.get("PATH_INFO") == "/refresh" and in_cookie and in_body:
                if source == "cookie":
                    rest = json.dumps({k: v for k, v in document.items() if k != "refreshToken"}).encode()
                    environ = dict(environ, **{"wsgi.input": io.BytesIO(rest), "CONTENT_LENGTH": str(len(rest))})
                else:
                    kept = [p for p in environ["HTTP_COOKIE"].split(";") if p.strip().partition("=")[0] != name]
                    environ = dict(environ, HTTP_COOKIE=";".join(kept))
            return app(environ, start_response)

        return rewrite(Closing(read_one, app), lambda environ, status, headers, body: (status, headers, body))

    return create_app


@pytest.mark.parametrize("source", ["cookie", "body"])
def test_conflicting_sources_check_passes_a_target_that_reads_one_source(source):
    """Regression test: RBS-03 failed the seed, which reads the cookie and ignores the body. With the
    used token in the unread source, the valid one is rotated (and used up): nothing is bypassed."""
    result = run_against(["RBS-03"], app_factory=_one_source(source))["RBS-03"]
    assert_outcome(result, Outcome.PASSED)


def test_conflicting_sources_check_names_the_token_that_still_works():
    result = run_against(["RBS-03"], defect="refresh_validates_cookie_rotates_body")["RBS-03"]
    assert "the valid token still refreshes on its own" in result.message
    assert "used refresh token in the body" in result.message


def test_conflicting_sources_check_passes_the_reference_under_a_grace_window():
    profile = load_profile("reference")
    profile = dataclasses.replace(profile, policy=dataclasses.replace(profile.policy, concurrent_refresh_grace=1))
    result = run_against(["RBS-03"], profile=profile)["RBS-03"]
    assert_outcome(result, Outcome.PASSED)


def test_conflicting_sources_check_skips_with_one_refresh_presentation():
    profile = load_profile("reference")
    profile = dataclasses.replace(profile, refresh=dataclasses.replace(profile.refresh, present=("body",)))
    result = run_against(["RBS-03"], profile=profile)["RBS-03"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "refresh.present" in result.message


# ---------------------------------------------------------------- RBS-04: https only


def test_hsts_check_skips_on_plain_http(reference_results):
    result = reference_results["RBS-04"]
    assert_outcome(result, Outcome.SKIPPED)
    assert "plain http" in result.message


HTTPS_TARGET = "https://api.tokenconform.test"
ONE_YEAR = "max-age=31536000; includeSubDomains"


def _run_hsts_check_against_canned_https(hsts: str | None):
    """RBS-04 against canned https answers (no TLS server needed), with ``hsts`` on every response."""
    headers = {"Strict-Transport-Security": hsts} if hsts else {}
    tokens = {"accessToken": "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln", "refreshToken": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}
    with responses.RequestsMock() as mock:
        mock.post(f"{HTTPS_TARGET}/register", json={"user": {}}, status=201, headers=headers)
        mock.post(f"{HTTPS_TARGET}/login", json=tokens, headers=headers)
        mock.get(f"{HTTPS_TARGET}/profile", json={"user": {}}, headers=headers)
        ctx = CheckContext(load_profile("reference"), RunConfig(target=HTTPS_TARGET))
        try:
            [result] = run_checks([load_all_checks().get("RBS-04")], ctx)
        finally:
            ctx.close()
    return result


def test_hsts_check_passes_with_a_year_of_hsts():
    assert_outcome(_run_hsts_check_against_canned_https(ONE_YEAR), Outcome.PASSED)


@pytest.mark.parametrize("hsts", [None, "max-age=86400"], ids=["no-hsts", "one-day"])
def test_hsts_check_fails_on_https_without_a_year_of_hsts(hsts):
    assert_outcome(_run_hsts_check_against_canned_https(hsts), Outcome.FAILED)


# ---------------------------------------------------------------- RBS-05: typed passwords for an existing account


def test_typed_password_crash_for_an_existing_account_fails():
    """Regression test: the seed's login crashed on {"email": <registered>, "password": 12345}
    (bcrypt.compare), yet RBS-05 passed: every probe used an unknown account, refused before the
    password is read."""
    result = run_against(["RBS-05"], defect="login_crashes_on_typed_password")["RBS-05"]
    assert_outcome(result, Outcome.FAILED)
    assert "a login of an existing account with a number as the password" in result.message
    assert "server error" in result.message


def test_target_that_dies_on_a_typed_password_fails_with_a_clear_message():
    """Express 4 answers nothing: the unhandled rejection ends the process. RBS-05 says so, rather
    than the next check reporting an unreachable target."""
    settings = embedded_settings()
    holder: dict[str, ReferenceServer] = {}
    inner = reference_app(settings)

    def dies(environ, status, headers, body):
        try:
            document = json.loads(environ.get(REQUEST_BODY) or b"{}")
        except ValueError:
            document = None
        known = isinstance(document, dict) and str(document.get("email", "")).endswith("@example.test")
        if environ.get("PATH_INFO") == "/login" and known and not isinstance(document.get("password"), str):
            threading.Thread(target=holder["server"].stop, daemon=True).start()
        return status, headers, body

    with ReferenceServer(settings, app=rewrite(inner, dies)) as server:
        holder["server"] = server
        ctx = CheckContext(load_profile("reference"), RunConfig(target=server.url, timeout=10.0, max_wait=15.0))
        try:
            [result] = run_checks([load_all_checks().get("RBS-05")], ctx)
        finally:
            ctx.close()
    assert_outcome(result, Outcome.FAILED)
    assert "stopped answering" in result.message


# ---------------------------------------------------------------- missing input (issue 6 #11)


@pytest.mark.parametrize(
    ("requirement_id", "probe"),
    [("RBS-01", "no token at all"), ("RBS-05", "a login with no email field"), ("RBS-02", "stack trace")],
)
def test_missing_input_answered_with_a_crash_fails(requirement_id, probe):
    """Regression test for issue 6 #11: RBS-01/05 passed a target whose /refresh with no token and
    /login with a missing field answered 500 with a stack trace."""
    result = run_against([requirement_id], defect="crashes_on_missing_input")[requirement_id]
    assert_outcome(result, Outcome.FAILED)
    assert probe in result.message


class _ConflictSkipsReuseDetection(SessionService):
    def check_reuse(self, refresh_token: str | None) -> None:
        return None  # the conflicting request is refused, but its used token revokes nothing


def test_conflicting_sources_check_fails_a_refusal_that_dodges_family_revocation():
    result = run_against(["RBS-03"], app_factory=app_with(_ConflictSkipsReuseDetection))["RBS-03"]
    assert_outcome(result, Outcome.FAILED)
    assert "a replay on its own revokes it" in result.message
