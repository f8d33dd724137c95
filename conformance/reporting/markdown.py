"""Render a run as GitHub-flavoured Markdown for a pull-request comment or a CI job summary.

Order, for a reviewer who reads the top and stops: the verdict and the counts; the ratchet's
judgement (expected failures); what needs attention (failures with expected, actual and their
evidence, then errors); the declared deviations (MUST ones first, by ID); warnings and
information (SHOULD failures that do not count, expected failures, MAY features not present);
then every result by category, collapsed in ``<details>``. Status words, not emoji, so the page
reads the same in a terminal, a PR comment or a screen reader. Everything from the target or
the catalogue is escaped, so a ``|`` or a newline in a message cannot break a table and a
response body cannot inject HTML.

GitHub refuses comments over 65,536 characters. The report stays under :data:`LIMIT` by
shortening evidence first, then the collapsed per-category tables, then the cells of the
failure rows; the list of failures itself is never cut.

Pure function: the CLI writes the text where ``--markdown-report`` says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..catalog import Level
from ..results import CheckResult, Outcome, RunResult
from . import _common

__all__ = ["LIMIT", "render"]

#: GitHub's limit for a comment is 65,536 characters; keep a margin for a wrapper's own text
LIMIT = 65_000

#: the status word of each outcome in the tables (a FAILED that does not count is a warning)
_STATUS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "FAILED",
    Outcome.DECLARED: "declared",
    Outcome.SKIPPED: "skipped",
    Outcome.ERROR: "ERROR",
    Outcome.NOT_CHECKED: "not checked",
    Outcome.NOT_PRESENT: "not present",
}
_TOTALS = (
    (Outcome.PASSED, "passed"),
    (Outcome.FAILED, "failed"),
    (Outcome.DECLARED, "declared"),
    (Outcome.SKIPPED, "skipped"),
    (Outcome.ERROR, "errors"),
    (Outcome.NOT_CHECKED, "not checked"),
    (Outcome.NOT_PRESENT, "not present"),
)
# Markdown punctuation that would format text, and the HTML metacharacters.
_MARKUP = re.compile(r"[\\`*_\[\]|~]")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Control characters from a response body (an ESC, a NUL) are shown, not passed through.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def render(run: RunResult, *, limit: int = LIMIT) -> str:
    """The report as Markdown ending in a newline, at most ``limit`` characters (failures never dropped)."""
    # Each attempt is less generous; the first that fits wins. Evidence goes first, the list of failures never.
    attempts: list[tuple[int | None, int | None, int | None]] = [(None, None, None)]
    attempts += [(share, None, None) for share in (4000, 1500, 600, 200)]
    attempts += [(0, rows, None) for rows in (400, 100, 0)]
    attempts += [(0, 0, cell) for cell in (200, 60, 0, -1)]  # -1: failures as a bare list of IDs
    text = ""
    for evidence, rows, cell in attempts:
        text = _render(run, evidence_chars=evidence, category_rows=rows, cell_chars=cell)
        if len(text) <= limit:
            return text
    return text  # only a run with more failures than fit in the limit even as bare IDs gets here


def _render(run: RunResult, *, evidence_chars: int | None, category_rows: int | None, cell_chars: int | None) -> str:
    word, sentence = _common.verdict(run)
    lines = [f"## tokenconform: {word}, {_cell(sentence).replace('; exit code', ', exit code')}", "", _context(run), ""]
    if run.fatal:
        lines += ["", "Nothing could be judged:", "", _fence(run.fatal), ""]
        lines += _evidence_block("why", run.fatal_evidence, evidence_chars)
    lines += _summary_table(run)
    judgement = run.judgement()
    if judgement is not None:
        lines += ["", f"### Expected failures ({_cell(judgement.source)})", ""]
        lines += [f"- {_cell(text)}" for text in judgement.lines() or ["nothing listed, nothing failed"]]
    ordered = _common.ordered(run.results)
    failures = [r for r in ordered if r.outcome is not Outcome.ERROR and run.counts(r)]
    errors = [r for r in ordered if r.outcome is Outcome.ERROR]
    for title, results in (("Failures", failures), ("Errors", errors)):
        if results:
            lines += ["", f"### {title}", ""]
            if cell_chars is not None and cell_chars < 0:
                lines += [f"{len(results)} (IDs only; the JSON report has the details): "
                          + ", ".join(r.id for r in results)]  # fmt: skip
                continue
            lines += _attention_table(run, results, cell_chars)
            if evidence_chars != 0:
                for result in results:
                    lines += _evidence_block(f"{result.id} evidence", result.evidence, evidence_chars)
    declared = [r for r in ordered if r.outcome is Outcome.DECLARED]
    if declared:
        musts = [r.id for r in declared if r.declared_must]
        how = "they count as failures (--strict)" if run.strict else "--strict would count them as failures"
        lines += ["", "### Declared deviations", ""]
        if musts:
            lines += [f"Declared deviations from MUST requirements: {', '.join(musts)} ({how}).", ""]
        lines += _table(
            ["ID", "level", "requirement", "declared by the profile"],
            [[r.id, r.requirement.level.value, r.requirement.title, _clip(r.message, cell_chars)] for r in declared],
        )
    notes = [r for r in ordered if _common.is_warning(run, r) or _is_expected(run, r)]
    absent = [r for r in ordered if r.outcome is Outcome.NOT_PRESENT]
    if notes:
        lines += ["", "### Warnings and expected failures", ""]
        lines += _attention_table(run, notes, cell_chars)
    if absent:
        lines += ["", "### Optional (MAY) features not present", ""]
        lines += _table(
            ["ID", "requirement", "note"], [[r.id, r.requirement.title, _clip(r.message, cell_chars)] for r in absent]
        )
    lines += _categories(run, category_rows)
    return "\n".join(lines) + "\n"


def _is_expected(run: RunResult, result: CheckResult) -> bool:
    return result.outcome is Outcome.FAILED and _common.ratchet_word(run, result) in ("expected", "flaky")


def _context(run: RunResult) -> str:
    return (
        f"Target {_cell(run.target)}, profile {_cell(run.profile)}, level {run.level.value.lower()}"
        f"{' (strict)' if run.strict else ''}, started {_cell(run.started_at)}, {run.duration_s:.1f} s "
        f"({run.waited_s:.1f} s waiting on token lifetimes)."
    )


def _summary_table(run: RunResult) -> list[str]:
    rows = []
    for outcome, word in _TOTALS:
        by_level = [sum(1 for r in run.results if r.outcome is outcome and r.requirement.level is lv) for lv in Level]
        if outcome is Outcome.NOT_PRESENT and not any(by_level):
            continue
        rows.append([word, *map(str, by_level), str(sum(by_level))])
    totals = [str(sum(1 for r in run.results if r.requirement.level is lv)) for lv in Level]
    rows.append(["total", *totals, str(len(run.results))])
    return _table(["outcome", *(lv.value for lv in Level), "total"], rows, align=["---", *["---:"] * (len(Level) + 1)])


def _attention_table(run: RunResult, results: list[CheckResult], cell_chars: int | None) -> list[str]:
    def row(r: CheckResult) -> list[str]:
        tag = _common.ratchet_word(run, r)
        message = _common.message(r)
        if tag == "NOW PASSES":
            source = run.expected_failures.source if run.expected_failures else "the file"
            message = f"now passes: remove it from the file {source}"
        elif tag:
            message = f"[{tag}] {message}"
        return [
            r.id,
            r.requirement.level.value,
            r.requirement.title,
            _clip(message, cell_chars),
            _clip(r.expected, cell_chars),
            _clip(r.actual, cell_chars),
        ]

    return _table(["ID", "level", "requirement", "message", "expected", "actual"], [row(r) for r in results])


def _categories(run: RunResult, max_rows: int | None) -> list[str]:
    """Every result by category, collapsed: the reviewer opens it only to look something up."""
    if not run.results:
        return []
    passed = sum(1 for r in run.results if r.outcome is Outcome.PASSED)
    lines = [
        "",
        f"<details><summary>All {_common.plural(len(run.results), 'result')} by category ({passed} passed)</summary>",
    ]
    shown = 0
    for group, results in _common.by_category(run.results):
        if max_rows is not None and shown >= max_rows:
            break
        take = results if max_rows is None else results[: max_rows - shown]
        shown += len(take)
        lines += ["", f"#### {_cell(group.title)}", ""]
        lines += _table(
            ["ID", "level", "requirement", "outcome", "note"],
            [
                [r.id, r.requirement.level.value, r.requirement.title, _status(run, r), _clip(_note(r), 200)]
                for r in take
            ],
        )
    if shown < len(run.results):
        lines += ["", f"{len(run.results) - shown} more results left out to stay under GitHub's comment limit; "
                  "the JSON report has them all."]  # fmt: skip
    lines += ["", "</details>"]
    return lines


def _evidence_block(summary: str, evidence: Iterable[str], chars: int | None) -> list[str]:
    """A collapsed block of evidence (nothing when there is none), cut to ``chars`` if given."""
    text = _visible("\n\n".join(evidence))
    if not text:
        return []
    if chars is not None and len(text) > chars:
        text = text[:chars] + f"\n… ({len(text) - chars} more characters in the JSON report)"
    return ["", f"<details><summary>{_html(summary)}</summary>", "", _fence(text), "", "</details>"]


def _fence(text: str) -> str:
    """Verbatim text in a fence longer than any backtick run inside, so it cannot be closed early."""
    text = _visible(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _table(header: list[str], rows: Iterable[list[str]], align: list[str] | None = None) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "| " + " | ".join(align or ["---"] * len(header)) + " |",
    ]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _clip(text: str, chars: int | None) -> str:
    if chars is None or len(text) <= chars:
        return text
    return text[:chars] + "…" if chars > 0 else ""


def _cell(value: str) -> str:
    """Text safe inside a table cell: markup and HTML escaped, line breaks as <br>."""
    escaped = _MARKUP.sub(lambda m: "\\" + m.group(0), _html(value))
    return "<br>".join(line.strip() for line in escaped.strip().splitlines())


def _html(value: str) -> str:
    return "".join(_HTML.get(char, char) for char in _visible(value))


def _visible(value: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value)


def _status(run: RunResult, result: CheckResult) -> str:
    if _is_expected(run, result):
        return "expected failure"
    if _common.is_warning(run, result):
        return "warning"
    if _common.ratchet_word(run, result) == "NOW PASSES":
        return "NOW PASSES"
    return _STATUS[result.outcome]


def _note(result: CheckResult) -> str:
    if result.outcome is Outcome.PASSED:
        return ""
    return _common.message(result)
