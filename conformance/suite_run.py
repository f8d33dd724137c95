"""SuiteRun: the conformance suite's state for one pytest session (the plugin registers it when asked).

It

- orders the suite's items: untimed checks first, timed ones next, checks that end every session
  of an account last;
- before the first item runs, probes the target once and calibrates the oracle once
  (``CheckContext.calibrate``); when the first timed item comes up, starts every selected timed
  check, so their TTL waits overlap each other and each resumes close to its deadline.
  When the probe or the calibration fails, nothing can be judged: the session stops with one
  line (``pytest.exit``, status 2) and the ``RunResult`` carries that reason as ``fatal``;
- hands each item its ``CheckResult``, redacted (``conformance/redact.py``) unless
  ``--show-secrets``; ``conformance/test_suite.py`` maps it to pytest's outcome;
- at the end, builds the ``RunResult``, calls ``pytest_tokenconform_finished`` with it and
  writes the report files the plan names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .plugin import SUITE_FUNCTION, SUITE_MODULE

if TYPE_CHECKING:
    from .context import CheckContext
    from .engine import Pending
    from .planning import Plan
    from .redact import Secrets
    from .results import CheckResult, RunResult

__all__ = ["SuiteRun", "requirement_of"]

#: how often the progress hook fires while a timed check waits on a token lifetime
_PROGRESS_INTERVAL = 0.25


def _is_suite_item(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return getattr(module, "__name__", "") == SUITE_MODULE and getattr(item, "originalname", "") == SUITE_FUNCTION


def requirement_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params["requirement_id"]) if callspec is not None else ""


class SuiteRun:
    """The suite's state for one pytest session: a plugin object, registered only when active."""

    def __init__(self, plan: Plan, config: pytest.Config) -> None:
        from .redact import Secrets

        self.plan = plan
        self.config = config
        self.ctx: CheckContext | None = None
        #: the run's secrets before a context exists (environment, --header values)
        self._secrets: Secrets = Secrets.for_run(os.environ, plan.config.headers)
        #: why no check can be judged (unreachable target, failed calibration), once known
        self.fatal: str = ""
        self.fatal_evidence: tuple[str, ...] = ()
        #: the target went away mid-run: every later check reports this error instead of repeating it
        self.gone: str = ""
        self.gone_evidence: tuple[str, ...] = ()
        #: timed checks between their halves, and timed checks that ended in their first half
        self.pending: dict[str, Pending] = {}
        self.early: dict[str, CheckResult] = {}
        #: the pytest session, kept by begin() so the timed checks can be started mid-run
        self._session: pytest.Session | None = None
        self._timed_started = False
        self.results: list[CheckResult] = []
        self.total = 0
        self.waited_s = 0.0
        self.began = False
        self.interrupted = False
        self.started_at = ""
        self._t0 = time.monotonic()
        self.run: RunResult | None = None

    @property
    def secrets(self) -> Secrets:
        return self.ctx.secrets if self.ctx is not None else self._secrets

    # ---- pytest hooks

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Untimed checks first, then timed ones, and the checks that end every session of an
        account last of all (other tests keep their places)."""
        positions = [i for i, item in enumerate(items) if _is_suite_item(item)]
        ours = [items[i] for i in positions]
        ours.sort(key=lambda item: self._run_phase(requirement_of(item)))
        for position, item in zip(positions, ours, strict=True):
            items[position] = item

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        if not session.config.option.collectonly and not session.testsfailed:
            self.begin(session)
            if self.fatal:
                # Nothing can be judged: one line, not one error per check (status 2, like the CLI).
                pytest.exit(f"tokenconform: {self._scrub(self.fatal)}", returncode=2)
        return (yield)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest calls this for pytest.exit() too (our fatal stop), and its exit status 2 is
        # INTERRUPTED's number: only a real Ctrl-C marks the run interrupted.
        self.interrupted = isinstance(excinfo.value, KeyboardInterrupt)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.end()
        if self.run is not None and self.plan.reports:
            from .errors import UsageError
            from .planning import write_reports

            try:
                write_reports(self.run, self.plan)
            except UsageError as exc:
                session.config.get_terminal_writer().line(f"tokenconform: error: {exc}", red=True)
                session.exitstatus = 2

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None or not self.run.results:
            return  # a fatal run said why on its one Exit line
        from .reporting import terminal

        terminalreporter.section("tokenconform")
        if self.plan.show_secrets:
            terminalreporter.write_line("tokenconform: warning: --show-secrets: this output contains secrets")
        verbose = self.config.getoption("verbose") > 0
        terminalreporter.write(terminal.render(self.run, verbose=verbose, width=shutil.get_terminal_size().columns))

    # ---- the run

    def _run_phase(self, requirement_id: str) -> int:
        check = self.plan.checks.get(requirement_id)
        return 0 if check is None else check.run_phase

    def _is_timed(self, requirement_id: str) -> bool:
        check = self.plan.checks.get(requirement_id)
        return check is not None and check.timed

    def begin(self, session: pytest.Session) -> None:
        """Probe, calibrate, and start every selected timed check: all before the first item runs."""
        from datetime import datetime, timezone

        from .context import CheckContext
        from .errors import CheckSkipped, TargetError, TargetUnreachable, TokenconformError
        from .planning import probe_target

        self.began = True
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._t0 = time.monotonic()
        items = [item for item in session.items if _is_suite_item(item)]
        self.total = len(items)
        wanted = [requirement_of(item) for item in items]
        if not any(rid in self.plan.checks for rid in wanted):
            return  # only not-checked requirements: no request at all
        try:
            probe_target(self.plan.config)
        except TargetUnreachable as exc:
            self.fatal = str(exc)
            return
        ctx = CheckContext(self.plan.profile, self.plan.config)
        self.ctx = ctx
        try:
            with self._quiet_tls():
                ctx.calibrate()
        except CheckSkipped as exc:
            self.fatal = f"calibration needs a logged-in user: {exc.reason}"
        except TargetError as exc:
            message = exc.message if exc.message.startswith("calibration") else f"calibration: {exc.message}"
            self.fatal, self.fatal_evidence = message, tuple(exc.evidence)
        except TokenconformError as exc:
            self.fatal = f"calibration: {exc}"
        except Exception as exc:  # noqa: BLE001 - a bug must not turn into verdicts either
            self.fatal = f"calibration: internal error: {type(exc).__name__}: {exc}"
        ctx.take_evidence()  # calibration's exchanges belong to no check
        self._session = session

    def _start_timed(self) -> None:
        """Start every selected timed check, once the untimed ones are done.

        Started at the very beginning, their waits would overlap the untimed checks, but their
        second halves would run only after all of those: against a slow target (bcrypt cost 12,
        a minute of untimed checks) every token of their first halves has expired by then. So
        their waits overlap only each other, and each resumes close to its deadline.
        """
        from . import engine

        self._timed_started = True
        session, ctx = self._session, self._context()
        if session is None:
            return
        items = [item for item in session.items if _is_suite_item(item)]
        wanted = [
            self.plan.checks[rid]
            for rid in (requirement_of(item) for item in items)
            if self._is_timed(rid) and rid not in self.early
        ]
        # Each finishes as close to its deadline as can be: between two starts the overdue ones
        # finish first, and a check with several waits goes back in the queue after each.
        with self._quiet_tls():
            self.early.update(engine.run_timed(wanted, ctx, sleep=self._wait_for))
        for result in self.early.values():
            self._note_unreachable(result)

    def _wait_for(self, pending: Pending, delay: float) -> None:
        self._sleeper(pending.check.id, pending.wait.reason)(delay)

    def result_for(self, requirement_id: str) -> CheckResult:
        """Run (or finish) one requirement's check and return its result, redacted; reports it through the hook."""
        from .results import CheckResult, Outcome

        requirement = next(r for r in self.plan.requirements if r.id == requirement_id)
        if requirement_id in self.plan.not_checked:
            result = CheckResult(requirement, Outcome.NOT_CHECKED, self.plan.not_checked[requirement_id])
        elif self.fatal or self.gone:
            reason, evidence = (self.fatal, self.fatal_evidence) if self.fatal else (self.gone, self.gone_evidence)
            result = CheckResult(requirement, Outcome.ERROR, reason, evidence=evidence)
        else:
            if self._is_timed(requirement_id) and not self._timed_started:
                self._start_timed()
            result = self._judge(requirement_id)
        result = self._redact(result)
        self.results.append(result)
        self.config.hook.pytest_tokenconform_result(result=result)
        return result

    def _judge(self, requirement_id: str) -> CheckResult:
        """The check's result: started timed checks finished, untimed ones run now."""
        from . import engine
        from .results import CheckResult, Outcome

        if self.gone:  # the target went away while the timed checks were being started
            requirement = self.plan.checks[requirement_id].requirement
            return CheckResult(requirement, Outcome.ERROR, self.gone, evidence=self.gone_evidence)
        if requirement_id in self.early:
            return self.early.pop(requirement_id)
        ctx = self._context()
        check = self.plan.checks[requirement_id]
        with self._quiet_tls():
            if requirement_id in self.pending:
                pending = self.pending.pop(requirement_id)
                result = engine.finish(pending, ctx, sleep=self._sleeper(requirement_id, pending.wait.reason))
            else:
                started = engine.start(check, ctx)
                if isinstance(started, engine.Pending):  # a timed check _start_timed() did not start
                    started = engine.finish(started, ctx, sleep=self._sleeper(requirement_id, started.wait.reason))
                result = started
        self._note_unreachable(result)
        return result

    def _redact(self, result: CheckResult) -> CheckResult:
        if self.plan.show_secrets:
            return result
        from .redact import redact_result

        return redact_result(result, self.secrets)

    def _scrub(self, text: str) -> str:
        return text if self.plan.show_secrets else self.secrets.scrub(text)

    def _note_unreachable(self, result: CheckResult) -> None:
        """A target that went away ends the judging: every later check would only repeat the error."""
        from .results import Outcome

        if result.outcome is Outcome.ERROR and result.message.startswith("target unreachable"):
            self.gone, self.gone_evidence = result.message, result.evidence

    def _context(self) -> CheckContext:
        if self.ctx is None:  # begin() did not run (a check called outside the run loop)
            from .context import CheckContext

            self.ctx = CheckContext(self.plan.profile, self.plan.config)
            self.ctx.calibrate()
        return self.ctx

    def _sleeper(self, requirement_id: str, reason: str) -> Callable[[float], None]:
        def sleep(delay: float) -> None:
            end = time.monotonic() + delay
            while (left := end - time.monotonic()) > 0:
                self.config.hook.pytest_tokenconform_waiting(
                    done=len(self.results),
                    total=self.total,
                    waiting_for=f"{requirement_id} {reason}",
                    seconds_left=left,
                )
                time.sleep(min(_PROGRESS_INTERVAL, left))
            self.waited_s += delay

        return sleep

    @contextlib.contextmanager
    def _quiet_tls(self) -> Iterator[None]:
        """With --insecure urllib3 warns on every request; under filterwarnings=error that would fail checks."""
        if self.plan.config.verify is not False:
            yield
            return
        import warnings

        from urllib3.exceptions import InsecureRequestWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureRequestWarning)
            yield

    def end(self) -> None:
        """Close what is still open and hand the RunResult to the collector (once)."""
        if self.run is not None:
            return
        from .catalog import Level
        from .results import RunResult

        for pending in self.pending.values():
            pending.generator.close()  # -x or an interrupt left it between its halves
        self.pending.clear()
        if self.ctx is not None:
            self.ctx.close()
        order = {rid: i for i, rid in enumerate(self.plan.requirement_ids)}
        self.run = RunResult(
            target=self.plan.config.target,
            profile=self.plan.profile.name,
            started_at=self.started_at or _now_iso(),
            duration_s=time.monotonic() - self._t0 if self.began else 0.0,
            level=Level.SHOULD if self.plan.level == "should" else Level.MUST,
            # A fatal run judged nothing: its results would be one copy of the same error per check.
            results=[] if self.fatal else sorted(self.results, key=lambda r: order.get(r.id, len(order))),
            waited_s=self.waited_s,
            strict=self.plan.strict,
            expected_failures=self.plan.expected_failures,
            fatal=self._scrub(self.fatal),
            fatal_evidence=tuple(self._scrub(text) for text in self.fatal_evidence),
            interrupted=self.interrupted,
        )
        self.config.hook.pytest_tokenconform_finished(run=self.run)


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")
