"""The four report writers, fed hand-built runs: shapes, counts, escaping and the summary-last layout."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

import tokenconform
from tokenconform.catalog import Level, Requirement, load_catalog
from tokenconform.reporting import json as json_report
from tokenconform.reporting import junit, markdown, terminal
from tokenconform.results import CheckResult, Outcome, RunResult

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "spec" / "report.schema.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def requirement(level: Level, category: str, *, automated: bool = True) -> Requirement:
    """The first catalogue requirement with this level and category (real IDs, titles, references)."""
    for candidate in load_catalog().requirements:
        if candidate.level is level and candidate.category == category and candidate.automated is automated:
            return candidate
    raise LookupError(f"no {level.value} requirement in {category} (automated={automated})")


def not_automated() -> Requirement:
    return next(r for r in load_catalog().requirements if not r.automated)


def make_run(level: Level = Level.MUST, *, results: list[CheckResult] | None = None) -> RunResult:
    return RunResult(
        target="http://127.0.0.1:8123",
        profile="reference",
        started_at="2026-05-09T10:00:00+00:00",
        duration_s=12.5,
        level=level,
        results=every_outcome() if results is None else results,
        waited_s=6.25,
    )


def every_outcome() -> list[CheckResult]:
    """One result per outcome, MUST and SHOULD failures, in an order that is not the catalogue's."""
    return [
        CheckResult(
            requirement(Level.SHOULD, "logout"),
            Outcome.FAILED,
            "other session | logged out too",
            0.2,
            expected="the second device's refresh succeeds",
            actual="401 Unauthorized\nbody: {}",
            evidence=("POST /refresh [cookie refreshToken=eyJ…] -> 401",),
        ),
        CheckResult(requirement(Level.MUST, "rotation"), Outcome.PASSED, "", 0.05, evidence=("POST /refresh -> 200",)),
        CheckResult(
            requirement(Level.MUST, "tokens"),
            Outcome.FAILED,
            "a token with alg none was accepted",
            0.1,
            expected="401 with WWW-Authenticate: Bearer",
            actual="200 OK",
            evidence=('GET /profile [Bearer eyJhbGciOiJub25lIn0…] -> 200\n  body: {"username": "u1"}',),
        ),
        CheckResult(
            requirement(Level.MUST, "reuse"),
            Outcome.ERROR,
            "refresh answered 500: cannot judge",
            0.3,
            evidence=("POST /refresh -> 500\n  body: Internal Server Error",),
        ),
        CheckResult(requirement(Level.MUST, "expiry"), Outcome.SKIPPED, "refresh TTL 604800 s exceeds --max-wait 30 s"),
        CheckResult(requirement(Level.MUST, "logout"), Outcome.DECLARED, "profile declares access tokens live to exp"),
        CheckResult(not_automated(), Outcome.NOT_CHECKED),
    ]


def by_outcome(run: RunResult, outcome: Outcome, level: Level | None = None) -> CheckResult:
    return next(r for r in run.results if r.outcome is outcome and (level is None or r.requirement.level is level))


# ---------------------------------------------------------------- JSON


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    document: dict[str, object] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def validate(instance: object, schema: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    validator.validate(instance)


@pytest.mark.parametrize("level", [Level.MUST, Level.SHOULD])
def test_json_report_validates_against_its_schema(schema, level):
    validate(json.loads(json_report.render(make_run(level))), schema)


def test_json_report_of_an_empty_run_validates(schema):
    document = json.loads(json_report.render(make_run(results=[])))
    validate(document, schema)
    assert document["checks"] == []
    assert document["exit_code"] == 0


def test_json_report_header_and_summary():
    run = make_run()
    document = json.loads(json_report.render(run))
    assert document["tool"] == "tokenconform"
    assert document["version"] == tokenconform.__version__
    assert document["target"] == "http://127.0.0.1:8123"
    assert document["profile"] == "reference"
    assert datetime.fromisoformat(document["started_at"]).tzinfo is not None
    assert document["duration_s"] == 12.5
    assert document["waited_s"] == 6.25
    assert document["level"] == "must"
    assert document["exit_code"] == 2  # an error: the run could not be judged
    assert document["summary"] == {
        "total": 7,
        "passed": 1,
        "failed": 2,
        "declared": 1,
        "skipped": 1,
        "errors": 1,
        "not_checked": 1,
        "must_failed": 1,
        "should_failed": 1,
        "may_failed": 0,
        "not_present": 0,
        "declared_must": 1,
    }
    assert document["declared_must"] == [by_outcome(run, Outcome.DECLARED).id]
    assert document["strict"] is False and document["fatal"] == "" and document["interrupted"] is False
    assert document["expected_failures"] is None


def test_json_checks_are_in_catalogue_order_with_catalogue_data():
    run = make_run()
    checks = json.loads(json_report.render(run))["checks"]
    rank = {r.id: i for i, r in enumerate(load_catalog().requirements)}
    ids = [c["id"] for c in checks]
    assert ids == sorted(ids, key=rank.__getitem__)
    failed = next(c for c in checks if c["outcome"] == "failed" and c["level"] == "MUST")
    catalogued = load_catalog().get(failed["id"])
    assert failed["title"] == catalogued.title
    assert failed["statement"] == catalogued.statement
    assert failed["references"] == list(catalogued.references)
    assert failed["expected"] == "401 with WWW-Authenticate: Bearer"
    assert failed["actual"] == "200 OK"
    assert failed["evidence"][0].startswith("GET /profile")


def test_json_not_checked_carries_the_catalogue_reason():
    checks = json.loads(json_report.render(make_run()))["checks"]
    row = next(c for c in checks if c["outcome"] == "not_checked")
    assert row["message"] == not_automated().not_automated_reason


@pytest.mark.parametrize(
    ("level", "should_failure_counts"),
    [(Level.MUST, False), (Level.SHOULD, True)],
)
def test_json_counts_flag_follows_the_run_level(level, should_failure_counts):
    checks = {c["id"]: c for c in json.loads(json_report.render(make_run(level)))["checks"]}
    run = make_run(level)
    expected = {
        by_outcome(run, Outcome.FAILED, Level.MUST).id: True,
        by_outcome(run, Outcome.FAILED, Level.SHOULD).id: should_failure_counts,
        by_outcome(run, Outcome.ERROR).id: True,  # an error changes the exit code too (2)
        by_outcome(run, Outcome.PASSED).id: False,
        by_outcome(run, Outcome.SKIPPED).id: False,
        by_outcome(run, Outcome.DECLARED).id: False,
        by_outcome(run, Outcome.NOT_CHECKED).id: False,
    }
    assert {i: checks[i]["counts"] for i in expected} == expected


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("checks", 0, "id"), "ROT-1"),
        (("checks", 0, "outcome"), "warning"),
        (("checks", 0, "unexpected"), 1),
        (("summary", "unexpected"), 1),
        (("level",), "strict"),
    ],
)
def test_schema_rejects_what_the_report_never_contains(schema, path, value):
    document = json.loads(json_report.render(make_run()))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(document, schema)


def test_schema_ships_with_the_catalogue():
    import importlib.resources

    shipped = importlib.resources.files("tokenconform_spec").joinpath("report.schema.json")
    assert json.loads(shipped.read_text(encoding="utf-8"))["title"] == "tokenconform JSON report"


# ---------------------------------------------------------------- JUnit


def junit_root(run: RunResult) -> ET.Element:
    text = junit.render(run)
    assert text.startswith("<?xml")
    return ET.fromstring(text)


def test_junit_has_one_testsuite_per_category_in_catalogue_order():
    run = make_run()
    root = junit_root(run)
    assert root.tag == "testsuites"
    names = [suite.get("name") for suite in root.findall("testsuite")]
    catalogue_order = [c for c in load_catalog().category_names() if c in {r.requirement.category for r in run.results}]
    assert names == catalogue_order


def test_junit_counts_agree_with_testcases():
    root = junit_root(make_run())
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        assert {k: int(suite.get(k, "-1")) for k in counted} == counted
        assert float(suite.get("time", "-1")) >= 0
        for key, value in counted.items():
            totals[key] += value
    assert {k: int(root.get(k, "-1")) for k in totals} == totals
    assert totals == {"tests": 7, "failures": 1, "errors": 1, "skipped": 3}


def test_junit_testcase_names_carry_the_requirement_id():
    run = make_run()
    cases = junit_root(run).iter("testcase")
    by_id = {case.get("name", "").split(" ", 1)[0]: case for case in cases}
    assert set(by_id) == {r.id for r in run.results}
    for result in run.results:
        case = by_id[result.id]
        assert case.get("name") == f"{result.id} {result.requirement.title}"
        assert case.get("classname") == f"tokenconform.{result.requirement.category}"
        assert case.get("time") is not None


@pytest.mark.parametrize(
    ("level", "failing_levels"),
    [(Level.MUST, {"MUST"}), (Level.SHOULD, {"MUST", "SHOULD"})],
)
def test_junit_failures_only_for_failures_that_count(level, failing_levels):
    run = make_run(level)
    root = junit_root(run)
    failed = {}
    for case in root.iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            failed[case.get("name", "").split(" ", 1)[0]] = failure
    assert {load_catalog().get(i).level.value for i in failed} == failing_levels
    must_failure = failed[by_outcome(run, Outcome.FAILED, Level.MUST).id]
    assert must_failure.get("type") == "RequirementFailed"
    assert must_failure.get("message") == "a token with alg none was accepted"
    body = must_failure.text or ""
    assert "expected: 401 with WWW-Authenticate: Bearer" in body
    assert "actual: 200 OK" in body
    assert "GET /profile" in body


def test_junit_should_failure_at_level_must_is_a_warning_in_system_out():
    run = make_run(Level.MUST)
    warned = by_outcome(run, Outcome.FAILED, Level.SHOULD)
    case = next(c for c in junit_root(run).iter("testcase") if c.get("name", "").startswith(warned.id))
    assert case.find("failure") is None
    assert case.find("skipped") is None
    out = case.findtext("system-out") or ""
    assert out.startswith("WARNING: SHOULD requirement not met")
    assert "other session | logged out too" in out


def test_junit_errors_and_skips():
    run = make_run()
    cases = {c.get("name", "").split(" ", 1)[0]: c for c in junit_root(run).iter("testcase")}
    error = cases[by_outcome(run, Outcome.ERROR).id].find("error")
    assert error is not None
    assert error.get("message") == "refresh answered 500: cannot judge"
    assert "Internal Server Error" in (error.text or "")
    skipped = {
        outcome: cases[by_outcome(run, outcome).id].find("skipped")
        for outcome in (Outcome.SKIPPED, Outcome.DECLARED, Outcome.NOT_CHECKED)
    }
    messages = {o: (element.get("message") if element is not None else None) for o, element in skipped.items()}
    assert messages[Outcome.SKIPPED] == "refresh TTL 604800 s exceeds --max-wait 30 s"
    assert messages[Outcome.DECLARED] == "declared: profile declares access tokens live to exp"
    assert messages[Outcome.NOT_CHECKED] == f"not checked: {not_automated().not_automated_reason}"
    passed = cases[by_outcome(run, Outcome.PASSED).id]
    assert list(passed) == []


def test_junit_survives_control_characters_from_the_target():
    hostile = CheckResult(
        requirement(Level.MUST, "robustness"),
        Outcome.FAILED,
        "5xx\x00 on garbage",
        expected="4xx",
        actual="500 \x1b[31m\x08",
        evidence=("POST /login -> 500\n  body: \x01\x02</failure>]]>",),
    )
    root = junit_root(make_run(results=[hostile]))
    failure = next(root.iter("failure"))
    assert "\\x00" in (failure.get("message") or "")
    assert "</failure>]]>" in (failure.text or "")


# ---------------------------------------------------------------- Markdown

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def tables(text: str) -> list[list[str]]:
    """Blocks of consecutive lines that start with a pipe."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


@pytest.mark.parametrize("level", [Level.MUST, Level.SHOULD])
def test_markdown_tables_are_well_formed(level):
    run = make_run(level)
    text = markdown.render(run)
    blocks = tables(text)
    # failures, errors, declared deviations, and warnings unless they count
    attention = 4 if level is Level.MUST else 3
    assert len(blocks) == 1 + attention + len({r.requirement.category for r in run.results})
    for block in blocks:
        header, separator, *rows = block
        width = len(UNESCAPED_PIPE.findall(header))
        assert re.fullmatch(r"\|( -*-:? \|)+", separator), separator
        assert len(UNESCAPED_PIPE.findall(separator)) == width
        for row in rows:
            assert row.endswith(" |")
            assert len(UNESCAPED_PIPE.findall(row)) == width, row


def test_markdown_escapes_pipes_and_newlines_in_cells():
    text = markdown.render(make_run())
    assert "other session \\| logged out too" in text
    assert "401 Unauthorized<br>body: {}" in text
    assert "other session | logged out" not in text


def test_markdown_verdict_first_then_summary_then_failures_then_categories():
    run = make_run(Level.SHOULD, results=[r for r in every_outcome() if r.outcome is not Outcome.ERROR])
    text = markdown.render(run)
    first = text.splitlines()[0]
    declared = by_outcome(run, Outcome.DECLARED).id
    assert (
        first
        == f"## tokenconform: FAILED, 2 failures at level should (1 declared MUST deviation: {declared}), exit code 1"
    )
    failures = text.index("### Failures")
    assert text.index("| outcome | MUST | SHOULD | MAY | total |") < failures
    used = {r.requirement.category for r in run.results}
    for title in (c.title for c in load_catalog().categories if c.name in used):
        assert text.index(f"### {title}") > failures
    section = text[failures : text.index("\n### ", failures + 1)]
    assert "401 with WWW\\-Authenticate: Bearer" not in section  # '-' is not markup: left alone
    assert "401 with WWW-Authenticate: Bearer" in section
    assert "| 200 OK |" in section
    assert "### Warnings" not in text  # at level should the SHOULD failure is a failure


def test_markdown_summary_counts_by_level():
    text = markdown.render(make_run())
    assert "| failed | 1 | 1 | 0 | 2 |" in text
    levels = [r.requirement.level for r in make_run().results]
    assert (
        f"| total | {levels.count(Level.MUST)} | {levels.count(Level.SHOULD)} | {levels.count(Level.MAY)} | 7 |" in text
    )


def test_markdown_uses_status_words_and_no_emoji():
    run = make_run(Level.MUST)
    text = markdown.render(run)
    warned = by_outcome(run, Outcome.FAILED, Level.SHOULD)
    assert re.search(rf"^\| {warned.id} \| SHOULD \| .* \| warning \|", text, re.MULTILINE)
    assert "| not checked |" in text
    assert "| declared |" in text
    assert "| FAILED |" in text and "| ERROR |" in text
    assert "### Warnings" in text
    assert not [c for c in text if 0x2600 <= ord(c) <= 0x27BF or ord(c) >= 0x1F000]


def test_markdown_evidence_cannot_escape_its_block():
    hostile = CheckResult(
        requirement(Level.MUST, "robustness"),
        Outcome.FAILED,
        "<script>alert(1)</script>",
        evidence=("body: ```\n</details>\x1b[2J",),
    )
    text = markdown.render(make_run(results=[hostile]))
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "\x1b" not in text
    assert "\n````text\n" in text  # a fence longer than the backticks inside


# ---------------------------------------------------------------- terminal


def test_terminal_groups_by_category_in_catalogue_order():
    run = make_run()
    lines = terminal.render(run).splitlines()
    categories = [c for c in load_catalog().categories if c.name in {r.requirement.category for r in run.results}]
    positions = [lines.index(c.title) for c in categories]
    assert positions == sorted(positions)
    for result in run.results:
        row = next(i for i, line in enumerate(lines) if line.startswith(f"  {result.id}  "))
        own = positions[[c.name for c in categories].index(result.requirement.category)]
        later = [p for p in positions if p > own]
        assert own < row < (later[0] if later else len(lines))


def test_terminal_summary_comes_last_and_ends_with_the_verdict():
    run = make_run(results=[r for r in every_outcome() if r.outcome is not Outcome.ERROR])
    lines = terminal.render(run).splitlines()
    summary = lines.index("Summary")
    last_row = max(i for i, line in enumerate(lines) if re.match(r"  [A-Z]{3}-\d\d  ", line))
    assert summary > last_row
    declared = by_outcome(run, Outcome.DECLARED).id
    assert (
        lines[-1] == f"FAILED: 1 failure at level must (1 warning; 1 declared MUST deviation: {declared}); exit code 1"
    )
    tail = "\n".join(lines[summary:])
    assert "  target    http://127.0.0.1:8123" in tail
    assert "  profile   reference" in tail
    assert "12.5 s, of which 6.2 s waiting on token lifetimes" in tail
    assert "6: 1 passed, 2 failed, 1 declared, 1 skipped, 0 errors, 1 not checked" in tail
    assert f"  declared  MUST deviations (not failures; --strict counts them): {declared}" in tail
    # outcomes down, levels across: only the levels the run has
    levels = [lvl.value for lvl in Level if any(r.requirement.level is lvl for r in run.results)]
    assert re.search(r"^ +" + " +".join(levels) + "$", tail, re.MULTILINE)
    assert re.search(
        r"^  failed +" + " +".join("1" if lv in ("MUST", "SHOULD") else "0" for lv in levels) + "$", tail, re.M
    )


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        ([], "PASSED: no failure at level must and no error; exit code 0"),
        (
            [CheckResult(requirement(Level.SHOULD, "logout"), Outcome.FAILED, "x")],
            "PASSED: no failure at level must and no error (1 warning); exit code 0",
        ),
        (
            None,
            "ERROR: 1 check could not be judged (1 failure at level must; 1 warning; "
            f"1 declared MUST deviation: {requirement(Level.MUST, 'logout').id}); exit code 2",
        ),
    ],
)
def test_terminal_verdict_matches_the_exit_code(results, verdict):
    run = make_run(results=results)
    assert terminal.render(run).splitlines()[-1] == verdict
    assert verdict.endswith(f"exit code {run.exit_code()}")


@pytest.mark.parametrize(("level", "word"), [(Level.MUST, "WARN"), (Level.SHOULD, "FAIL")])
def test_terminal_should_failure_is_a_warning_unless_it_counts(level, word):
    run = make_run(level)
    result = by_outcome(run, Outcome.FAILED, Level.SHOULD)
    line = next(line for line in terminal.render(run).splitlines() if line.startswith(f"  {result.id}  "))
    assert re.match(rf"  {result.id}  SHOULD  {word} +{re.escape(result.requirement.title)} — other session", line)


def test_terminal_rows_show_reasons_and_not_checked():
    run = make_run()
    text = terminal.render(run, width=400)
    skipped = by_outcome(run, Outcome.SKIPPED)
    assert f"SKIP         {skipped.requirement.title} — refresh TTL 604800 s exceeds --max-wait 30 s" in text
    reason = not_automated().not_automated_reason
    row = next(line for line in text.splitlines() if line.startswith(f"  {not_automated().id}  "))
    assert "NOT CHECKED" in row
    assert reason[:60] in row
    passed = by_outcome(run, Outcome.PASSED)
    row = next(line for line in text.splitlines() if line.startswith(f"  {passed.id}  "))
    assert row.rstrip().endswith(f"PASS         {passed.requirement.title}")


def test_terminal_evidence_only_with_verbose():
    run = make_run()
    plain = terminal.render(run)
    verbose = terminal.render(run, verbose=True)
    assert "GET /profile" not in plain
    assert "expected:" not in plain
    assert "      expected: 401 with WWW-Authenticate: Bearer" in verbose
    assert "      actual:   401 Unauthorized\n                body: {}" in verbose
    assert "      evidence:\n        GET /profile [Bearer" in verbose
    assert "          body: Internal Server Error" in verbose
    assert "POST /refresh -> 200" not in verbose  # a pass's evidence stays in the JSON report


def test_terminal_colour_only_when_asked():
    hostile = CheckResult(
        requirement(Level.MUST, "robustness"), Outcome.FAILED, "500 \x1b[2J", evidence=("body: \x1b[31mred",)
    )
    run = make_run(results=[*every_outcome(), hostile])
    for verbose in (False, True):
        plain = terminal.render(run, verbose=verbose, color=False)
        assert "\x1b" not in plain  # not even the target's own escape sequences
        coloured = terminal.render(run, verbose=verbose, color=True)
        assert ANSI.search(coloured)
        assert ANSI.sub("", coloured) == plain


def test_progress_line():
    line = terminal.progress_line(3, 12, "EXP-01 EXP-02", 4.25)
    assert line == f"[ 3/12] waiting   4.2 s for token lifetimes: {'EXP-01 EXP-02':<40}"
    assert "\n" not in line and "\r" not in line
    assert len(terminal.progress_line(12, 12, "", -1.0)) == len(line)
    assert "  0.0 s" in terminal.progress_line(12, 12, "", -1.0)
    assert len(terminal.progress_line(1, 12, "EXP-01 " * 20, 100.0)) == len(line)


# ---------------------------------------------------------------- the Markdown report as a PR comment


def test_markdown_of_a_huge_run_stays_under_the_comment_limit_and_keeps_every_failure():
    requirements = list(load_catalog().requirements)
    results = []
    for i in range(3000):  # far more than a catalogue: a synthetic worst case
        base = requirements[i % len(requirements)]
        fake = Requirement(
            id=f"{base.id[:3]}-{i % 100:02d}", category=base.category, level=Level.MUST, title=base.title * 3,
            statement=base.statement, references=base.references, basis=base.basis,
        )  # fmt: skip
        outcome = Outcome.FAILED if i % 3 == 0 else Outcome.PASSED
        results.append(
            CheckResult(fake, outcome, "m" * 500, expected="e" * 300, actual="a" * 300, evidence=("x" * 5000,) * 3)
        )
    text = markdown.render(make_run(results=results))
    assert len(text) <= 65_536
    section = text.split("### Failures", 1)[1].split("\n### ", 1)[0]
    assert len(re.findall(r"\b[A-Z]{3}-\d\d\b", section)) >= 1000  # every failure is still listed
    assert text.startswith("## tokenconform: FAILED, 1000 failures")


def test_markdown_leads_with_the_verdict_then_failures_then_declared_then_collapsed_passes():
    text = markdown.render(make_run(Level.MUST))
    order = [
        text.index(marker)
        for marker in ("## tokenconform:", "| outcome |", "### Failures", "### Declared", "<details><summary>All ")
    ]
    assert order == sorted(order)
    assert "Declared deviations from MUST requirements: " in text
    assert text.rstrip().endswith("</details>")


def test_not_present_is_information_and_strict_counts_declared_musts():
    may = next(r for r in load_catalog().requirements if r.level is Level.MAY and r.automated)
    absent = CheckResult(
        may, Outcome.NOT_PRESENT, "optional (MAY) feature not present: no revocation on password change"
    )
    run = make_run(results=[absent])
    assert run.exit_code() == 0 and run.summary()["not_present"] == 1
    assert "NOT PRESENT" in terminal.render(run)
    assert json.loads(json_report.render(run))["checks"][0]["outcome"] == "not_present"
    assert 'message="not present: ' in junit.render(run)
    declared = CheckResult(requirement(Level.MUST, "logout"), Outcome.DECLARED, "declared by the profile")
    assert make_run(results=[declared]).exit_code() == 0
    strict = make_run(results=[declared])
    strict.strict = True
    assert strict.exit_code() == 1
    assert "counted as failures (--strict)" in terminal.render(strict)
    assert json.loads(json_report.render(strict))["checks"][0]["counts"] is True
