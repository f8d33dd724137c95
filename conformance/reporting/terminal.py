"""Render a run as the terminal report: one line per requirement by category, the summary last.

The layout follows what users of h2spec asked for: a failure says what was expected and what came
back (h2spec #5), and the totals and the verdict come last, where the eye lands when the output
stops (h2spec #62). A SHOULD failure that does not count at the run's level is a ``WARN``, the
way h2spec keeps its ``Strict`` cases from failing a default run; a failure the expected-failures
file lists is an ``XFAIL``; a MAY feature the target lacks is ``NOT PRESENT`` (information).
Reasons wrap to the terminal's width rather than being cut.

Pure functions: the CLI decides where the text goes, how wide it is, and whether it is a TTY.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

from ..catalog import Level
from ..results import CheckResult, Outcome, RunResult
from . import _common

__all__ = ["progress_line", "render"]

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_CYAN = "\x1b[36m"

#: the status word of each outcome (a FAILED that does not count is a WARN instead)
_STATUS = {
    Outcome.PASSED: "PASS",
    Outcome.FAILED: "FAIL",
    Outcome.DECLARED: "DECLARED",
    Outcome.SKIPPED: "SKIP",
    Outcome.ERROR: "ERROR",
    Outcome.NOT_CHECKED: "NOT CHECKED",
    Outcome.NOT_PRESENT: "NOT PRESENT",
}
_WARN = "WARN"
_XFAIL = "XFAIL"
_STATUS_COLOR = {
    "PASS": _GREEN,
    "FAIL": _RED + _BOLD,
    "WARN": _YELLOW,
    "DECLARED": _YELLOW,
    "SKIP": _CYAN,
    "ERROR": _RED + _BOLD,
    "NOT CHECKED": _DIM,
    "NOT PRESENT": _DIM,
    "XFAIL": _YELLOW,
}
_Paint = Callable[[str, str], str]
_STATUS_WIDTH = max(len(word) for word in _STATUS_COLOR)
_LEVEL_WIDTH = max(len(level.value) for level in Level)
#: the width when the caller does not know the terminal's
DEFAULT_WIDTH = 100
#: the order of outcomes in the totals, with the word each is counted under
_TOTALS = (
    (Outcome.PASSED, "passed"),
    (Outcome.FAILED, "failed"),
    (Outcome.DECLARED, "declared"),
    (Outcome.SKIPPED, "skipped"),
    (Outcome.ERROR, "errors"),
    (Outcome.NOT_CHECKED, "not checked"),
    (Outcome.NOT_PRESENT, "not present"),
)
# The target's bytes end up in messages and evidence: never let them drive the terminal
# (an ESC in a response body would otherwise move the cursor or recolour the report).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def render(run: RunResult, *, verbose: bool = False, color: bool = False, width: int = DEFAULT_WIDTH) -> str:
    """The whole report as text ending in a newline: categories in catalogue order, then the summary.

    Each line's reason wraps at ``width``. With ``verbose``, every result that did not pass also
    shows its full message, expected and actual values and evidence, indented under its line.
    ANSI colour only with ``color``.
    """
    paint = _painter(color)
    width = max(width, 40)
    if run.fatal:  # nothing was judged: one line, not one error per check
        word, sentence = _common.verdict(run)
        return paint(f"{word}: {_clean(sentence)}", _RED + _BOLD) + "\n"
    lines: list[str] = []
    for group, results in _common.by_category(run.results):
        title = group.title
        if lines:
            lines.append("")
        lines.append(paint(title, _BOLD))
        for result in results:
            lines.extend(_line(run, result, paint, verbose=verbose, width=width))
            if verbose and result.outcome is not Outcome.PASSED:
                lines.extend(_details(result, width))
    if lines:
        lines.append("")
    lines.extend(_summary(run, paint, width))
    return "\n".join(lines) + "\n"


def progress_line(done: int, total: int, waiting_for: str, seconds_left: float) -> str:
    """One line for a TTY while token lifetimes run out; the runner rewrites it with ``\\r``.

    The line has no newline and a steady width (numbers padded), so each rewrite covers the last.
    """
    left = max(seconds_left, 0.0)
    width = len(str(max(total, 0)))
    subject = _clean(" ".join(waiting_for.split()))
    if len(subject) > 40:
        subject = subject[:39] + "…"
    return f"[{done:>{width}}/{total}] waiting {left:5.1f} s for token lifetimes: {subject:<40}"


def _painter(color: bool) -> _Paint:
    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if color and code else text

    return paint


def _status(run: RunResult, result: CheckResult) -> str:
    if result.outcome is Outcome.FAILED and not run.counts(result):
        return _XFAIL if _common.ratchet_word(run, result) in ("expected", "flaky") else _WARN
    return _STATUS[result.outcome]


def _clean(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _line(run: RunResult, result: CheckResult, paint: _Paint, *, verbose: bool, width: int) -> list[str]:
    """The result's line; its reason (the whole message, on one paragraph) wraps under the title."""
    status = _status(run, result)
    word = paint(f"{status:<{_STATUS_WIDTH}}", _STATUS_COLOR[status])
    level = f"{result.requirement.level.value:<{_LEVEL_WIDTH}}"
    lead = f"  {result.id}  {level}  "
    hang = " " * (len(lead) + _STATUS_WIDTH + 2)
    text = _clean(result.requirement.title)
    tag = _common.ratchet_word(run, result)
    if tag == "NOW PASSES":
        ratchet = run.expected_failures.source if run.expected_failures else "the file"
        text += f" — now passes: remove it from the file {ratchet}"
    elif tag:
        text += f" [{tag}]"
    reason = _common.message(result)
    if reason and result.outcome is not Outcome.PASSED and not verbose:
        text += f" — {_clean(' '.join(reason.split()))}"
    rows = textwrap.wrap(text, width=max(width - len(hang), 20), break_on_hyphens=False) or [""]
    return [f"{lead}{word}  {rows[0]}"] + [f"{hang}{row}" for row in rows[1:]]


def _details(result: CheckResult, width: int) -> list[str]:
    """The indented block -v adds under a result: full message, expected/actual, evidence."""
    indent = " " * 6
    lines: list[str] = []
    reason = _common.message(result)
    if reason:
        lines.extend(_block(indent, "", reason, width))
    if result.expected:
        lines.extend(_block(indent, "expected: ", result.expected, width))
    if result.actual:
        lines.extend(_block(indent, "actual:   ", result.actual, width))
    if result.evidence:
        lines.append(f"{indent}evidence:")
        for exchange in result.evidence:
            lines.extend(_block(indent + "  ", "", exchange, 0))
    return lines


def _block(indent: str, label: str, text: str, width: int) -> list[str]:
    """Text under a label, continuation lines aligned with the first; wrapped at ``width`` (0: as is)."""
    hang = indent + " " * len(label)
    rows: list[str] = []
    for row in text.splitlines() or [""]:
        row = _clean(row)
        if width and len(hang) + len(row) > width:
            rows.extend(textwrap.wrap(row, width=max(width - len(hang), 20), break_on_hyphens=False) or [""])
        else:
            rows.append(row)
    return [f"{indent}{label}{rows[0]}"] + [f"{hang}{row}" for row in rows[1:]]


def _summary(run: RunResult, paint: _Paint, width: int) -> list[str]:
    results = run.results
    counts = {outcome: sum(1 for r in results if r.outcome is outcome) for outcome, _ in _TOTALS}
    # "1 error", "2 errors"; the other words read right with any number
    totals = ", ".join(
        _common.plural(counts[outcome], "error") if outcome is Outcome.ERROR else f"{counts[outcome]} {word}"
        for outcome, word in _TOTALS
        if counts[outcome] or outcome is not Outcome.NOT_PRESENT
    )
    lines = [
        paint("Summary", _BOLD),
        f"  target    {_clean(run.target)}",
        f"  profile   {_clean(run.profile)}",
        *_wrapped("  level     ", _level_note(run), width),
        f"  started   {run.started_at}",
        f"  duration  {run.duration_s:.1f} s, of which {run.waited_s:.1f} s waiting on token lifetimes (overlapped)",
    ]
    lines += _wrapped("  checks    ", f"{len(results)}: {totals}", width)
    declared = run.declared_musts()
    if declared:
        how = "counted as failures (--strict)" if run.strict else "not failures; --strict counts them"
        lines += _wrapped("  declared  ", f"MUST deviations ({how}): {', '.join(r.id for r in declared)}", width)
    judgement = run.judgement()
    if judgement is not None:
        lines += _wrapped("  expected  ", f"failures from {judgement.source}:", width)
        for text in judgement.lines() or ["nothing listed, nothing failed"]:
            lines += _wrapped("            ", text, width)
    levels = [lvl for lvl in Level if any(r.requirement.level is lvl for r in results)]
    if levels:
        lines.append("")
        lines.append("  " + " " * 11 + "".join(f"  {lvl.value:>6}" for lvl in levels))
        for outcome, word in _TOTALS:
            row = [sum(1 for r in results if r.requirement.level is lvl and r.outcome is outcome) for lvl in levels]
            if outcome is Outcome.NOT_PRESENT and not any(row):
                continue
            lines.append(f"  {word:<11}" + "".join(f"  {n:>6}" for n in row))
    lines.append("")
    word, sentence = _common.verdict(run)
    colour = _GREEN + _BOLD if word == "PASSED" else (_YELLOW + _BOLD if word == "INTERRUPTED" else _RED + _BOLD)
    lines.append(paint(f"{word}: {_clean(sentence)}", colour))
    return lines


def _wrapped(label: str, text: str, width: int) -> list[str]:
    rows = textwrap.wrap(_clean(text), width=max(width - len(label), 20), break_on_hyphens=False) or [""]
    return [label + rows[0]] + [" " * len(label) + row for row in rows[1:]]


def _level_note(run: RunResult) -> str:
    level = run.level
    counted = [lvl.value for lvl in Level if lvl.rank <= level.rank and lvl is not Level.MAY]
    warned = [lvl.value for lvl in Level if lvl.rank > level.rank and lvl is not Level.MAY]
    note = f"{level.value.lower()} ({' and '.join(counted)} failures fail the run"
    if warned:
        note += f"; {' and '.join(warned)} failures are warnings"
    note += "; a MAY feature can only be present or not"
    if run.strict:
        note += "; --strict: declared MUST deviations fail too"
    return note + ")"
