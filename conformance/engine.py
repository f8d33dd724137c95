"""The engine: run checks against a context and turn what they raise into CheckResults.

Untimed checks run first. Then every timed check (a generator) is started, all of them, and
each is finished at its deadline, in deadline order: their TTL waits overlap each other, and no
second half waits behind a minute of untimed checks against a slow target (its tokens would have
expired by then). Checks that end every session of an account run last of all.
"""

from __future__ import annotations

import functools
import heapq
import time
import traceback
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from .catalog import Level
from .context import CheckContext, Wait
from .errors import (
    CheckSkipped,
    DeviationDeclared,
    RequirementFailed,
    TargetError,
    TargetUnreachable,
    TokenconformError,
)
from .registry import Check
from .results import CheckResult, Outcome


@dataclass
class Pending:
    """A timed check between its two halves."""

    check: Check
    generator: Generator[Wait, None, None]
    wait: Wait
    started: float
    elapsed: float
    #: exchanges of the first half, kept so the verdict shows the whole story
    evidence: list[Any]


def _result(check: Check, exc: BaseException | None, ctx: CheckContext, duration: float) -> CheckResult:
    ctx.release_connections()
    evidence = tuple(exchange.describe() for exchange in ctx.take_evidence())
    requirement = check.requirement
    if exc is None:
        return CheckResult(requirement, Outcome.PASSED, "", duration, evidence=evidence[-3:])
    if isinstance(exc, RequirementFailed) and requirement.level is Level.MAY:
        # A MAY is an option: a target without it has not failed anything (RFC 2119 §5). The check
        # found the feature absent; say which, as information.
        return CheckResult(
            requirement,
            Outcome.NOT_PRESENT,
            f"optional (MAY) feature not present: {exc.message}",
            duration,
            expected=exc.expected,
            actual=exc.actual,
            evidence=tuple(exc.evidence) or evidence[-6:],
        )
    if isinstance(exc, RequirementFailed):
        return CheckResult(
            requirement,
            Outcome.FAILED,
            exc.message,
            duration,
            expected=exc.expected,
            actual=exc.actual,
            evidence=tuple(exc.evidence) or evidence[-6:],
        )
    if isinstance(exc, CheckSkipped):
        return CheckResult(requirement, Outcome.SKIPPED, exc.reason, duration)
    if isinstance(exc, DeviationDeclared):
        return CheckResult(requirement, Outcome.DECLARED, exc.reason, duration, evidence=evidence[-3:])
    if isinstance(exc, TargetError):
        return CheckResult(
            requirement, Outcome.ERROR, exc.message, duration, evidence=tuple(exc.evidence) or evidence[-6:]
        )
    if isinstance(exc, TokenconformError):
        return CheckResult(requirement, Outcome.ERROR, str(exc), duration, evidence=evidence[-3:])
    # A bug in a check is our trouble, never the target's failure: report it as an error with
    # the innermost frame, so the report stays readable and the defect findable.
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return CheckResult(
        requirement,
        Outcome.ERROR,
        f"internal error in check: {type(exc).__name__}: {exc}{where}",
        duration,
        evidence=evidence[-3:],
    )


def _run(function: Callable[[], Any]) -> BaseException | None:
    try:
        function()
    except (RequirementFailed, CheckSkipped, DeviationDeclared, TokenconformError) as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - see _result: reported as an error, never swallowed
        return exc
    return None


def start(check: Check, ctx: CheckContext) -> CheckResult | Pending:
    """Run an untimed check to its result, or a timed one up to its Wait."""
    started = time.monotonic()
    unmet = check.unmet_precondition(ctx.profile, ctx.config) if check.needs else None
    if unmet is not None:
        return CheckResult(check.requirement, Outcome.SKIPPED, unmet)
    if not check.timed:
        exc = _run(lambda: check.function(ctx))
        return _result(check, exc, ctx, time.monotonic() - started)
    generator = check.function(ctx)
    holder: list[Wait] = []

    def first_half() -> None:
        holder.append(next(generator))

    exc = _run(first_half)
    if exc is not None:
        if isinstance(exc, StopIteration):
            exc = None
        return _result(check, exc, ctx, time.monotonic() - started)
    ctx.release_connections()
    return Pending(check, generator, holder[0], started, time.monotonic() - started, ctx.take_evidence())


def finish_step(
    pending: Pending, ctx: CheckContext, *, sleep: Callable[[float], None] = time.sleep
) -> CheckResult | Pending:
    """Sleep until the pending check's deadline and run it to its result, or to its next Wait.

    A check may yield several Waits (EXP-02 rotates late in a token's life, then probes after the
    session cap); each one comes back here as a new Pending, so other checks finish meanwhile.
    """
    delay = pending.wait.deadline - ctx.clock()
    if delay > 0:
        sleep(delay)
    resumed = time.monotonic()
    ctx.take_evidence()  # exchanges of other checks made while waiting are not this check's
    following: list[Wait] = []

    def step() -> None:
        try:
            following.append(next(pending.generator))
        except StopIteration:
            return

    exc = _run(step)
    elapsed = pending.elapsed + time.monotonic() - resumed
    if exc is None and following:
        ctx.release_connections()
        return Pending(pending.check, pending.generator, following[0], pending.started, elapsed,
                       pending.evidence + ctx.take_evidence())  # fmt: skip
    for exchange in reversed(pending.evidence):
        ctx.record_first(exchange)
    return _result(pending.check, exc, ctx, elapsed)


def finish(pending: Pending, ctx: CheckContext, *, sleep: Callable[[float], None] = time.sleep) -> CheckResult:
    """Run one pending check to its result, sleeping through each of its waits in line."""
    outcome: CheckResult | Pending = pending
    while isinstance(outcome, Pending):
        outcome = finish_step(outcome, ctx, sleep=sleep)
    return outcome


def run_timed(
    checks: Iterable[Check],
    ctx: CheckContext,
    *,
    sleep: Callable[[Pending, float], None] | None = None,
) -> dict[str, CheckResult]:
    """Start every timed check and finish each, always the one with the earliest deadline next.

    Between two starts, every check whose deadline has passed is finished first: a start can take
    seconds (logins against a slow target, a check that needs no wait and runs to its end), and a
    first half's tokens must not expire behind them. A check with several waits goes back in the
    queue after each. ``sleep(pending, seconds)`` waits for that check (progress hooks in here).
    """
    queue: list[tuple[float, int, Pending]] = []
    results: dict[str, CheckResult] = {}
    counter = 0

    def step(item: Pending) -> None:
        nonlocal counter
        waiter = time.sleep if sleep is None else functools.partial(sleep, item)
        outcome = finish_step(item, ctx, sleep=waiter)
        if isinstance(outcome, Pending):
            counter += 1
            heapq.heappush(queue, (outcome.wait.deadline, counter, outcome))
        else:
            results[outcome.id] = outcome

    for check in checks:
        while queue and queue[0][0] <= ctx.clock():
            step(heapq.heappop(queue)[2])
        started = start(check, ctx)
        if isinstance(started, Pending):
            counter += 1
            heapq.heappush(queue, (started.wait.deadline, counter, started))
        else:
            results[started.id] = started
    while queue:
        step(heapq.heappop(queue)[2])
    return results


def run_checks(checks: Iterable[Check], ctx: CheckContext) -> list[CheckResult]:
    """Run checks (timed ones overlapped) and return their results in the given order.

    A target that cannot be reached at all stops the run: every later check would only
    repeat the same error.
    """
    ordered = list(checks)
    results: dict[str, CheckResult] = {}
    for check in (c for c in ordered if c.run_phase == 0):
        outcome = start(check, ctx)
        assert isinstance(outcome, CheckResult)
        results[check.id] = outcome
        if outcome.outcome is Outcome.ERROR and outcome.message.startswith("target unreachable"):
            raise TargetUnreachable(ctx.config.target, outcome.message)
    results.update(run_timed((c for c in ordered if c.run_phase == 1), ctx))
    for check in (c for c in ordered if c.run_phase == 2):
        outcome = start(check, ctx)
        results[check.id] = outcome if isinstance(outcome, CheckResult) else finish(outcome, ctx)
    return [results[c.id] for c in ordered]
