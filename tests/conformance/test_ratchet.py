"""The expected-failures ratchet: the file format, judging a run, ``baseline``, and ``run --expected-failures``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenconform import cli, ratchet
from tokenconform.catalog import Level, load_catalog
from tokenconform.errors import UsageError
from tokenconform.ratchet import Status
from tokenconform.results import CheckResult, Outcome, RunResult

from .test_cli import broken_server, one_line_error, tokenconform  # noqa: F401,F811 - broken_server is a fixture


def req(requirement_id: str):
    return load_catalog().get(requirement_id)


def must(n: int) -> str:
    return [r.id for r in load_catalog().requirements if r.level is Level.MUST and r.automated][n]


def run_with(results: list[CheckResult], text: str, **kwargs) -> RunResult:
    return RunResult(
        target="http://t", profile="p", started_at="2026-01-01T00:00:00+00:00", results=results,
        expected_failures=ratchet.parse(text, "known.toml"), **kwargs,
    )  # fmt: skip


def entry(rid: str, flaky: bool = False) -> str:
    return f'[[failure]]\nid = "{rid}"\nreason = "known"\nflaky = {str(flaky).lower()}\n'


# ---------------------------------------------------------------- judging


def test_exactly_the_listed_failures_exit_0():
    run = run_with(
        [CheckResult(req(must(0)), Outcome.FAILED, "x"), CheckResult(req(must(1)), Outcome.PASSED)], entry(must(0))
    )
    assert run.exit_code() == 0
    assert run.judgement().ids(Status.EXPECTED) == [must(0)]
    assert not run.counts(run.results[0])


def test_a_new_failure_exits_1():
    run = run_with(
        [CheckResult(req(must(0)), Outcome.FAILED), CheckResult(req(must(1)), Outcome.FAILED)], entry(must(0))
    )
    assert run.exit_code() == 1
    assert run.judgement().ids(Status.NEW) == [must(1)]


def test_a_listed_requirement_that_passes_exits_1_and_says_remove_it():
    run = run_with([CheckResult(req(must(0)), Outcome.PASSED)], entry(must(0)))
    assert run.exit_code() == 1
    line = run.judgement().lines()[0]
    assert "now passes" in line and "remove it from the file" in line and "known.toml" in line


@pytest.mark.parametrize("outcome", [Outcome.PASSED, Outcome.FAILED])
def test_a_flaky_entry_may_pass_or_fail(outcome):
    run = run_with([CheckResult(req(must(0)), outcome)], entry(must(0), flaky=True))
    assert run.exit_code() == 0
    assert run.judgement().ids(Status.FLAKY) == [must(0)]


def test_errors_still_exit_2_and_unjudged_entries_are_only_noted():
    run = run_with([CheckResult(req(must(1)), Outcome.ERROR)], entry(must(0)))
    assert run.exit_code() == 2
    assert run.judgement().ids(Status.NOT_JUDGED) == [must(0)]


def test_strict_declared_must_can_be_listed():
    declared = CheckResult(req(must(0)), Outcome.DECLARED, "profile says so")
    assert run_with([declared], "", strict=True).exit_code() == 1
    assert run_with([declared], entry(must(0)), strict=True).exit_code() == 0
    assert run_with([declared], "").exit_code() == 0  # without --strict a declared deviation is no failure


# ---------------------------------------------------------------- the file


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[[failure]\nid =", "not valid TOML"),
        ('[[failure]]\nid = "NOPE-01"\nreason = "x"\n', "'NOPE-01' is not a requirement ID"),
        ('[[failure]]\nreason = "x"\n', "missing 'id'"),
        ('[[failure]]\nid = "ROT-01"\n', "missing 'reason'"),
        ('[[failure]]\nid = "ROT-01"\nreason = "x"\nflakey = true\n', "unknown key 'flakey'"),
        ('[[failure]]\nid = "ROT-01"\nreason = "x"\nflaky = "yes"\n', "failure[0].flaky: expected a bool"),
        ('[[failure]]\nid = "ROT-01"\nreason = "x"\n[[failure]]\nid = "rot-01"\nreason = "y"\n', "listed twice"),
        ("failures = []\n", "unknown key 'failures'"),
    ],
)
def test_malformed_files_are_one_line_usage_errors(text, words):
    with pytest.raises(UsageError) as raised:
        ratchet.parse(text, "known.toml")
    assert words in str(raised.value) and "known.toml" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_bad_file_on_the_command_line_exits_2_before_any_request(tmp_path: Path, capsys):
    bad = tmp_path / "known.toml"
    bad.write_text('[[failure]]\nid = "XYZ-99"\nreason = "x"\n', encoding="utf-8")
    assert (
        cli.main(["run", "--target", "http://127.0.0.1:9", "--profile", "reference", "--expected-failures", str(bad)])
        == 2
    )
    line = one_line_error(capsys.readouterr().err)
    assert "--expected-failures" in line and "XYZ-99" in line
    assert cli.main(["run", "--expected-failures", str(tmp_path / "missing.toml"), "--list"]) == 2
    assert "no such file" in one_line_error(capsys.readouterr().err)


# ---------------------------------------------------------------- baseline


def report(checks: list[dict], **extra) -> dict:
    return {"tool": "tokenconform", "level": "must", "target": "http://t", "profile": "p", "checks": checks, **extra}


def test_baseline_lists_the_failures_that_count_and_round_trips(tmp_path: Path):
    checks = [
        {"id": must(0), "level": "MUST", "title": "t", "outcome": "failed", "message": 'said "no"\nthen left'},
        {"id": must(1), "level": "MUST", "title": "t", "outcome": "passed", "message": ""},
        {"id": "LGO-05", "level": "SHOULD", "title": "t", "outcome": "failed", "message": "warning only"},
        {"id": must(2), "level": "MUST", "title": "t", "outcome": "declared", "message": "declared"},
    ]
    text = ratchet.baseline(report(checks), source="r.json")
    parsed = ratchet.parse(text)
    assert list(parsed.entries) == [must(0)]
    assert parsed.entries[must(0)].reason == 'said "no" then left'
    strict = ratchet.parse(ratchet.baseline(report(checks, strict=True, level="should")))
    assert list(strict.entries) == [must(0), "LGO-05", must(2)]


def test_baseline_command_writes_a_file_and_refuses_to_overwrite(tmp_path: Path, capsys):
    source = tmp_path / "r.json"
    source.write_text(json.dumps(report([{"id": must(0), "level": "MUST", "outcome": "failed", "message": "m"}])))
    out = tmp_path / "known.toml"
    assert cli.main(["baseline", str(source), "-o", str(out)]) == 0
    assert list(ratchet.load(out).entries) == [must(0)]
    capsys.readouterr()
    assert cli.main(["baseline", str(source), "-o", str(out)]) == 2
    assert "--force" in one_line_error(capsys.readouterr().err)
    (tmp_path / "not.json").write_text("{}")
    assert cli.main(["baseline", str(tmp_path / "not.json")]) == 2
    assert "not a tokenconform JSON report" in one_line_error(capsys.readouterr().err)


# ---------------------------------------------------------------- against a target with one known failure


@pytest.mark.slow
@pytest.mark.parametrize("broken_server", ["refresh_returns_presented_token"], indirect=True)
def test_run_with_the_ratchet_against_one_known_failure(tmp_path: Path, broken_server: str) -> None:  # noqa: F811
    args = ("run", "--target", broken_server, "--profile", "reference", "--only", "ROT-01", "ROT-02")
    known = tmp_path / "known.toml"

    def run(text: str):
        known.write_text(text, encoding="utf-8")
        return tokenconform(*args, "--expected-failures", str(known), cwd=tmp_path)

    listed = run(entry("ROT-01"))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "failing as expected: ROT-01" in listed.stdout
    assert "XFAIL" in next(line for line in listed.stdout.splitlines() if line.startswith("  ROT-01"))

    unlisted = run("")
    assert unlisted.returncode == 1, unlisted.stdout + unlisted.stderr
    assert "new failures" in unlisted.stdout and "ROT-01" in unlisted.stdout

    passing = run(entry("ROT-01") + entry("ROT-02"))
    assert passing.returncode == 1, passing.stdout + passing.stderr
    assert "ROT-02 now passes: remove it from the file" in " ".join(passing.stdout.split())

    baseline = tmp_path / "baseline.toml"
    with_report = tokenconform(*args, "--json-report", str(tmp_path / "r.json"), cwd=tmp_path)
    assert with_report.returncode == 1
    assert tokenconform("baseline", str(tmp_path / "r.json"), "-o", str(baseline), cwd=tmp_path).returncode == 0
    assert tokenconform(*args, "--expected-failures", str(baseline), cwd=tmp_path).returncode == 0
