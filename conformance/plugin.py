"""The pytest11 plugin: runs the conformance suite inside pytest when its options are given.

PYTEST_DONT_REWRITE (no asserts here; and the CLI imports this module before pytest starts).

This module is imported by *every* pytest run in the environment (STYLE.md, "the pytest11
trap"), so its top level only defines the option names, the hook specs and small classes;
everything of the suite is imported inside the functions that need it, and nothing happens
unless ``--tokenconform-target`` or ``--tokenconform-profile`` is given (pytest-django does
nothing without settings, for the same reason).

When active, ``pytest_configure`` builds a :class:`Plan` (profile, selection, run options:
every error raised before any request) and registers a :class:`SuiteRun`, which

- orders the suite's items: untimed checks first, timed ones last;
- before the first item runs, probes the target once, calibrates the oracle once
  (``CheckContext.calibrate``), and starts every selected timed check, so all TTL waits overlap;
- hands each item its ``CheckResult`` (``conformance/test_suite.py`` maps it to pytest's outcome);
- at the end, builds the ``RunResult`` and calls ``pytest_tokenconform_finished`` with it: the
  ``tokenconform`` CLI's collector implements that hook.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .catalog import Requirement
    from .context import CheckContext, RunConfig
    from .engine import Pending
    from .profile import Profile
    from .registry import Check
    from .results import CheckResult, RunResult

__all__ = [
    "OPT_CA_BUNDLE",
    "OPT_CONCURRENCY",
    "OPT_EXCLUDE",
    "OPT_HEADER",
    "OPT_INSECURE",
    "OPT_LEVEL",
    "OPT_MAX_WAIT",
    "OPT_ONLY",
    "OPT_PROFILE",
    "OPT_ROUNDS",
    "OPT_TARGET",
    "OPT_TIMEOUT",
    "OPT_TIMING",
    "Plan",
    "SuiteRun",
    "active_run",
    "build_plan",
    "probe_target",
]

# Prefixed option names (hypothesis's constants; `--profile` itself belongs to pytest-profiling).
GROUP = "tokenconform"
OPT_TARGET = "--tokenconform-target"
OPT_PROFILE = "--tokenconform-profile"
OPT_LEVEL = "--tokenconform-level"
OPT_MAX_WAIT = "--tokenconform-max-wait"
OPT_TIMEOUT = "--tokenconform-timeout"
OPT_HEADER = "--tokenconform-header"
OPT_INSECURE = "--tokenconform-insecure"
OPT_CA_BUNDLE = "--tokenconform-ca-bundle"
OPT_ONLY = "--tokenconform-only"
OPT_EXCLUDE = "--tokenconform-exclude"
OPT_TIMING = "--tokenconform-timing"
OPT_CONCURRENCY = "--tokenconform-concurrency"
OPT_ROUNDS = "--tokenconform-rounds"

#: defaults shared with the CLI, so ``tokenconform run`` and the plugin agree
DEFAULT_LEVEL = "must"
DEFAULT_MAX_WAIT = 30.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_CONCURRENCY = 16
DEFAULT_ROUNDS = 3

#: the module pytest collects, and the test function in it
SUITE_MODULE = "conformance.test_suite"
SUITE_FUNCTION = "test_requirement"

_RUN_KEY = pytest.StashKey["SuiteRun"]()
#: name under which the active SuiteRun is registered with pytest's plugin manager
_RUN_PLUGIN_NAME = "tokenconform-run"
#: how often the progress hook fires while a timed check waits on a token lifetime
_PROGRESS_INTERVAL = 0.25


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


# ---------------------------------------------------------------- hooks


class TokenconformHookSpecs:
    """Hooks the plugin calls while the suite runs; ``tokenconform run`` implements them."""

    @pytest.hookspec
    def pytest_tokenconform_result(self, result: CheckResult) -> None:
        """One requirement's result, as soon as it is known."""

    @pytest.hookspec
    def pytest_tokenconform_waiting(self, done: int, total: int, waiting_for: str, seconds_left: float) -> None:
        """Called every quarter second while the run sleeps until a token has expired."""

    @pytest.hookspec
    def pytest_tokenconform_finished(self, run: RunResult) -> None:
        """The whole run's results, once, at the end of the session."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(TokenconformHookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "tokenconform: conformance suite for JWT access/refresh-token session APIs")

    def add(option: str, **kwargs: Any) -> None:
        group.addoption(option, dest=_dest(option), **kwargs)

    add(OPT_TARGET, metavar="URL", default=None, help="base URL of the API under test; enables the suite")
    add(
        OPT_PROFILE,
        metavar="NAME_OR_FILE",
        default=None,
        help="profile describing the target's API: a built-in name (reference, simplejwt, flask-jwt-extended, "
        "oauth2) or a TOML file",
    )
    add(
        OPT_LEVEL,
        choices=("must", "should"),
        default=DEFAULT_LEVEL,
        help="which failures fail: must (MUST only, default) or should (MUST and SHOULD)",
    )
    add(
        OPT_MAX_WAIT,
        metavar="SECONDS",
        type=float,
        default=DEFAULT_MAX_WAIT,
        help="longest token-lifetime wait accepted; longer expiry checks skip (default 30)",
    )
    add(
        OPT_TIMEOUT, metavar="SECONDS", type=float, default=DEFAULT_TIMEOUT, help="timeout of each request (default 10)"
    )
    add(
        OPT_HEADER,
        metavar="NAME:VALUE",
        action="append",
        default=[],
        help="extra header on every request, e.g. an API gateway key (repeatable)",
    )
    add(OPT_INSECURE, action="store_true", default=False, help="do not verify the target's TLS certificate")
    add(OPT_CA_BUNDLE, metavar="FILE", default=None, help="CA bundle to verify the target's TLS certificate")
    add(
        OPT_ONLY,
        metavar="CATEGORY_OR_ID",
        action="append",
        default=[],
        help="run only these requirement IDs or categories (repeatable, comma-separated allowed)",
    )
    add(
        OPT_EXCLUDE,
        metavar="ID_OR_CATEGORY",
        action="append",
        default=[],
        help="leave out these requirement IDs or categories (repeatable, comma-separated allowed)",
    )
    add(OPT_TIMING, action="store_true", default=False, help="enable the opt-in statistical timing checks")
    add(
        OPT_CONCURRENCY,
        metavar="N",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="concurrent refreshes per race round (default 16)",
    )
    add(OPT_ROUNDS, metavar="N", type=int, default=DEFAULT_ROUNDS, help="race rounds (default 3)")


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption(_dest(OPT_TARGET))
    profile = config.getoption(_dest(OPT_PROFILE))
    if target is None and profile is None:
        return  # not asked for: this plugin stays out of the way of every other pytest run
    if getattr(config.option, "help", False):
        return
    if not target or not profile:
        missing = OPT_PROFILE if target else OPT_TARGET
        raise pytest.UsageError(
            f"tokenconform: {OPT_TARGET} URL and {OPT_PROFILE} NAME_OR_FILE go together; {missing} is missing"
        )
    if getattr(config.option, "numprocesses", None):
        # Each xdist worker would calibrate and start every timed check on its own.
        raise pytest.UsageError("tokenconform: the suite runs in one process; drop -n/--numprocesses")
    from .errors import TokenconformError

    try:
        plan = build_plan(
            target=target,
            profile=profile,
            level=config.getoption(_dest(OPT_LEVEL)),
            only=config.getoption(_dest(OPT_ONLY)),
            exclude=config.getoption(_dest(OPT_EXCLUDE)),
            max_wait=config.getoption(_dest(OPT_MAX_WAIT)),
            timeout=config.getoption(_dest(OPT_TIMEOUT)),
            headers=config.getoption(_dest(OPT_HEADER)),
            insecure=config.getoption(_dest(OPT_INSECURE)),
            ca_bundle=config.getoption(_dest(OPT_CA_BUNDLE)),
            timing=config.getoption(_dest(OPT_TIMING)),
            concurrency=config.getoption(_dest(OPT_CONCURRENCY)),
            rounds=config.getoption(_dest(OPT_ROUNDS)),
        )
    except TokenconformError as exc:
        raise pytest.UsageError(f"tokenconform: {exc}") from None
    run = SuiteRun(plan, config)
    config.stash[_RUN_KEY] = run
    config.pluginmanager.register(run, _RUN_PLUGIN_NAME)


def active_run(config: pytest.Config) -> SuiteRun | None:
    """The SuiteRun of this session, or None when the suite was not asked for."""
    return config.stash.get(_RUN_KEY, None)


def pytest_collect_file(file_path: Any, parent: pytest.Collector) -> pytest.Module | None:
    """Collect conformance/test_suite.py under ``--pyargs conformance`` even if python_files excludes it."""
    if active_run(parent.config) is None or file_path.name != "test_suite.py":
        return None
    if file_path.parent.name != "conformance" or parent.session.isinitpath(file_path):
        return None  # an explicit path (or --pyargs conformance.test_suite) is collected by pytest itself
    import fnmatch

    patterns = parent.config.getini("python_files")
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns):
        return None  # the python plugin collects it already
    from . import test_suite

    if file_path.resolve() != _module_file(test_suite):
        return None
    module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
    return module


def _module_file(module: Any) -> Any:
    from pathlib import Path

    return Path(module.__file__).resolve()


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """What a run will do, validated before any request is sent."""

    profile: Profile
    config: RunConfig
    #: "must" or "should"
    level: str
    #: the selected catalogue requirements, in catalogue order (checked and not checked)
    requirements: tuple[Requirement, ...]
    #: requirement ID -> its check, for the requirements that will be checked
    checks: Mapping[str, Check]
    #: requirement ID -> why it is not checked (not automated, or opt-in and not enabled)
    not_checked: Mapping[str, str] = field(default_factory=dict)

    @property
    def requirement_ids(self) -> list[str]:
        return [r.id for r in self.requirements]


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _normalise_selection(values: Sequence[str], option: str) -> list[str]:
    """IDs upper-cased, categories lower-cased; anything else is a usage error naming the option."""
    from .catalog import load_catalog
    from .errors import UsageError

    catalog = load_catalog()
    categories = catalog.category_names()
    chosen = []
    for value in _split(values):
        if value.upper() in catalog:
            chosen.append(value.upper())
        elif value.lower() in categories:
            chosen.append(value.lower())
        else:
            raise UsageError(
                f"{option} {value!r}: not a requirement ID or category (categories: {', '.join(categories)}; "
                "IDs such as ROT-01: see tokenconform run --list)"
            )
    return chosen


def parse_headers(values: Sequence[str], option: str = "--header") -> dict[str, str]:
    from .errors import UsageError

    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            raise UsageError(f"{option} {value!r}: expected NAME:VALUE, e.g. 'X-Api-Key: abc123'")
        headers[name] = content.strip()
    return headers


def build_plan(
    *,
    target: str,
    profile: str,
    level: str = DEFAULT_LEVEL,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_wait: float = DEFAULT_MAX_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Sequence[str] = (),
    insecure: bool = False,
    ca_bundle: str | None = None,
    timing: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    rounds: int = DEFAULT_ROUNDS,
    option_names: Mapping[str, str] | None = None,
) -> Plan:
    """Validate everything about a run (profile, selection, options) before any request.

    ``option_names`` maps "only", "exclude", ... to the spelling of the caller's options, so an
    error names ``--only`` in the CLI and ``--tokenconform-only`` under pytest.

    Raises:
        ProfileError: the profile is invalid (naming the key path) or missing.
        UsageError: an option value cannot be used.
    """
    from pathlib import Path
    from urllib.parse import urlsplit

    from .context import RunConfig
    from .errors import UsageError
    from .profile import load_profile
    from .registry import load_all_checks

    names = {
        "target": OPT_TARGET,
        "only": OPT_ONLY,
        "exclude": OPT_EXCLUDE,
        "header": OPT_HEADER,
        "ca_bundle": OPT_CA_BUNDLE,
        "max_wait": OPT_MAX_WAIT,
        "timeout": OPT_TIMEOUT,
        "concurrency": OPT_CONCURRENCY,
        "rounds": OPT_ROUNDS,
        "level": OPT_LEVEL,
    }
    names.update(option_names or {})
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{names['target']} {target!r}: expected an http:// or https:// URL")
    if level not in ("must", "should"):
        raise UsageError(f"{names['level']} {level!r}: expected must or should")
    for key, value, least in (("max_wait", max_wait, 0.0), ("timeout", timeout, 0.001)):
        if not value >= least:
            raise UsageError(f"{names[key]} {value}: must be at least {least:g} seconds")
    if rounds < 1:
        raise UsageError(f"{names['rounds']} {rounds}: must be at least 1")
    if concurrency < 2:
        raise UsageError(f"{names['concurrency']} {concurrency}: a race needs at least 2 concurrent requests")
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise UsageError(f"{names['ca_bundle']} {ca_bundle}: no such file")
    header_map = parse_headers(headers, names["header"])
    only_ids = _normalise_selection(only, names["only"])
    exclude_ids = _normalise_selection(exclude, names["exclude"])

    loaded = load_profile(profile)
    registry = load_all_checks()
    opt_in = frozenset({"timing"} if timing else set())
    config = RunConfig(
        target=target.rstrip("/"),
        timeout=timeout,
        headers=header_map,
        verify=False if insecure else (ca_bundle or True),
        max_wait=max_wait,
        concurrency=concurrency,
        rounds=rounds,
        opt_in=opt_in,
    )

    def selected(requirement: Requirement) -> bool:
        keys = {requirement.id, requirement.category}
        return (not only_ids or bool(keys & set(only_ids))) and not keys & set(exclude_ids)

    requirements = tuple(r for r in registry.catalog.requirements if selected(r))
    if not requirements:
        raise UsageError(f"nothing to run: {names['exclude']} leaves out every requirement selected")
    checks: dict[str, Check] = {}
    not_checked: dict[str, str] = {}
    for requirement in requirements:
        if not requirement.automated:
            not_checked[requirement.id] = requirement.not_automated_reason
        elif requirement.opt_in and requirement.opt_in not in opt_in:
            not_checked[requirement.id] = f"opt-in: enable with --{requirement.opt_in}"
        elif requirement.id not in registry:
            not_checked[requirement.id] = "no check is registered for this requirement yet"
        else:
            checks[requirement.id] = registry.get(requirement.id)
    return Plan(
        profile=loaded,
        config=config,
        level=level,
        requirements=requirements,
        checks=checks,
        not_checked=not_checked,
    )


def probe_target(config: RunConfig) -> None:
    """One request to the target's base URL: any HTTP answer will do, no answer is TargetUnreachable.

    Made before the suite so a dead target ends the run at once with one clear line, instead of
    every check timing out on its own.
    """
    import warnings

    import requests
    from urllib3.exceptions import InsecureRequestWarning

    from .errors import TargetUnreachable, UsageError

    try:
        with requests.Session() as session, warnings.catch_warnings():
            if config.verify is False:  # --insecure: the user asked for it, once is enough
                warnings.simplefilter("ignore", InsecureRequestWarning)
            session.get(
                config.target,
                headers=dict(config.headers),
                timeout=config.timeout,
                verify=config.verify,
                allow_redirects=False,
            ).close()
    except requests.exceptions.SSLError as exc:
        raise TargetUnreachable(
            config.target, f"TLS error ({_first_line(exc)}); see --ca-bundle / --insecure"
        ) from None
    except requests.exceptions.ConnectionError as exc:
        raise TargetUnreachable(config.target, f"connection failed: {_connection_reason(exc)}") from None
    except requests.exceptions.Timeout:
        raise TargetUnreachable(config.target, f"no answer within {config.timeout:g} s (--timeout)") from None
    except requests.exceptions.RequestException as exc:
        raise UsageError(f"target {config.target!r}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:200]


def _connection_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "nodename nor servname",
        "timed out",
        "No route to host",
        "Network is unreachable",
        "Temporary failure in name resolution",
    ):
        if marker in text:
            return marker.lower() if marker == "Connection refused" else marker
    return _first_line(exc)


# ---------------------------------------------------------------- the run


def _is_suite_item(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return getattr(module, "__name__", "") == SUITE_MODULE and getattr(item, "originalname", "") == SUITE_FUNCTION


def requirement_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params["requirement_id"]) if callspec is not None else ""


class SuiteRun:
    """The suite's state for one pytest session: a plugin object, registered only when active."""

    def __init__(self, plan: Plan, config: pytest.Config) -> None:
        self.plan = plan
        self.config = config
        self.ctx: CheckContext | None = None
        #: why no check can be judged (unreachable target, failed calibration), once known
        self.fatal: str | None = None
        self.fatal_evidence: tuple[str, ...] = ()
        #: timed checks between their halves, and timed checks that ended in their first half
        self.pending: dict[str, Pending] = {}
        self.early: dict[str, CheckResult] = {}
        self.results: list[CheckResult] = []
        self.total = 0
        self.waited_s = 0.0
        self.began = False
        self.started_at = ""
        self._t0 = time.monotonic()
        self.run: RunResult | None = None

    # ---- pytest hooks

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Untimed checks first, timed ones last (other tests keep their places)."""
        positions = [i for i, item in enumerate(items) if _is_suite_item(item)]
        ours = [items[i] for i in positions]
        ours.sort(key=lambda item: self._is_timed(requirement_of(item)))
        for position, item in zip(positions, ours, strict=True):
            items[position] = item

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        if not session.config.option.collectonly and not session.testsfailed:
            self.begin(session)
        return (yield)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.end()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None or not self.run.results:
            return
        from .reporting import terminal

        terminalreporter.section("tokenconform")
        terminalreporter.write(terminal.render(self.run, verbose=self.config.getoption("verbose") > 0))

    # ---- the run

    def _is_timed(self, requirement_id: str) -> bool:
        check = self.plan.checks.get(requirement_id)
        return check is not None and check.timed

    def begin(self, session: pytest.Session) -> None:
        """Probe, calibrate, and start every selected timed check: all before the first item runs."""
        from datetime import datetime, timezone

        from . import engine
        from .context import CheckContext
        from .errors import CheckSkipped, TargetError, TargetUnreachable, TokenconformError

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
            self.fatal, self.fatal_evidence = exc.message, tuple(exc.evidence)
        except TokenconformError as exc:
            self.fatal = f"calibration: {exc}"
        except Exception as exc:  # noqa: BLE001 - a bug must not turn into verdicts either
            self.fatal = f"calibration: internal error: {type(exc).__name__}: {exc}"
        ctx.take_evidence()  # calibration's exchanges belong to no check
        if self.fatal is not None:
            return
        for rid in wanted:
            if self._is_timed(rid):
                with self._quiet_tls():
                    outcome = engine.start(self.plan.checks[rid], ctx)
                if isinstance(outcome, engine.Pending):
                    self.pending[rid] = outcome
                else:
                    self.early[rid] = outcome
                    self._note_unreachable(outcome)
        # Finish the timed checks in deadline order, so no wait is longer than it has to be.
        deadline = {rid: p.wait.deadline for rid, p in self.pending.items()}
        positions = [
            i for i, item in enumerate(session.items) if _is_suite_item(item) and self._is_timed(requirement_of(item))
        ]
        timed = sorted((session.items[i] for i in positions), key=lambda it: deadline.get(requirement_of(it), 0.0))
        for position, item in zip(positions, timed, strict=True):
            session.items[position] = item

    def result_for(self, requirement_id: str) -> CheckResult:
        """Run (or finish) one requirement's check and return its result; reports it through the hook."""
        from . import engine
        from .results import CheckResult, Outcome

        requirement = next(r for r in self.plan.requirements if r.id == requirement_id)
        if requirement_id in self.plan.not_checked:
            result = CheckResult(requirement, Outcome.NOT_CHECKED, self.plan.not_checked[requirement_id])
        elif self.fatal is not None:
            result = CheckResult(requirement, Outcome.ERROR, self.fatal, evidence=self.fatal_evidence)
        elif requirement_id in self.early:
            result = self.early.pop(requirement_id)
        else:
            ctx = self._context()
            check = self.plan.checks[requirement_id]
            with self._quiet_tls():
                if requirement_id in self.pending:
                    pending = self.pending.pop(requirement_id)
                    result = engine.finish(pending, ctx, sleep=self._sleeper(requirement_id, pending.wait.reason))
                else:
                    started = engine.start(check, ctx)
                    if isinstance(started, engine.Pending):  # a timed check begin() did not start
                        started = engine.finish(started, ctx, sleep=self._sleeper(requirement_id, started.wait.reason))
                    result = started
            self._note_unreachable(result)
        self.results.append(result)
        self.config.hook.pytest_tokenconform_result(result=result)
        return result

    def _note_unreachable(self, result: CheckResult) -> None:
        """A target that went away ends the judging: every later check would only repeat the error."""
        from .results import Outcome

        if result.outcome is Outcome.ERROR and result.message.startswith("target unreachable"):
            self.fatal, self.fatal_evidence = result.message, result.evidence

    def _context(self) -> CheckContext:
        if self.ctx is None:  # begin() did not run (a check called outside the run loop)
            from .context import CheckContext

            self.ctx = CheckContext(self.plan.profile, self.plan.config)
            self.ctx.calibrate()
        return self.ctx

    def _sleeper(self, requirement_id: str, reason: str) -> Any:
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
            results=sorted(self.results, key=lambda r: order.get(r.id, len(order))),
            waited_s=self.waited_s,
        )
        self.config.hook.pytest_tokenconform_finished(run=self.run)


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")
