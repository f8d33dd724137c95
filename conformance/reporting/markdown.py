"""Render a run as GitHub-flavoured Markdown for a CI job summary ($GITHUB_STEP_SUMMARY).

Order: the verdict, a summary table (outcomes by level), then what needs attention (failures
with expected and actual, errors, warnings), then one table per category. Status words, not
emoji, so the page reads the same in a terminal, a PR comment or a screen reader. Everything
from the target or the catalogue is escaped, so a ``|`` or a newline in a message cannot break
a table and a response body cannot inject HTML.

Pure function: the CLI writes (or appends) the text where ``--markdown-report`` says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..catalog import Level
from ..results import CheckResult, Outcome, RunResult
from . import _common

__all__ = ["render"]

#: the status word of each outcome in the tables (a FAILED that does not count is a warning)
_STATUS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "FAILED",
    Outcome.DECLARED: "declared",
    Outcome.SKIPPED: "skipped",
    Outcome.ERROR: "ERROR",
    Outcome.NOT_CHECKED: "not checked",
}
_WARNING = "warning"
_TOTALS = (
    (Outcome.PASSED, "passed"),
    (Outcome.FAILED, "failed"),
    (Outcome.DECLARED, "declared"),
    (Outcome.SKIPPED, "skipped"),
    (Outcome.ERROR, "errors"),
    (Outcome.NOT_CHECKED, "not checked"),
)
# Markdown punctuation that would format text, and the HTML metacharacters.
_MARKUP = re.compile(r"[\\`*_\[\]|~]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Control characters from a response body (an ESC, a NUL) are shown, not passed through.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def render(run: RunResult) -> str:
    """The job summary as Markdown, ending in a newline."""
    lines = [f"## tokenconform: {_verdict(run)}", "", _context(run), ""]
    lines += _summary_table(run)
    ordered = _common.ordered(run.results)
    for title, results in (
        ("Failures", [r for r in ordered if r.fails_at(run.level)]),
        ("Errors", [r for r in ordered if r.outcome is Outcome.ERROR]),
        ("Warnings", [r for r in ordered if _is_warning(run, r)]),
    ):
        if results:
            lines += ["", f"### {title}", ""]
            lines += _attention_table(results)
            lines += _evidence(results)
    for group, results in _common.by_category(run.results):
        title = group.title
        lines += ["", f"### {_cell(title)}", ""]
        lines += _table(
            ["ID", "level", "requirement", "outcome", "note"],
            [[r.id, r.requirement.level.value, r.requirement.title, _status(run, r), _note(r)] for r in results],
        )
    return "\n".join(lines) + "\n"


def _verdict(run: RunResult) -> str:
    exit_code = run.exit_code()
    level = run.level.value.lower()
    errors = sum(1 for r in run.results if r.outcome is Outcome.ERROR)
    failures = sum(1 for r in run.results if r.fails_at(run.level))
    warnings = sum(1 for r in run.results if _is_warning(run, r))
    extras = []
    if failures and exit_code == 2:
        extras.append(f"{_plural(failures, 'failure')} at level {level}")
    if warnings:
        extras.append(_plural(warnings, "warning"))
    tail = f" ({', '.join(extras)})" if extras else ""
    if exit_code == 2:
        return f"ERROR, {_plural(errors, 'check')} could not be judged{tail}, exit code 2"
    if exit_code == 1:
        return f"FAILED, {_plural(failures, 'failure')} at level {level}{tail}, exit code 1"
    return f"PASSED, no failure at level {level} and no error{tail}, exit code 0"


def _context(run: RunResult) -> str:
    return (
        f"Target {_cell(run.target)}, profile {_cell(run.profile)}, level {run.level.value.lower()}, "
        f"started {_cell(run.started_at)}, {run.duration_s:.1f} s "
        f"({run.waited_s:.1f} s waiting on token lifetimes)."
    )


def _summary_table(run: RunResult) -> list[str]:
    rows = []
    for outcome, word in _TOTALS:
        by_level = [sum(1 for r in run.results if r.outcome is outcome and r.requirement.level is lv) for lv in Level]
        rows.append([word, *map(str, by_level), str(sum(by_level))])
    totals = [str(sum(1 for r in run.results if r.requirement.level is lv)) for lv in Level]
    rows.append(["total", *totals, str(len(run.results))])
    return _table(["outcome", *(lv.value for lv in Level), "total"], rows, align=["---", *["---:"] * (len(Level) + 1)])


def _attention_table(results: list[CheckResult]) -> list[str]:
    return _table(
        ["ID", "level", "requirement", "message", "expected", "actual"],
        [[r.id, r.requirement.level.value, r.requirement.title, r.message, r.expected, r.actual] for r in results],
    )


def _evidence(results: list[CheckResult]) -> list[str]:
    """A collapsed block of evidence per result that has some."""
    lines: list[str] = []
    for result in results:
        if not result.evidence:
            continue
        text = _visible("\n\n".join(result.evidence))
        # A fence longer than any backtick run inside, so the evidence cannot close it.
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * max(3, longest + 1)
        lines += [
            "",
            f"<details><summary>{_html(result.id)} evidence</summary>",
            "",
            fence + "text",
            text,  # verbatim: inside a fence nothing is markup, and the fence cannot be closed early
            fence,
            "",
            "</details>",
        ]
    return lines


def _table(header: list[str], rows: Iterable[list[str]], align: list[str] | None = None) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "| " + " | ".join(align or ["---"] * len(header)) + " |",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _cell(value: str) -> str:
    """Text safe inside a table cell: markup and HTML escaped, line breaks as <br>."""
    escaped = _MARKUP.sub(lambda m: "\\" + m.group(0), _html(value))
    return "<br>".join(line.strip() for line in escaped.strip().splitlines())


def _html(value: str) -> str:
    return "".join(_HTML.get(char, char) for char in _visible(value))


def _visible(value: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)


def _status(run: RunResult, result: CheckResult) -> str:
    return _WARNING if _is_warning(run, result) else _STATUS[result.outcome]


def _is_warning(run: RunResult, result: CheckResult) -> bool:
    return result.outcome is Outcome.FAILED and not result.fails_at(run.level)


def _note(result: CheckResult) -> str:
    if result.outcome is Outcome.PASSED:
        return ""
    return _common.message(result)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
