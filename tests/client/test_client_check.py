"""tokenconform client-check: the helper passes every client requirement with each token delivery,
the seed's Node client fails single-flight with the self-inflicted logout in evidence (tokens in
the body or in cookies), and each broken helper variant (tests/client/variants/<defect>.py) fails
its own requirement; under --delivery cookie, a Path-honouring cookie jar passes and each cookie
variant fails its own requirement and no other."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tokenconform import client_check
from tokenconform.catalog import load_catalog
from tokenconform.client_judges import JUDGES, Verdict, path_matches
from tokenconform.client_scenarios import ScenarioRun, client_profile
from tokenconform.profile import load_profile
from tokenconform.results import Outcome
from tokenconform_server.mock import MockApp, MockEvent, fingerprint
from tokenconform_server.mock_transports import ResponsesMock, mock_settings

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "examples" / "clients"
VARIANTS = Path(__file__).parent / "variants"
PYTHON = sys.executable

#: variant -> the requirement its one defect breaks (each variant's docstring says it too)
DEFECTS = {
    "no_single_flight": "CLI-01",
    "parallel_refreshes": "CLI-01",
    "retries_until_success": "CLI-02",
    "refresh_loop": "CLI-03",
    "keeps_old_refresh_token": "CLI-04",
    "ignores_session_end": "CLI-05",
    "refresh_token_everywhere": "CLI-06",
    "ignores_retry_after": "CLI-07",
    "proactive_storm": "CLI-08",
}
#: cookie-client variants (a cookie jar under TokenSession, variants/_jar.py), run with
#: --delivery cookie: variant -> the one requirement it fails
COOKIE_DEFECTS = {
    "no_single_flight_cookies": "CLI-01",
    "keeps_old_refresh_cookie": "CLI-04",
    "refresh_cookie_ignores_path": "CLI-06",
}


def outcomes(run) -> dict[str, Outcome]:
    return {r.id: r.outcome for r in run.results}


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["body", "cookie", "both"])
def test_the_python_helper_passes_every_client_requirement(delivery):
    run = client_check.run_client_check([PYTHON, str(CLIENTS / "python-helper.py")], delivery=delivery)
    assert outcomes(run) == {r.id: Outcome.PASSED for r in client_check.client_requirements()}, [
        (r.id, r.message, r.evidence) for r in run.results if r.outcome is not Outcome.PASSED
    ]
    assert run.exit_code() == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js 20")
def test_the_seed_client_fails_single_flight_and_logs_itself_out():
    run = client_check.run_client_check(["node", str(CLIENTS / "seed-fetch.js")], only=["CLI-01"])
    (result,) = run.results
    assert result.outcome is Outcome.FAILED
    assert "refreshes for one expiry" in result.message and "exited 3" in result.message
    assert any("reuse detected" in line for line in result.evidence), result.evidence
    assert run.exit_code() == 1


def _failed(run) -> set[str]:
    return {r.id for r in run.results if r.outcome is not Outcome.PASSED}


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["body", "cookie"])
def test_parallel_refreshes_fail_single_flight_and_nothing_else(delivery):
    # Without single-flight every concurrent 401 refreshes with the token it holds: those
    # refreshes were sent before any answer reached the client, so they are no loop (CLI-03),
    # no kept token (CLI-04), no ignored session end (CLI-05) and no ignored Retry-After (CLI-07).
    run = client_check.run_client_check([PYTHON, str(VARIANTS / "parallel_refreshes.py")], delivery=delivery)
    assert _failed(run) == {"CLI-01"}, [(r.id, r.message, r.evidence) for r in run.results]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js 20")
def test_the_seed_client_fails_single_flight_and_nothing_else():
    run = client_check.run_client_check(["node", str(CLIENTS / "seed-fetch.js")])
    assert _failed(run) == {"CLI-01"}, [(r.id, r.message, r.evidence) for r in run.results]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js 20")
def test_the_seed_client_in_cookie_mode_fails_single_flight_the_same_way():
    # The browser's cookies do not replace single-flight: the parallel refreshes all carry the
    # same refresh cookie, and the replay logs the user out.
    run = client_check.run_client_check(["node", str(CLIENTS / "seed-fetch-cookies.js")], delivery="cookie")
    assert _failed(run) == {"CLI-01"}, [(r.id, r.message, r.evidence) for r in run.results]
    by_id = {r.id: r for r in run.results}
    single_flight, placement = by_id["CLI-01"], by_id["CLI-06"]
    assert single_flight.outcome is Outcome.FAILED
    assert "the same refresh token presented more than once" in single_flight.message
    assert "exited 3" in single_flight.message
    assert any("(cookie)" in line and "POST /refresh" in line for line in single_flight.evidence)
    # Its jar honours the refresh cookie's Path=/refresh, so the cookie never reaches /profile.
    assert placement.outcome is Outcome.PASSED, (placement.message, placement.evidence)


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["body", "cookie"])
@pytest.mark.parametrize(("variant", "requirement_id"), sorted(DEFECTS.items()))
def test_each_broken_helper_fails_its_own_requirement(variant, requirement_id, delivery):
    run = client_check.run_client_check(
        [PYTHON, str(VARIANTS / f"{variant}.py")], only=[requirement_id], delivery=delivery
    )
    (result,) = run.results
    assert result.outcome is Outcome.FAILED, (result.message, result.evidence)


@pytest.mark.slow
def test_a_cookie_jar_that_honours_path_passes_every_client_requirement():
    run = client_check.run_client_check([PYTHON, str(VARIANTS / "_jar.py")], delivery="cookie")
    assert {r.id: r.outcome for r in run.results if r.outcome is not Outcome.PASSED} == {}, [
        (r.id, r.message, r.evidence) for r in run.results if r.outcome is not Outcome.PASSED
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "requirement_id"), sorted(COOKIE_DEFECTS.items()))
def test_each_cookie_variant_fails_its_own_requirement_and_no_other(variant, requirement_id):
    run = client_check.run_client_check([PYTHON, str(VARIANTS / f"{variant}.py")], delivery="cookie")
    failed = {r.id: r for r in run.results if r.outcome is not Outcome.PASSED}
    assert set(failed) == {requirement_id}, [(r.id, r.message, r.evidence) for r in failed.values()]
    assert failed[requirement_id].outcome is Outcome.FAILED


def test_every_client_requirement_has_a_judge_a_scenario_and_a_variant():
    ids = {r.id for r in load_catalog().requirements if r.category == "client"}
    assert set(client_check.JUDGES) == ids
    assert {i for s in client_check.SCENARIOS for i in s.judges} == ids
    assert set(DEFECTS.values()) == ids
    for variant, requirement_id in {**DEFECTS, **COOKIE_DEFECTS}.items():
        docstring = ast.get_docstring(ast.parse((VARIANTS / f"{variant}.py").read_text())) or ""
        assert requirement_id in docstring, variant
    for variant in COOKIE_DEFECTS:
        docstring = ast.get_docstring(ast.parse((VARIANTS / f"{variant}.py").read_text())) or ""
        assert "--delivery cookie" in docstring, variant


# -------------------------------------------------------------------- cookie delivery, no process


def event(seq: int, path: str, *, refresh: str | None = None, via: str | None = None, access: str | None = None):
    return MockEvent(
        seq=seq,
        start=2 * seq,
        end=2 * seq + 1,
        wall_start=float(seq),
        wall_end=float(seq),
        at=0.0,
        method="POST" if path != "/profile" else "GET",
        path=path,
        access=access,
        refresh=refresh,
        refresh_via=via,
        session="s1",
        status=200,
        fault=None,
        issued_access=None,
        issued_refresh=None,
        note=None,
    )


def placement(*events: MockEvent, cookie_path: str | None = "/refresh") -> Verdict | None:
    run = ScenarioRun("steady", delivery="cookie", refresh_cookie_path=cookie_path, events=list(events))
    try:
        JUDGES["CLI-06"](run, 2, 2)
    except Verdict as verdict:
        return verdict
    return None


def test_a_refresh_cookie_outside_its_path_fails_cli06_and_names_the_path():
    verdict = placement(
        event(1, "/refresh", refresh="fp:r1", via="cookie"), event(2, "/profile", refresh="fp:r1", via="cookie")
    )
    assert verdict is not None and verdict.outcome is Outcome.FAILED
    assert "['/profile']" in verdict.message and "Path is /refresh" in verdict.message
    assert verdict.evidence == ("#2 GET /profile refresh=fp:r1 (cookie) -> 200",)


def test_a_refresh_cookie_where_its_path_sends_it_is_not_the_clients_doing():
    assert placement(event(1, "/refresh", refresh="fp:r1", via="cookie")) is None
    # A server that scopes the refresh cookie to / sends it everywhere: the client only obeys.
    assert placement(event(1, "/profile", refresh="fp:r1", via="cookie"), cookie_path="/") is None
    # Path scoping covers cookies only: the same token in a body field is the client's own doing.
    verdict = placement(event(1, "/profile", refresh="fp:r1", via="body"), cookie_path="/")
    assert verdict is not None and "Path" not in verdict.message


def test_cli04_counts_an_old_refresh_cookie_where_it_is_spent_not_where_it_rides_along():
    rotation = event(1, "/refresh", refresh="fp:r1", via="cookie")
    straggler = event(2, "/profile", refresh="fp:r1", via="cookie")
    replay = event(3, "/refresh", refresh="fp:r1", via="cookie")
    run = ScenarioRun(
        "concurrent-expiry",
        delivery="cookie",
        refresh_cookie_path="/refresh",
        events=[rotation, straggler],
        triggered=[straggler["end"] or 0],  # a round ended after the rotation: the client held it
    )
    JUDGES["CLI-04"](run, 2, 2)  # the straggler is CLI-06's failure, not a replay
    run.events.append(replay)
    with pytest.raises(Verdict, match=r"presented again after it had been rotated \(in the cookie\)"):
        JUDGES["CLI-04"](run, 2, 2)


def test_cli04_leaves_a_refresh_sent_before_the_client_read_the_rotation_to_single_flight():
    # Concurrent calls without single-flight: each refresh was built before any answer was read,
    # however late it reaches the server (a connection pool queues it). Only a refresh after the
    # next round began (the trigger) shows a client that kept the rotated token.
    rotation = event(1, "/refresh", refresh="fp:r1", via="body")
    used_successor = event(2, "/profile", access="fp:a2")
    queued = event(3, "/refresh", refresh="fp:r1", via="body")
    run = ScenarioRun("concurrent-expiry", delivery="body", events=[rotation, used_successor, queued])
    JUDGES["CLI-04"](run, 3, 4)
    run.triggered.append(queued["end"] or 0)
    run.events.append(event(4, "/refresh", refresh="fp:r1", via="body"))
    with pytest.raises(Verdict, match=r"presented again after it had been rotated \(in the body\)"):
        JUDGES["CLI-04"](run, 3, 4)


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "expected"),
    [
        ("/refresh", "/refresh", True),
        ("/refresh/x", "/refresh", True),
        ("/refreshes", "/refresh", False),
        ("/profile", "/refresh", False),
        ("/profile", "/", True),
        ("/api/x", "/api/", True),
    ],
)
def test_path_match_follows_rfc_6265(request_path, cookie_path, expected):
    assert path_matches(request_path, cookie_path) is expected


def test_the_mock_scopes_the_refresh_cookie_by_path_and_records_it_where_it_is_sent():
    with ResponsesMock(mock_settings(delivery="cookie"), refresh_cookie_path="/refresh") as mock:
        login = requests.post(f"{mock.url}/login", json={"email": mock.username, "password": mock.password}, timeout=5)
        lines = {line.split("=", 1)[0]: line for line in login.raw.headers.getlist("Set-Cookie")}
        assert "Path=/refresh;" in lines["refreshToken"] and "Path=/;" in lines["accessToken"]
        assert "accessToken" not in login.json()  # delivery cookie: nothing in the body
        access_cookie = lines["accessToken"].split(";", 1)[0]
        refresh_token = lines["refreshToken"].split(";", 1)[0].split("=", 1)[1]
        requests.get(f"{mock.url}/profile", headers={"Cookie": f"refreshToken={refresh_token}"}, timeout=5)
        logout = requests.post(f"{mock.url}/logout", headers={"Cookie": access_cookie}, timeout=5)
        assert logout.status_code == 200, logout.text
        cleared = [line for line in logout.raw.headers.getlist("Set-Cookie") if line.startswith("refreshToken=")]
        # RFC 6265bis §5.7: only a Set-Cookie with the same Path replaces (here: deletes) the cookie.
        assert cleared and "Path=/refresh;" in cleared[0]
        profile_event = [e for e in mock.events() if e["path"] == "/profile"][0]
        assert (profile_event["refresh"], profile_event["refresh_via"]) == (fingerprint(refresh_token), "cookie")


def test_the_mock_refuses_a_refresh_cookie_path_a_client_would_reject():
    with pytest.raises(ValueError, match="starting with /"):
        MockApp(mock_settings(), refresh_cookie_path="refresh")
    with pytest.raises(ValueError, match="__Host-"):
        MockApp(mock_settings(cookie_prefix="__Host-"), refresh_cookie_path="/refresh")


def test_the_cookie_profile_describes_a_cookie_only_client_and_is_removed_after_the_run():
    with client_profile("cookie", None) as path:
        profile = load_profile(path)
        assert profile.policy.delivery == "cookie"
        assert (profile.tokens_access.json, profile.tokens_refresh.json) == ("", "")
        assert profile.refresh.present == ("cookie",) and profile.protected.present == ("cookie",)
    assert not Path(path).exists()
    with client_profile("body", None) as name:
        assert name == "reference"
    with client_profile("cookie", "simplejwt") as name:
        assert name == "simplejwt"  # the user's own profile wins


@pytest.mark.slow
def test_a_client_that_never_logs_in_cannot_be_judged():
    run = client_check.run_client_check([PYTHON, "-c", "print('hello')"], only=["CLI-01", "CLI-08"])
    assert {r.outcome for r in run.results} == {Outcome.ERROR}
    assert "never logged in" in run.results[0].message
    assert run.exit_code() == 2


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    return subprocess.run(
        [PYTHON, "-m", "tokenconform.client_check", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_list_names_every_client_requirement_and_runs_nothing(capsys):
    assert client_check.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(r.id in out for r in client_check.client_requirements()) and "concurrent-expiry" in out


def test_usage_errors_exit_2(capsys):
    assert client_check.main([]) == 2
    assert "after --" in capsys.readouterr().err
    assert client_check.main(["--delivery", "jar", "--", "true"]) == 2
    assert "invalid choice: 'jar'" in capsys.readouterr().err
    assert client_check.main(["--only", "ROT-01", "--", "true"]) == 2
    assert client_check.main(["--", "/nonexistent/client"]) == 2
    assert "cannot run" in capsys.readouterr().err


@pytest.mark.slow
def test_command_line_exit_status_and_report(tmp_path):
    report = tmp_path / "client.json"
    done = cli("--only", "CLI-04", "--json-report", str(report), "--", PYTHON, str(CLIENTS / "python-helper.py"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLI-04" in done.stdout and report.exists()


@pytest.mark.slow
def test_command_line_with_cookie_delivery(tmp_path):
    report = tmp_path / "client.json"
    done = cli(
        "--delivery", "cookie", "--only", "CLI-06", "--json-report", str(report),
        "--", PYTHON, str(CLIENTS / "python-helper.py"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "client-check-cookie (delivery cookie)" in done.stdout
    assert json.loads(report.read_text())["profile"] == "client-check-cookie (delivery cookie)"


def test_help_documents_delivery():
    done = cli("--help")
    assert done.returncode == 0
    assert "--delivery {body,cookie,both}" in done.stdout and "TOKENCONFORM_DELIVERY" in done.stdout
