"""The ``tokenconform`` command: argparse -> pytest argv -> ``pytest.main``; exit 0/1/2 from the results.

    tokenconform run [--target URL --profile NAME_OR_FILE] [options]   the conformance suite
    tokenconform serve [options]                                       the reference server
    tokenconform profile init [PATH] [--force] | profile check FILE_OR_NAME

``run`` validates everything it can before any request (profile, selection, report paths), probes
the target once, then runs ``conformance.test_suite`` through ``pytest.main`` isolated from the
user's pytest setup: no ini file, no conftest, no cache, no auto-loaded plugins, no
``PYTEST_ADDOPTS``. A collector plugin receives the ``RunResult``; pytest's own terminal output
is kept in a buffer (it is not the report), and the CLI prints the terminal report itself.
Without ``--target``, the reference server is started in-process (``conformance/embedded.py``).

Every ``TokenconformError`` is caught once, in :func:`main`, and printed as one line naming the
key, file or request at fault, with exit status 2 and never a traceback (bottle ``_cli_error``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import __version__
from . import plugin as _plugin
from .errors import TokenconformError, UsageError

if TYPE_CHECKING:
    from .plugin import Plan
    from .results import CheckResult, RunResult

__all__ = ["build_parser", "main"]

PROG = "tokenconform"

#: the CLI's spelling of the options the plugin's errors name
_OPTION_NAMES = {
    "target": "--target",
    "only": "--only",
    "exclude": "--exclude",
    "header": "--header",
    "ca_bundle": "--ca-bundle",
    "max_wait": "--max-wait",
    "timeout": "--timeout",
    "concurrency": "--concurrency",
    "rounds": "--rounds",
    "level": "--level",
}
#: report options and their renderers' modules (conformance.reporting.<name>.render)
_REPORTS = (
    ("json_report", "--json-report", "json"),
    ("junit_xml", "--junit-xml", "junit"),
    ("markdown_report", "--markdown-report", "markdown"),
)
#: environment variables through which a user's pytest setup would leak into our run
_PYTEST_ENVIRONMENT = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")
#: set while pytest runs: plugins installed in the environment (pytest-profiling, xdist, ...) stay out
_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Conformance suite and reference server for JWT access/refresh-token session APIs.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the conformance suite (against the embedded reference server without --target)",
        description="Run the conformance suite. Without --target, the reference server is started in-process "
        "(127.0.0.1, ephemeral port, 2 s / 6 s token lifetimes) and checked with the built-in reference profile. "
        "Exit status: 0 no failure at the chosen level and no error; 1 a failure; 2 could not judge.",
    )
    target = run.add_argument_group("target")
    target.add_argument("--target", metavar="URL", help="base URL of the API under test (needs --profile)")
    target.add_argument(
        "--profile",
        metavar="NAME_OR_FILE",
        help="built-in profile (reference, simplejwt, flask-jwt-extended, oauth2) or a TOML file "
        "(see `tokenconform profile init`)",
    )
    target.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=_plugin.DEFAULT_TIMEOUT,
        help="timeout of each request (default %(default)g)",
    )
    target.add_argument(
        "--header",
        metavar="NAME:VALUE",
        action="append",
        default=[],
        help="extra header on every request, e.g. an API gateway key (repeatable)",
    )
    target.add_argument("--insecure", action="store_true", help="do not verify the target's TLS certificate")
    target.add_argument("--ca-bundle", metavar="FILE", help="CA bundle to verify the target's TLS certificate")

    selection = run.add_argument_group("selection")
    selection.add_argument(
        "--level",
        choices=("must", "should"),
        default=_plugin.DEFAULT_LEVEL,
        help="failures that fail the run: must (default) or should (MUST and SHOULD)",
    )
    selection.add_argument(
        "--only",
        metavar="CATEGORY_OR_ID",
        nargs="+",
        action="extend",
        default=[],
        help="run only these categories or requirement IDs",
    )
    selection.add_argument(
        "--exclude",
        metavar="ID_OR_CATEGORY",
        action="append",
        default=[],
        help="leave out a requirement ID or category (repeatable)",
    )
    selection.add_argument("--timing", action="store_true", help="enable the opt-in statistical timing checks")
    selection.add_argument(
        "--max-wait",
        metavar="SECONDS",
        type=float,
        default=_plugin.DEFAULT_MAX_WAIT,
        help="longest token-lifetime wait accepted; longer expiry checks skip (default %(default)g)",
    )
    selection.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        default=_plugin.DEFAULT_CONCURRENCY,
        help="concurrent refreshes per race round (default %(default)d)",
    )
    selection.add_argument(
        "--rounds", metavar="N", type=int, default=_plugin.DEFAULT_ROUNDS, help="race rounds (default %(default)d)"
    )
    selection.add_argument(
        "--list",
        action="store_true",
        help="print the checks the profile enables and the requirements not checked; send nothing",
    )

    output = run.add_argument_group("output")
    output.add_argument("--json-report", metavar="PATH", help="write the JSON report (spec/report.schema.json)")
    output.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    output.add_argument("--markdown-report", metavar="PATH", help="write a Markdown report (for a CI job summary)")
    output.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the message, expected/actual and evidence of every result that did not pass",
    )
    output.add_argument("--no-color", action="store_true", help="no ANSI colours (also: NO_COLOR=1)")
    run.set_defaults(handler=_run)

    # add_help=False: "serve --help" goes through to the server's own parser.
    commands.add_parser("serve", help="run the reference server", add_help=False)
    # Parsed by conformance/client_check.py itself, like serve: "client-check -- COMMAND ...".
    commands.add_parser("client-check", help="judge a client of the flow against the mock server", add_help=False)

    profile = commands.add_parser("profile", help="write or validate a profile")
    actions = profile.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="write the commented profile template")
    init.add_argument(
        "path",
        nargs="?",
        default="tokenconform-profile.toml",
        metavar="PATH",
        help="where to write it ('-' for stdout; default %(default)s)",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(handler=_profile_init)
    check = actions.add_parser("check", help="validate a profile without sending any request")
    check.add_argument("profile", metavar="FILE_OR_NAME", help="a TOML file or a built-in profile name")
    check.set_defaults(handler=_profile_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tokenconform`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        namespace, rest = parser.parse_known_args(args)
        if namespace.command == "serve":
            from reference_server.cli import main as serve

            return serve(rest)
        if namespace.command == "client-check":
            from .client_check import main as client_check

            return client_check(rest)
        namespace = parser.parse_args(args)  # everything but serve: unknown arguments are errors
    except SystemExit as exc:  # --help/--version (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = namespace.handler
    try:
        return handler(namespace)
    except TokenconformError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 2


def _error(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


# ---------------------------------------------------------------- profile


def _profile_init(namespace: argparse.Namespace) -> int:
    from . import profile_commands

    return profile_commands.init(namespace.path, force=namespace.force)


def _profile_check(namespace: argparse.Namespace) -> int:
    from . import profile_commands

    return profile_commands.check(namespace.profile)


# ---------------------------------------------------------------- run

#: stands in for the embedded server's URL while the plan is validated, before the server starts
_EMBEDDED_PLACEHOLDER = "http://127.0.0.1"


def _run(namespace: argparse.Namespace) -> int:
    from .profile import BUILTIN_PROFILES

    target: str | None = namespace.target
    profile: str | None = namespace.profile
    if target is not None and profile is None:
        raise UsageError(
            f"--target needs --profile NAME_OR_FILE: a built-in profile ({', '.join(BUILTIN_PROFILES)}) or a TOML "
            "file (write one with `tokenconform profile init`)"
        )
    if target is None and profile not in (None, "reference") and not namespace.list:
        raise UsageError(
            "--profile needs --target URL: without --target the embedded reference server is checked with "
            "the built-in 'reference' profile"
        )
    profile = profile or "reference"
    plan = _plan(namespace, target or _EMBEDDED_PLACEHOLDER, profile)
    if namespace.list:
        sys.stdout.write(render_list(plan))
        return 0
    _check_report_paths(namespace)
    # pytest runs with a temporary rootdir: hand it an absolute profile path.
    profile_arg = profile if profile in BUILTIN_PROFILES else str(Path(profile).resolve())
    if target is not None:
        _plugin.probe_target(plan.config)
        _announce(plan, plan.config.target, embedded=False)
        run = _execute(namespace, plan.config.target, profile_arg)
    else:
        from .embedded import ACCESS_TTL, REFRESH_TTL, embedded_server

        with embedded_server() as url:
            _announce(
                plan, url, embedded=f"embedded reference server, token lifetimes {ACCESS_TTL} s / {REFRESH_TTL} s"
            )
            run = _execute(namespace, url, profile_arg)
    sys.stdout.write(_render_terminal(run, namespace))
    sys.stdout.flush()
    _write_reports(namespace, run)
    return run.exit_code()


def _plan(namespace: argparse.Namespace, target: str, profile: str) -> Plan:
    return _plugin.build_plan(
        target=target,
        profile=profile,
        level=namespace.level,
        only=namespace.only,
        exclude=namespace.exclude,
        max_wait=namespace.max_wait,
        timeout=namespace.timeout,
        headers=namespace.header,
        insecure=namespace.insecure,
        ca_bundle=namespace.ca_bundle,
        timing=namespace.timing,
        concurrency=namespace.concurrency,
        rounds=namespace.rounds,
        option_names=_OPTION_NAMES,
    )


def _announce(plan: Plan, url: str, *, embedded: str | bool) -> None:
    where = f"{url} ({embedded})" if embedded else url
    checks = _plural(len(plan.checks), "check")
    not_checked = _plural(len(plan.not_checked), "requirement")
    print(
        f"{PROG}: checking {where} with profile {plan.profile.name!r}: {checks}, {not_checked} not checked",
        file=sys.stderr,
        flush=True,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def render_list(plan: Plan) -> str:
    """``--list``: the checks to run, grouped by category, then the requirements not checked and why."""
    from .catalog import load_catalog

    titles = {c.name: c.title for c in load_catalog().categories}
    lines = [f"Checks enabled by profile {plan.profile.name!r} ({plan.profile.source}): {len(plan.checks)}"]
    category = ""
    for requirement in plan.requirements:
        if requirement.id not in plan.checks:
            continue
        if requirement.category != category:
            category = requirement.category
            lines.append(f"  {titles.get(category, category)}")
        timed = "  [waits on token lifetimes]" if plan.checks[requirement.id].timed else ""
        lines.append(f"    {requirement.id}  {requirement.level.value:<6}  {requirement.title}{timed}")
    lines.append("")
    lines.append(f"Not checked: {len(plan.not_checked)}")
    for requirement in plan.requirements:
        reason = plan.not_checked.get(requirement.id)
        if reason is not None:
            lines.append(f"    {requirement.id}  {requirement.level.value:<6}  {requirement.title} — {reason}")
    return "\n".join(lines) + "\n"


def _check_report_paths(namespace: argparse.Namespace) -> None:
    """A report that cannot be written is a usage error before the run, not a lost run after it."""
    for attribute, option, _ in _REPORTS:
        path = getattr(namespace, attribute)
        if path is None:
            continue
        parent = Path(path).resolve().parent
        if Path(path).is_dir():
            raise UsageError(f"{option} {path}: is a directory")
        if not parent.is_dir():
            raise UsageError(f"{option} {path}: directory {parent} does not exist")


def _write_reports(namespace: argparse.Namespace, run: RunResult) -> None:
    import importlib

    for attribute, option, module_name in _REPORTS:
        path = getattr(namespace, attribute)
        if path is None:
            continue
        module = importlib.import_module(f"conformance.reporting.{module_name}")
        text: str = module.render(run)
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def _render_terminal(run: RunResult, namespace: argparse.Namespace) -> str:
    from .reporting import terminal

    color = (
        not namespace.no_color
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
        and sys.stdout.isatty()
    )
    return terminal.render(run, verbose=namespace.verbose, color=color)


# ---------------------------------------------------------------- pytest


@dataclass
class _Collector:
    """The plugin object ``tokenconform run`` hands to pytest.main: gathers the run, shows progress."""

    progress: TextIO | None = None
    run: RunResult | None = None
    _shown: int = 0

    def pytest_tokenconform_result(self, result: CheckResult) -> None:
        self._clear()

    def pytest_tokenconform_waiting(self, done: int, total: int, waiting_for: str, seconds_left: float) -> None:
        if self.progress is None:
            return
        from .reporting.terminal import progress_line

        line = progress_line(done, total, waiting_for, seconds_left)
        self.progress.write("\r" + line)
        self.progress.flush()
        self._shown = max(self._shown, len(line))

    def pytest_tokenconform_finished(self, run: RunResult) -> None:
        self._clear()
        self.run = run

    def _clear(self) -> None:
        if self.progress is not None and self._shown:
            self.progress.write("\r" + " " * self._shown + "\r")
            self.progress.flush()
            self._shown = 0


def pytest_argv(namespace: argparse.Namespace, target: str, profile: str, workdir: str) -> list[str]:
    """The argv of the isolated pytest run (``workdir`` holds the empty ini and is the rootdir)."""
    ini = os.path.join(workdir, "pytest.ini")
    argv = [
        # Isolation from the user's pytest setup: our own empty ini and rootdir, no conftest, only
        # our plugin (auto-loading is off: _isolated_environment), no cache directory.
        "-c", ini,
        "--rootdir", workdir,
        "--noconftest",
        "-p", "conformance.plugin",
        "-p", "no:cacheprovider",
        "-p", "no:faulthandler",
        "-p", "no:pastebin",
        "-p", "no:doctest",
        "-p", "no:stepwise",
        # No assertion rewriting: the suite raises its outcomes, and this process has imported
        # conformance.plugin already (rewriting it would only warn).
        "--assert=plain",
        # pytest's own output goes to a buffer; keep it short and free of tracebacks and colour.
        "-q", "--tb=line", "--color=no",
        "--pyargs", _plugin.SUITE_MODULE,
        _plugin.OPT_TARGET, target,
        _plugin.OPT_PROFILE, profile,
        _plugin.OPT_LEVEL, namespace.level,
        _plugin.OPT_MAX_WAIT, repr(float(namespace.max_wait)),
        _plugin.OPT_TIMEOUT, repr(float(namespace.timeout)),
        _plugin.OPT_CONCURRENCY, str(namespace.concurrency),
        _plugin.OPT_ROUNDS, str(namespace.rounds),
    ]  # fmt: skip
    for header in namespace.header:
        argv += [_plugin.OPT_HEADER, header]
    for value in namespace.only:
        argv += [_plugin.OPT_ONLY, value]
    for value in namespace.exclude:
        argv += [_plugin.OPT_EXCLUDE, value]
    if namespace.insecure:
        argv.append(_plugin.OPT_INSECURE)
    if namespace.ca_bundle:
        argv += [_plugin.OPT_CA_BUNDLE, str(Path(namespace.ca_bundle).resolve())]
    if namespace.timing:
        argv.append(_plugin.OPT_TIMING)
    return argv


@contextlib.contextmanager
def _isolated_environment() -> Iterator[None]:
    """No user pytest options or plugins from the environment, and no auto-loaded pytest11 plugins.

    PYTEST_DISABLE_PLUGIN_AUTOLOAD rather than --disable-plugin-autoload, which needs pytest 8.4.
    """
    saved = {name: os.environ.pop(name) for name in (*_PYTEST_ENVIRONMENT, _AUTOLOAD) if name in os.environ}
    os.environ[_AUTOLOAD] = "1"
    try:
        yield
    finally:
        del os.environ[_AUTOLOAD]
        os.environ.update(saved)


@contextlib.contextmanager
def _progress_stream() -> Iterator[TextIO | None]:
    """A duplicate of stderr for the progress line (pytest captures fd 2 while a test runs), TTY only."""
    try:
        fileno = sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        yield None
        return
    if not os.isatty(fileno):
        yield None
        return
    with os.fdopen(os.dup(fileno), "w", encoding="utf-8", errors="replace") as stream:
        yield stream


def _execute(namespace: argparse.Namespace, target: str, profile: str) -> RunResult:
    """Run the suite through pytest.main and return the collector's RunResult."""
    import pytest

    with tempfile.TemporaryDirectory(prefix="tokenconform-pytest-") as workdir, _progress_stream() as progress:
        Path(workdir, "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        collector = _Collector(progress=progress)
        buffer = io.StringIO()
        argv = pytest_argv(namespace, target, profile, workdir)
        with _isolated_environment(), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            status = pytest.main(argv, plugins=[collector])
    if status == pytest.ExitCode.INTERRUPTED:
        if collector.run is not None and collector.run.results:
            sys.stdout.write(_render_terminal(collector.run, namespace))
        raise TokenconformError("interrupted; the report above is partial" if collector.run else "interrupted")
    if collector.run is None or status == pytest.ExitCode.USAGE_ERROR:
        raise TokenconformError(f"the suite did not run (pytest exit status {int(status)}): {_pytest_reason(buffer)}")
    return collector.run


def _pytest_reason(buffer: io.StringIO) -> str:
    """The most telling line of pytest's buffered output, for a one-line error."""
    lines = [line.strip() for line in buffer.getvalue().splitlines() if line.strip()]
    for prefix in ("ERROR: tokenconform: ", "ERROR: ", "INTERNALERROR> E ", "INTERNALERROR> ", "E   "):
        for line in reversed(lines):
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return lines[-1] if lines else "no output"


if __name__ == "__main__":
    sys.exit(main())
