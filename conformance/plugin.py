"""The pytest11 plugin: runs the conformance suite inside pytest when its options are given.

PYTEST_DONT_REWRITE (no asserts here; and the CLI imports this module before pytest starts).

This module is imported by *every* pytest run in the environment (STYLE.md, "the pytest11
trap"), so its top level only defines the option names, the hook specs and small classes;
everything of the suite is imported inside the functions that need it, and nothing happens
unless ``--tokenconform-target`` or ``--tokenconform-profile`` is given (pytest-django does
nothing without settings, for the same reason).

Pytest glue only: the options, the hooks, item order. What a run does before its first request
is ``conformance/planning.py`` (shared with the CLI); probing, calibrating and judging each
requirement is :class:`tokenconform.suite_run.SuiteRun`, registered here as a plugin object when
the suite is asked for. At the end of the session the ``RunResult`` (redacted unless
``--tokenconform-show-secrets``) goes to ``pytest_tokenconform_finished`` (the ``tokenconform``
CLI's collector implements it) and to the report files the options name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .results import CheckResult, RunResult
    from .suite_run import SuiteRun

__all__ = [
    "OPT_CA_BUNDLE",
    "OPT_CONCURRENCY",
    "OPT_EXCLUDE",
    "OPT_EXPECTED_FAILURES",
    "OPT_HEADER",
    "OPT_HTML_REPORT",
    "OPT_INSECURE",
    "OPT_JSON_REPORT",
    "OPT_JUNIT_XML",
    "OPT_LEVEL",
    "OPT_MARKDOWN_REPORT",
    "OPT_MAX_WAIT",
    "OPT_ONLY",
    "OPT_PROFILE",
    "OPT_ROUNDS",
    "OPT_SHOW_SECRETS",
    "OPT_STRICT",
    "OPT_TARGET",
    "OPT_TIMEOUT",
    "OPT_TIMING",
    "active_run",
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
OPT_STRICT = "--tokenconform-strict"
OPT_EXPECTED_FAILURES = "--tokenconform-expected-failures"
OPT_SHOW_SECRETS = "--tokenconform-show-secrets"
OPT_JSON_REPORT = "--tokenconform-json-report"
OPT_JUNIT_XML = "--tokenconform-junit-xml"
OPT_MARKDOWN_REPORT = "--tokenconform-markdown-report"
OPT_HTML_REPORT = "--tokenconform-html-report"

#: report kind (planning.REPORTS) -> the option that writes it
REPORT_OPTIONS = {
    "json": OPT_JSON_REPORT,
    "junit": OPT_JUNIT_XML,
    "markdown": OPT_MARKDOWN_REPORT,
    "html": OPT_HTML_REPORT,
}

#: the module pytest collects, and the test function in it
SUITE_MODULE = "tokenconform.test_suite"
SUITE_FUNCTION = "test_requirement"

_RUN_KEY = pytest.StashKey["SuiteRun"]()
#: name under which the active SuiteRun is registered with pytest's plugin manager
_RUN_PLUGIN_NAME = "tokenconform-run"
#: these options' spelling in planning's error messages
_OPTION_NAMES = {
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
    "expected_failures": OPT_EXPECTED_FAILURES,
    **REPORT_OPTIONS,
}


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


# ---------------------------------------------------------------- hooks


class TokenconformHookSpecs:
    """Hooks the plugin calls while the suite runs; ``tokenconform run`` implements them."""

    @pytest.hookspec
    def pytest_tokenconform_result(self, result: CheckResult) -> None:
        """One requirement's result (redacted), as soon as it is known."""

    @pytest.hookspec
    def pytest_tokenconform_waiting(self, done: int, total: int, waiting_for: str, seconds_left: float) -> None:
        """Called every quarter second while the run sleeps until a token has expired."""

    @pytest.hookspec
    def pytest_tokenconform_finished(self, run: RunResult) -> None:
        """The whole run's results (redacted), once, at the end of the session."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(TokenconformHookSpecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from . import planning

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
        default=planning.DEFAULT_LEVEL,
        help="which failures fail: must (MUST only, default) or should (MUST and SHOULD)",
    )
    add(OPT_STRICT, action="store_true", default=False, help="declared MUST deviations count as failures")
    add(
        OPT_EXPECTED_FAILURES,
        metavar="FILE",
        default=None,
        help="TOML file of known failures ([[failure]] id, reason, flaky): listed failures pass, new ones and "
        "listed ones that now pass fail",
    )
    add(
        OPT_MAX_WAIT,
        metavar="SECONDS",
        type=float,
        default=planning.DEFAULT_MAX_WAIT,
        help=f"longest token-lifetime wait accepted; longer expiry checks skip (default {planning.DEFAULT_MAX_WAIT:g})",
    )
    add(
        OPT_TIMEOUT,
        metavar="SECONDS",
        type=float,
        default=planning.DEFAULT_TIMEOUT,
        help=f"timeout of each request (default {planning.DEFAULT_TIMEOUT:g})",
    )
    add(
        OPT_HEADER,
        metavar="NAME:VALUE",
        action="append",
        default=[],
        help="extra header on every request, e.g. an API gateway key (repeatable; not Authorization or Cookie)",
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
        default=planning.DEFAULT_CONCURRENCY,
        help=f"concurrent refreshes per race round (default {planning.DEFAULT_CONCURRENCY})",
    )
    add(
        OPT_ROUNDS,
        metavar="N",
        type=int,
        default=planning.DEFAULT_ROUNDS,
        help=f"race rounds (default {planning.DEFAULT_ROUNDS})",
    )
    add(OPT_JSON_REPORT, metavar="PATH", default=None, help="write the JSON report (spec/report.schema.json)")
    add(OPT_JUNIT_XML, metavar="PATH", default=None, help="write tokenconform's JUnit XML report")
    add(OPT_MARKDOWN_REPORT, metavar="PATH", default=None, help="write the Markdown report (a PR comment)")
    add(OPT_HTML_REPORT, metavar="PATH", default=None, help="write the self-contained HTML report")
    add(
        OPT_SHOW_SECRETS,
        action="store_true",
        default=False,
        help="do not redact passwords, tokens and cookie values from reports and output",
    )


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
    from .planning import build_plan
    from .suite_run import SuiteRun

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
            strict=config.getoption(_dest(OPT_STRICT)),
            expected_failures=config.getoption(_dest(OPT_EXPECTED_FAILURES)),
            show_secrets=config.getoption(_dest(OPT_SHOW_SECRETS)),
            reports={kind: config.getoption(_dest(option)) for kind, option in REPORT_OPTIONS.items()},
            option_names=_OPTION_NAMES,
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
    """Collect tokenconform/test_suite.py under ``--pyargs tokenconform`` even if python_files excludes it."""
    if active_run(parent.config) is None or file_path.name != "test_suite.py":
        return None
    if parent.session.isinitpath(file_path):
        return None  # an explicit path (or --pyargs tokenconform.test_suite) is collected by pytest itself
    import fnmatch

    patterns = parent.config.getini("python_files")
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns):
        return None  # the python plugin collects it already
    if not _is_suite_file(file_path):
        return None
    return _SuiteModule.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Any, parent: pytest.Collector) -> pytest.Module | None:
    """The suite module, imported by its installed name whichever way pytest reached its file."""
    if module_path.name != "test_suite.py" or not _is_suite_file(module_path):
        return None
    return _SuiteModule.from_parent(parent, path=module_path)


class _SuiteModule(pytest.Module):
    """tokenconform.test_suite, imported by name rather than from its path.

    Installed from a source tree, the package directory is ``conformance/`` while the package is
    ``tokenconform``: pytest's path-based import would name the file ``conformance.test_suite`` and
    import a second copy of every module (with an empty check registry) under that name.
    """

    def _getobj(self) -> Any:
        import importlib

        return importlib.import_module(SUITE_MODULE)


def _is_suite_file(file_path: Any) -> bool:
    from pathlib import Path

    from . import test_suite

    return Path(file_path).resolve() == Path(test_suite.__file__).resolve()
