"""The ``tokenconform`` command: argparse -> pytest argv -> ``pytest.main``; exit 0/1/2 from the results.

    tokenconform run [--target URL --profile NAME_OR_FILE] [options]   the conformance suite
    tokenconform baseline REPORT.json [-o FILE]                       an expected-failures file from a report
    tokenconform report A.json [B.json ...] --html OUT.html           the HTML matrix of several runs
    tokenconform serve [options]                                       the reference server
    tokenconform profile init [PATH] [--force] | profile check FILE_OR_NAME

``run`` validates everything it can before any request (``conformance/planning.py``: profile,
selection, report paths, the expected-failures file), probes the target once, then runs the suite
through an isolated ``pytest.main`` (``conformance/runner.py``) and prints the terminal report
itself. Without ``--target``, the reference server is started in-process (``conformance/embedded.py``).

Exit status: 0 no failure that counts, 1 a failure (or the ratchet disagrees), 2 could not judge
or bad usage, 130 interrupted. Every ``TokenconformError`` is caught once, in :func:`main`, and
printed as one line naming the key, file or request at fault, never a traceback (bottle ``_cli_error``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, planning
from .errors import TokenconformError

if TYPE_CHECKING:
    from .planning import Plan
    from .results import RunResult

__all__ = ["build_parser", "main"]

PROG = "tokenconform"

#: run's report options: (namespace attribute, report kind in planning.REPORTS)
_REPORTS = (("json_report", "json"), ("junit_xml", "junit"), ("markdown_report", "markdown"), ("html_report", "html"))
#: options a bare ``tokenconform`` understands before its command
_TOP_LEVEL = ("-h", "--help", "--version")


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
        "Exit status: 0 no failure that counts and no error; 1 a failure (with --expected-failures: a new "
        "failure, or a listed requirement that now passes); 2 could not judge or bad usage; 130 interrupted.",
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
        default=planning.DEFAULT_TIMEOUT,
        help="timeout of each request (default %(default)g)",
    )
    target.add_argument(
        "--header",
        metavar="NAME:VALUE",
        action="append",
        default=[],
        help="extra header on every request, e.g. an API gateway key (repeatable; not Authorization or Cookie, "
        "which the suite sets itself)",
    )
    target.add_argument("--insecure", action="store_true", help="do not verify the target's TLS certificate")
    target.add_argument("--ca-bundle", metavar="FILE", help="CA bundle to verify the target's TLS certificate")

    selection = run.add_argument_group("selection and verdict")
    selection.add_argument(
        "--level",
        choices=("must", "should"),
        default=planning.DEFAULT_LEVEL,
        help="failures that fail the run: must (default) or should (MUST and SHOULD)",
    )
    selection.add_argument(
        "--strict", action="store_true", help="declared deviations from MUST requirements count as failures"
    )
    selection.add_argument(
        "--expected-failures",
        metavar="FILE",
        help="TOML file of known failures ([[failure]] id, reason, flaky): exit 0 when exactly those fail, "
        "1 on a new failure or when a listed one now passes (write one with `tokenconform baseline`)",
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
        default=planning.DEFAULT_MAX_WAIT,
        help="longest token-lifetime wait accepted; longer expiry checks skip (default %(default)g)",
    )
    selection.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        default=planning.DEFAULT_CONCURRENCY,
        help="concurrent refreshes per race round (default %(default)d)",
    )
    selection.add_argument(
        "--rounds", metavar="N", type=int, default=planning.DEFAULT_ROUNDS, help="race rounds (default %(default)d)"
    )
    selection.add_argument(
        "--list",
        action="store_true",
        help="print the checks the profile enables and the requirements not checked; send nothing",
    )

    output = run.add_argument_group("output")
    output.add_argument("--json-report", metavar="PATH", help="write the JSON report (spec/report.schema.json)")
    output.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report")
    output.add_argument(
        "--markdown-report", metavar="PATH", help="write a Markdown report (a PR comment or CI job summary)"
    )
    output.add_argument("--html-report", metavar="PATH", help="write a self-contained HTML report")
    output.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the message, expected/actual and evidence of every result that did not pass",
    )
    output.add_argument(
        "--show-secrets",
        action="store_true",
        help="do not redact passwords, tokens and cookie values (reports are redacted by default)",
    )
    output.add_argument("--no-color", action="store_true", help="no ANSI colours (also: NO_COLOR=1)")
    run.set_defaults(handler=_run, command_parser=run)

    baseline = commands.add_parser(
        "baseline",
        help="write an expected-failures file from a JSON report",
        description="List the failures of a JSON report (tokenconform run --json-report) as an expected-failures "
        "file for tokenconform run --expected-failures.",
    )
    baseline.add_argument("report", metavar="REPORT.json", help="a JSON report of tokenconform run")
    baseline.add_argument(
        "-o", "--output", metavar="FILE", default="-", help="where to write it ('-' for stdout, the default)"
    )
    baseline.add_argument("--force", action="store_true", help="overwrite an existing file")
    baseline.set_defaults(handler=_baseline, command_parser=baseline)

    report = commands.add_parser(
        "report",
        help="render JSON reports of several runs as one HTML matrix",
        description="Render one or more JSON reports (tokenconform run --json-report) as a self-contained HTML page: "
        "a matrix of targets x requirements.",
    )
    report.add_argument("reports", metavar="REPORT.json", nargs="+", help="JSON reports, one per target")
    report.add_argument("--html", metavar="OUT.html", required=True, help="where to write the HTML page")
    report.add_argument("--title", default="tokenconform results", help="the page title (default %(default)s)")
    report.set_defaults(handler=_report, command_parser=report)

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
    init.set_defaults(handler=_profile_init, command_parser=init)
    check = actions.add_parser("check", help="validate a profile without sending any request")
    check.add_argument("profile", metavar="FILE_OR_NAME", help="a TOML file or a built-in profile name")
    check.set_defaults(handler=_profile_check, command_parser=check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tokenconform`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        # An unknown option before the command is named as such, not reported as a missing command.
        for arg in args:
            if not arg.startswith("-"):
                break
            if arg.split("=", 1)[0] not in _TOP_LEVEL:
                parser.error(f"unrecognized arguments: {arg}")
        namespace, rest = parser.parse_known_args(args)
        if namespace.command == "serve":
            from tokenconform_server.cli import main as serve

            return serve(rest)
        if namespace.command == "client-check":
            from .client_check import main as client_check

            return client_check(rest)
        if rest:  # the command's own usage, not the top level's
            command: argparse.ArgumentParser = getattr(namespace, "command_parser", parser)
            command.error(f"unrecognized arguments: {' '.join(rest)}")
    except SystemExit as exc:  # --help/--version (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[[argparse.Namespace], int] = namespace.handler
    try:
        return handler(namespace)
    except TokenconformError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:  # before the suite judged anything (during start-up or the probe)
        _error_line("interrupted; partial results: nothing was judged yet")
        from .results import EXIT_INTERRUPTED

        return EXIT_INTERRUPTED


def _error(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


# ---------------------------------------------------------------- profile, baseline, report


def _profile_init(namespace: argparse.Namespace) -> int:
    from . import profile_commands

    return profile_commands.init(namespace.path, force=namespace.force)


def _profile_check(namespace: argparse.Namespace) -> int:
    from . import profile_commands

    return profile_commands.check(namespace.profile)


def _baseline(namespace: argparse.Namespace) -> int:
    from . import report_commands

    return report_commands.baseline(namespace.report, namespace.output, force=namespace.force)


def _report(namespace: argparse.Namespace) -> int:
    from . import report_commands

    return report_commands.html(namespace.reports, namespace.html, title=namespace.title)


# ---------------------------------------------------------------- run

#: stands in for the embedded server's URL while the plan is validated, before the server starts
_EMBEDDED_PLACEHOLDER = "http://127.0.0.1"


def _run(namespace: argparse.Namespace) -> int:
    from .profile import BUILTIN_PROFILES
    from .runner import execute

    target: str | None = namespace.target
    embedded = planning.embedded_wanted(target, namespace.profile, listing=namespace.list)
    profile: str = namespace.profile or "reference"
    plan = _plan(namespace, target or _EMBEDDED_PLACEHOLDER, profile)
    if namespace.list:
        sys.stdout.write(planning.render_list(plan))
        return 0
    if namespace.show_secrets:
        print(f"{PROG}: warning: --show-secrets: output and reports contain passwords and full tokens; "
              "do not share them", file=sys.stderr)  # fmt: skip
    # pytest runs with a temporary rootdir: hand it an absolute profile path.
    profile_arg = profile if profile in BUILTIN_PROFILES else str(Path(profile).resolve())
    if not embedded:
        planning.probe_target(plan.config)
        _announce(plan, plan.config.target, embedded=False)
        run = execute(namespace, plan.config.target, profile_arg)
    else:
        from .embedded import ACCESS_TTL, REFRESH_TTL, SESSION_MAX_AGE, embedded_server

        with embedded_server() as embedded_target:
            _announce(
                plan,
                embedded_target.url,
                embedded=f"embedded reference server, token lifetimes {ACCESS_TTL} s / {REFRESH_TTL} s, "
                f"sessions capped at {SESSION_MAX_AGE} s",
            )
            run = execute(namespace, embedded_target.url, embedded_target.profile_path)
    return _finish(namespace, plan, run)


def _finish(namespace: argparse.Namespace, plan: Plan, run: RunResult) -> int:
    """Print what the run came to, write the reports, return the exit code."""
    from .reporting import terminal

    if run.interrupted:
        judged = sum(1 for r in run.results)
        _error_line(f"interrupted; partial results: {judged} of {len(plan.requirements)} requirements judged")
    elif run.fatal:
        _error(run.fatal)
        if namespace.verbose:
            for text in run.fatal_evidence:
                print(text, file=sys.stderr)
    else:
        sys.stdout.write(terminal.render(run, verbose=namespace.verbose, color=_color(namespace), width=_width()))
        sys.stdout.flush()
    planning.write_reports(run, plan)
    return run.exit_code()


def _error_line(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _plan(namespace: argparse.Namespace, target: str, profile: str) -> Plan:
    return planning.build_plan(
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
        strict=namespace.strict,
        expected_failures=namespace.expected_failures,
        show_secrets=namespace.show_secrets,
        reports={kind: getattr(namespace, attribute) for attribute, kind in _REPORTS},
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


def _color(namespace: argparse.Namespace) -> bool:
    return (
        not namespace.no_color
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
        and sys.stdout.isatty()
    )


def _width() -> int:
    """The terminal's width (COLUMNS wins), for wrapping reasons instead of cutting them."""
    return shutil.get_terminal_size(fallback=(100, 24)).columns


if __name__ == "__main__":
    sys.exit(main())
