"""Render a run as the terminal report: one line per requirement by category, the summary last.

The layout follows what users of h2spec asked for: a failure says what was expected and what came
back (h2spec #5), and the totals and the verdict come last, where the eye lands when the output
stops (h2spec #62). A SHOULD or MAY failure that does not count at the run's level is a ``WARN``,
the way h2spec keeps its ``Strict`` cases from failing a default run.

Pure functions: the CLI decides where the text goes and whether it is a TTY (``color``).
"""

from __future__ import annotations

import re
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
}
_WARN = "WARN"
_STATUS_COLOR = {
    "PASS": _GREEN,
    "FAIL": _RED + _BOLD,
    "WARN": _YELLOW,
    "DECLARED": _YELLOW,
    "SKIP": _CYAN,
    "ERROR": _RED + _BOLD,
    "NOT CHECKED": _DIM,
}
_Paint = Callable[[str, str], str]
_STATUS_WIDTH = max(len(word) for word in _STATUS_COLOR)
_LEVEL_WIDTH = max(len(level.value) for level in Level)
#: a short reason is one line of at most this many characters; -v shows the whole message
_SHORT_REASON = 110
#: the order of outcomes in the totals, with the word each is counted under
_TOTALS = (
    (Outcome.PASSED, "passed"),
    (Outcome.FAILED, "failed"),
    (Outcome.DECLARED, "declared"),
    (Outcome.SKIPPED, "skipped"),
    (Outcome.ERROR, "errors"),
    (Outcome.NOT_CHECKED, "not checked"),
)
# The target's bytes end up in messages and evidence: never let them drive the terminal
# (an ESC in a response body would otherwise move the cursor or recolour the report).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def render(run: RunResult, *, verbose: bool = False, color: bool = False) -> str:
    """The whole report as text ending in a newline: categories in catalogue order, then the summary.

    With ``verbose``, every result that did not pass also shows its full message, expected and
    actual values and evidence, indented under its line. ANSI colour only with ``color``.
    """
    paint = _painter(color)
    lines: list[str] = []
    for group, results in _common.by_category(run.results):
        title = group.title
        if lines:
            lines.append("")
        lines.append(paint(title, _BOLD))
        for result in results:
            lines.append(_line(run, result, paint, verbose=verbose))
            if verbose and result.outcome is not Outcome.PASSED:
                lines.extend(_details(result))
    if lines:
        lines.append("")
    lines.extend(_summary(run, paint))
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
    if result.outcome is Outcome.FAILED and not result.fails_at(run.level):
        return _WARN
    return _STATUS[result.outcome]


def _reason(result: CheckResult) -> str:
    """The message, or for a requirement that is not checked, why not."""
    return _common.message(result)


def _short(text: str) -> str:
    first = _clean(text.strip().splitlines()[0]) if text.strip() else ""
    if len(first) > _SHORT_REASON:
        return first[: _SHORT_REASON - 1] + "…"
    if first != _clean(text.strip()):
        return first + " …"
    return first


def _clean(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _line(run: RunResult, result: CheckResult, paint: _Paint, *, verbose: bool) -> str:
    status = _status(run, result)
    word = paint(f"{status:<{_STATUS_WIDTH}}", _STATUS_COLOR[status])
    level = f"{result.requirement.level.value:<{_LEVEL_WIDTH}}"
    line = f"  {result.id}  {level}  {word}  {_clean(result.requirement.title)}"
    reason = _reason(result)
    if reason and result.outcome is not Outcome.PASSED and not verbose:
        line += f" — {_short(reason)}"
    return line


def _details(result: CheckResult) -> list[str]:
    """The indented block -v adds under a result: full message, expected/actual, evidence."""
    indent = " " * 6
    lines: list[str] = []
    reason = _reason(result)
    if reason:
        lines.extend(_block(indent, "", reason))
    if result.expected:
        lines.extend(_block(indent, "expected: ", result.expected))
    if result.actual:
        lines.extend(_block(indent, "actual:   ", result.actual))
    if result.evidence:
        lines.append(f"{indent}evidence:")
        for exchange in result.evidence:
            lines.extend(_block(indent + "  ", "", exchange))
    return lines


def _block(indent: str, label: str, text: str) -> list[str]:
    """Text under a label, continuation lines aligned with the first."""
    rows = text.splitlines() or [""]
    hang = indent + " " * len(label)
    return [f"{indent}{label}{_clean(rows[0])}"] + [f"{hang}{_clean(row)}" for row in rows[1:]]


def _summary(run: RunResult, paint: _Paint) -> list[str]:
    results = run.results
    counts = {outcome: sum(1 for r in results if r.outcome is outcome) for outcome, _ in _TOTALS}
    # "1 error", "2 errors"; the other words read right with any number
    totals = ", ".join(
        _plural(counts[outcome], "error") if outcome is Outcome.ERROR else f"{counts[outcome]} {word}"
        for outcome, word in _TOTALS
    )
    lines = [
        paint("Summary", _BOLD),
        f"  target    {_clean(run.target)}",
        f"  profile   {_clean(run.profile)}",
        f"  level     {_level_note(run.level)}",
        f"  started   {run.started_at}",
        f"  duration  {run.duration_s:.1f} s, of which {run.waited_s:.1f} s waiting on token lifetimes (overlapped)",
        f"  checks    {len(results)}: {totals}",
        "",
        "  " + " " * _LEVEL_WIDTH + "".join(f"  {word:>11}" for _, word in _TOTALS),
    ]
    for level in (lvl for lvl in Level if any(r.requirement.level is lvl for r in results)):
        row = [sum(1 for r in results if r.requirement.level is level and r.outcome is o) for o, _ in _TOTALS]
        lines.append(f"  {level.value:<{_LEVEL_WIDTH}}" + "".join(f"  {n:>11}" for n in row))
    lines.append("")
    verdict, code = _verdict(run)
    lines.append(paint(verdict, code))
    return lines


def _level_note(level: Level) -> str:
    counted = [lvl.value for lvl in Level if lvl.rank <= level.rank]
    warned = [lvl.value for lvl in Level if lvl.rank > level.rank]
    note = f"{level.value.lower()} ({' and '.join(counted)} failures fail the run"
    if warned:
        note += f"; {' and '.join(warned)} failures are warnings"
    return note + ")"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _verdict(run: RunResult) -> tuple[str, str]:
    """The last line: what the exit code will be, and why."""
    exit_code = run.exit_code()
    errors = sum(1 for r in run.results if r.outcome is Outcome.ERROR)
    failures = sum(1 for r in run.results if r.fails_at(run.level))
    warnings = sum(1 for r in run.results if r.outcome is Outcome.FAILED and not r.fails_at(run.level))
    level = run.level.value.lower()
    extras = []
    if failures and exit_code == 2:
        extras.append(_plural(failures, "failure") + f" at level {level}")
    if warnings:
        extras.append(_plural(warnings, "warning"))
    tail = f" ({', '.join(extras)})" if extras else ""
    if exit_code == 2:
        return f"ERROR: {_plural(errors, 'check')} could not be judged{tail}; exit code 2", _RED + _BOLD
    if exit_code == 1:
        return f"FAILED: {_plural(failures, 'failure')} at level {level}{tail}; exit code 1", _RED + _BOLD
    return f"PASSED: no failure at level {level} and no error{tail}; exit code 0", _GREEN + _BOLD
