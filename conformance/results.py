"""Results of a run: one CheckResult per requirement, and the run's summary and exit code."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .catalog import Level, Requirement


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


@dataclass(frozen=True)
class CheckResult:
    requirement: Requirement
    outcome: Outcome
    message: str = ""
    duration_s: float = 0.0
    expected: str = ""
    actual: str = ""
    #: the exchanges that led to the verdict, tokens shortened
    evidence: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.requirement.id

    def fails_at(self, threshold: Level) -> bool:
        """A failure counts against the run when its level is at least as strict as the threshold."""
        return self.outcome is Outcome.FAILED and self.requirement.level.rank <= threshold.rank


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

    def summary(self) -> dict[str, int]:
        def count(outcome: Outcome) -> int:
            return sum(1 for r in self.results if r.outcome is outcome)

        return {
            "passed": count(Outcome.PASSED),
            "failed": count(Outcome.FAILED),
            "declared": count(Outcome.DECLARED),
            "skipped": count(Outcome.SKIPPED),
            "errors": count(Outcome.ERROR),
            "not_checked": count(Outcome.NOT_CHECKED),
            "must_failed": sum(
                1 for r in self.results if r.outcome is Outcome.FAILED and r.requirement.level is Level.MUST
            ),
            "should_failed": sum(
                1 for r in self.results if r.outcome is Outcome.FAILED and r.requirement.level is Level.SHOULD
            ),
            "may_failed": sum(
                1 for r in self.results if r.outcome is Outcome.FAILED and r.requirement.level is Level.MAY
            ),
        }

    def exit_code(self) -> int:
        """0: no failure at the chosen level and no error; 1: a failure; 2: could not judge."""
        if any(r.outcome is Outcome.ERROR for r in self.results):
            return 2
        if any(r.fails_at(self.level) for r in self.results):
            return 1
        return 0
