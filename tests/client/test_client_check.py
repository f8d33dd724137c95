"""tokenconform client-check: the helper passes every client requirement, the seed's Node client
fails single-flight with the self-inflicted logout in evidence, and each broken helper variant
(tests/client/variants/<defect>.py) fails its own requirement."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tokenconform import client_check
from tokenconform.catalog import load_catalog
from tokenconform.results import Outcome

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "examples" / "clients"
VARIANTS = Path(__file__).parent / "variants"
PYTHON = sys.executable

#: variant -> the requirement its one defect breaks (each variant's docstring says it too)
DEFECTS = {
    "no_single_flight": "CLI-01",
    "retries_until_success": "CLI-02",
    "refresh_loop": "CLI-03",
    "keeps_old_refresh_token": "CLI-04",
    "ignores_session_end": "CLI-05",
    "refresh_token_everywhere": "CLI-06",
    "ignores_retry_after": "CLI-07",
    "proactive_storm": "CLI-08",
}


def outcomes(run) -> dict[str, Outcome]:
    return {r.id: r.outcome for r in run.results}


@pytest.mark.slow
def test_the_python_helper_passes_every_client_requirement():
    run = client_check.run_client_check([PYTHON, str(CLIENTS / "python-helper.py")])
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


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "requirement_id"), sorted(DEFECTS.items()))
def test_each_broken_helper_fails_its_own_requirement(variant, requirement_id):
    run = client_check.run_client_check([PYTHON, str(VARIANTS / f"{variant}.py")], only=[requirement_id])
    (result,) = run.results
    assert result.outcome is Outcome.FAILED, (result.message, result.evidence)


def test_every_client_requirement_has_a_judge_a_scenario_and_a_variant():
    ids = {r.id for r in load_catalog().requirements if r.category == "client"}
    assert set(client_check.JUDGES) == ids
    assert {i for s in client_check.SCENARIOS for i in s.judges} == ids
    assert set(DEFECTS.values()) == ids
    for variant, requirement_id in DEFECTS.items():
        docstring = ast.get_docstring(ast.parse((VARIANTS / f"{variant}.py").read_text())) or ""
        assert requirement_id in docstring, variant


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
    assert client_check.main(["--only", "ROT-01", "--", "true"]) == 2
    assert client_check.main(["--", "/nonexistent/client"]) == 2
    assert "cannot run" in capsys.readouterr().err


@pytest.mark.slow
def test_command_line_exit_status_and_report(tmp_path):
    report = tmp_path / "client.json"
    done = cli("--only", "CLI-04", "--json-report", str(report), "--", PYTHON, str(CLIENTS / "python-helper.py"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CLI-04" in done.stdout and report.exists()
