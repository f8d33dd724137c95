"""Results of a run: one CheckResult per requirement, and the run's summary and exit code.

The exit code is decided here and only here (:meth:`RunResult.exit_code`); every report shows it:

- 130 the run was interrupted (Ctrl-C): the results are partial;
- 2 the suite could not judge: a fatal reason (unreachable target, failed calibration) or a check in error;
- 1 a failure that counts: at the run's level, or a declared MUST deviation under ``--strict``; with
  an expected-failures file, a failure not listed or a listed requirement that now passes;
- 0 otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .catalog import Level, Requirement

if TYPE_CHECKING:
    from .ratchet import ExpectedFailures, Judgement, Status

#: the exit status of an interrupted run (128 + SIGINT, as shells report it)
EXIT_INTERRUPTED = 130


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    #: the profile declares exactly this deviation; visible, never a pass
    DECLARED = "declared"
    SKIPPED = "skipped"
    #: no verdict: the target answered something uninterpretable, or the tool failed
    ERROR = "error"
    #: in the catalogue but not automated (or not selected because it is opt-in)
    NOT_CHECKED = "not_checked"
    #: a MAY feature the target does not implement: information, never a failure (RFC 2119 §5:
    #: an implementation which does not include an option MUST be prepared to interoperate)
    NOT_PRESENT = "not_present"


@dataclass(frozen=True)
class CheckResult:
    requirement: Requirement
    outcome: Outcome
    message: str = ""
    duration_s: float = 0.0
    expected: str = ""
    actual: str = ""
    #: the exchanges that led to the verdict (redacted before any report sees them)
    evidence: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.requirement.id

    def fails_at(self, threshold: Level) -> bool:
        """A failure counts against the run when its level is at least as strict as the threshold."""
        return self.outcome is Outcome.FAILED and self.requirement.level.rank <= threshold.rank

    @property
    def declared_must(self) -> bool:
        """A declared deviation from a MUST: listed in every report, a failure under --strict."""
        return self.outcome is Outcome.DECLARED and self.requirement.level is Level.MUST


def is_failure(result: CheckResult, level: Level, *, strict: bool = False) -> bool:
    """The result fails a run by itself (before any expected-failures file): a failure at the run's
    level, or a declared MUST deviation under --strict."""
    return result.fails_at(level) or (strict and result.declared_must)


@dataclass
class RunResult:
    target: str
    profile: str
    started_at: str
    duration_s: float = 0.0
    level: Level = Level.MUST
    results: list[CheckResult] = field(default_factory=list)
    #: seconds spent purely waiting on token lifetimes (overlapped)
    waited_s: float = 0.0
    #: --strict: declared MUST deviations count as failures
    strict: bool = False
    #: --expected-failures: the ratchet file, if one was given
    expected_failures: ExpectedFailures | None = None
    #: why nothing could be judged (unreachable target, failed calibration); "" when judging went ahead
    fatal: str = ""
    #: the exchanges behind ``fatal`` (redacted)
    fatal_evidence: tuple[str, ...] = ()
    #: the run was interrupted (Ctrl-C): the results are partial
    interrupted: bool = False
    #: (number of results, judgement): judged once per state, reporters ask per result
    _judged: tuple[int, Judgement | None] | None = field(default=None, init=False, repr=False, compare=False)

    # ---- what counts

    def is_failure(self, result: CheckResult) -> bool:
        """See :func:`is_failure`, at this run's level and strictness."""
        return is_failure(result, self.level, strict=self.strict)

    def judgement(self) -> Judgement | None:
        """The run measured against the expected-failures file, or None without one."""
        if self.expected_failures is None:
            return None
        if self._judged is None or self._judged[0] != len(self.results):
            judgement = self.expected_failures.judge(
                failed=[r.id for r in self.results if r.outcome is Outcome.FAILED or self.is_failure(r)],
                counted=[r.id for r in self.results if self.is_failure(r)],
                passed=[r.id for r in self.results if r.outcome is Outcome.PASSED],
            )
            self._judged = (len(self.results), judgement)
        return self._judged[1]

    def ratchet_status(self, result: CheckResult) -> Status | None:
        judgement = self.judgement()
        return None if judgement is None else judgement.statuses.get(result.id)

    def counts(self, result: CheckResult) -> bool:
        """The result changes the exit code: an error, or a failure the ratchet (if any) does not accept."""
        if result.outcome is Outcome.ERROR:
            return True
        judgement = self.judgement()
        if judgement is None:
            return self.is_failure(result)
        from .ratchet import Status

        return judgement.statuses.get(result.id) in (Status.NEW, Status.NOW_PASSES)

    def failures(self) -> list[CheckResult]:
        """The failures that fail the run (what the verdict counts)."""
        return [r for r in self.results if r.outcome is not Outcome.ERROR and self.counts(r)]

    def declared_musts(self) -> list[CheckResult]:
        return [r for r in self.results if r.declared_must]

    # ---- summary and verdict

    def summary(self) -> dict[str, int]:
        def count(outcome: Outcome) -> int:
            return sum(1 for r in self.results if r.outcome is outcome)

        def failed(level: Level) -> int:
            return sum(1 for r in self.results if r.outcome is Outcome.FAILED and r.requirement.level is level)

        return {
            "passed": count(Outcome.PASSED),
            "failed": count(Outcome.FAILED),
            "declared": count(Outcome.DECLARED),
            "skipped": count(Outcome.SKIPPED),
            "errors": count(Outcome.ERROR),
            "not_checked": count(Outcome.NOT_CHECKED),
            "not_present": count(Outcome.NOT_PRESENT),
            "must_failed": failed(Level.MUST),
            "should_failed": failed(Level.SHOULD),
            "may_failed": failed(Level.MAY),
            "declared_must": len(self.declared_musts()),
        }

    def exit_code(self) -> int:
        """130 interrupted; 2 could not judge; 1 a failure that counts; 0 otherwise (see the module doc)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.fatal or any(r.outcome is Outcome.ERROR for r in self.results):
            return 2
        judgement = self.judgement()
        if judgement is not None:
            return judgement.exit_code
        return 1 if any(self.is_failure(r) for r in self.results) else 0
