"""What every report writer shares: catalogue order, grouping, the note of a result, the verdict."""

from __future__ import annotations

from collections.abc import Iterable

from ..catalog import Category, load_catalog
from ..results import CheckResult, Outcome, RunResult


def ordered(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Catalogue order, whatever order the engine finished them in."""
    rank = {r.id: i for i, r in enumerate(load_catalog().requirements)}
    return sorted(results, key=lambda r: (rank.get(r.id, len(rank)), r.id))


def by_category(results: Iterable[CheckResult]) -> list[tuple[Category, list[CheckResult]]]:
    """Results grouped by category, categories and requirements in catalogue order."""
    catalog = load_catalog()
    categories = {c.name: c for c in catalog.categories}
    rank = {c.name: i for i, c in enumerate(catalog.categories)}
    groups: dict[str, list[CheckResult]] = {}
    for result in ordered(results):
        groups.setdefault(result.requirement.category, []).append(result)
    return [
        (categories.get(name, Category(name=name, prefix="", title=name)), groups[name])
        for name in sorted(groups, key=lambda n: (rank.get(n, len(rank)), n))
    ]


def message(result: CheckResult) -> str:
    """The result's message; for a requirement that is not checked and says nothing, why not."""
    if result.message or result.outcome is not Outcome.NOT_CHECKED:
        return result.message
    if result.requirement.opt_in:
        return f"opt-in: enable with --{result.requirement.opt_in}"
    return result.requirement.not_automated_reason


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def is_warning(run: RunResult, result: CheckResult) -> bool:
    """A failure that does not count: below the run's level, or accepted by the expected-failures file."""
    return result.outcome is Outcome.FAILED and not run.counts(result) and not _expected(run, result)


def _expected(run: RunResult, result: CheckResult) -> bool:
    from ..ratchet import Status

    return run.ratchet_status(result) in (Status.EXPECTED, Status.FLAKY)


def ratchet_word(run: RunResult, result: CheckResult) -> str:
    """ "expected", "NEW", "NOW PASSES", "flaky" or "" for the result's standing against the file."""
    from ..ratchet import Status

    status = run.ratchet_status(result)
    if status is None or status is Status.NOT_JUDGED:
        return ""
    if status is Status.EXPECTED and result.outcome is not Outcome.FAILED and not result.declared_must:
        return ""
    return {
        Status.EXPECTED: "expected",
        Status.NEW: "NEW",
        Status.NOW_PASSES: "NOW PASSES",
        Status.FLAKY: "flaky",
    }[status]


def verdict(run: RunResult) -> tuple[str, str]:
    """The run's verdict: a word (PASSED, FAILED, ERROR, INTERRUPTED) and the sentence after it,
    ending in the exit code; the terminal and the Markdown report both lead or end with it."""
    exit_code = run.exit_code()
    level = run.level.value.lower()
    errors = sum(1 for r in run.results if r.outcome is Outcome.ERROR)
    failures = run.failures()
    warnings = sum(1 for r in run.results if is_warning(run, r))
    declared = run.declared_musts()
    judgement = run.judgement()
    extras = []
    if failures and exit_code == 2:
        extras.append(f"{plural(len(failures), 'failure')} at level {level}")
    if judgement is not None and exit_code != 1:
        from ..ratchet import Status

        if expected := judgement.ids(Status.EXPECTED):
            extras.append(f"{plural(len(expected), 'expected failure')} ({judgement.source})")
    if warnings:
        extras.append(plural(warnings, "warning"))
    if declared and not run.strict:
        extras.append(f"{plural(len(declared), 'declared MUST deviation')}: {', '.join(r.id for r in declared)}")
    tail = f" ({'; '.join(extras)})" if extras else ""
    if run.interrupted:
        return (
            "INTERRUPTED",
            f"partial results, {plural(len(run.results), 'requirement')} judged; exit code {exit_code}",
        )
    if run.fatal:
        return "ERROR", f"nothing could be judged: {run.fatal}; exit code 2"
    if exit_code == 2:
        return "ERROR", f"{plural(errors, 'check')} could not be judged{tail}; exit code 2"
    if exit_code == 1:
        if judgement is not None:
            from ..ratchet import Status

            parts = []
            if new := judgement.ids(Status.NEW):
                parts.append(f"{plural(len(new), 'new failure')} ({', '.join(new)})")
            if passes := judgement.ids(Status.NOW_PASSES):
                parts.append(f"{', '.join(passes)} now {'passes' if len(passes) == 1 else 'pass'}: remove "
                             f"{'it' if len(passes) == 1 else 'them'} from the file {judgement.source}")  # fmt: skip
            return "FAILED", f"{'; '.join(parts)}{tail}; exit code 1"
        strict = sum(1 for r in failures if r.declared_must)
        note = f", {strict} of them declared MUST deviations (--strict)" if strict else ""
        return "FAILED", f"{plural(len(failures), 'failure')} at level {level}{note}{tail}; exit code 1"
    if judgement is not None:
        return "PASSED", f"no failure beyond the expected ones at level {level} and no error{tail}; exit code 0"
    return "PASSED", f"no failure at level {level} and no error{tail}; exit code 0"
