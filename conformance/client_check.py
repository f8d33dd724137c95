"""``tokenconform client-check -- COMMAND ...``: judge a client of the flow from the mock's event log.

For each scenario a fresh mock (``tokenconform_server.mock``, loopback, ephemeral port) is started
with one user and the chosen token delivery (``--delivery``: "body", the default, puts the tokens in
the JSON body; "cookie" in HttpOnly cookies only; "both" in both); the command runs with the mock's
URL and credentials in its environment (the *workload contract* below); the scenario's trigger
acts on the mock when the client reaches it (expire the access token after round 1, refuse the
refresh, revoke the family, answer 503 with Retry-After); then the client requirements (catalogue
category ``client``, CLI-NN) are judged from the events the mock recorded, with tokens counted
wherever they travelled: Authorization header, body field or cookie. Outcomes, reports and exit
status are those of ``tokenconform run``: 0 no failure at the chosen level, 1 a failure, 2 could
not judge.

The mock gives the refresh cookie Path=/refresh (the reference server's Path=/ would make a client
that honours a cookie's Path and one that ignores it look the same): a client that honours it
sends the refresh cookie nowhere else, and one that sends it to /profile fails CLI-06. A refresh
token counts as presented again (CLI-03, CLI-04) where it is spent, at /refresh or /logout; sent
anywhere else it is CLI-06's failure.

One defect, one failure: a client without single-flight refreshes once per concurrent 401, each
refresh built before any answer reached it. That is CLI-01's failure alone, so the scenarios that
judge what a client does once a refusal or a 503 reached it (CLI-03, CLI-05, CLI-07) run one call
at a time (TOKENCONFORM_CONCURRENCY=1), and CLI-04 counts a rotated refresh token only when it is
presented after the next round began, when no call of the earlier one can still be in flight.

Workload contract, in the command's environment:
    TOKENCONFORM_URL, TOKENCONFORM_USERNAME, TOKENCONFORM_PASSWORD, TOKENCONFORM_PROFILE,
    TOKENCONFORM_DELIVERY, TOKENCONFORM_PROTECTED_PATH, TOKENCONFORM_ROUNDS,
    TOKENCONFORM_CONCURRENCY, TOKENCONFORM_SCENARIO.
    The client logs in, then makes ROUNDS rounds of CONCURRENCY calls in flight at once to the
    protected path, one round after the other, and exits 0; or exits 3 once its session ended.
    TOKENCONFORM_PROFILE names a profile describing the mock (``--profile``, else ``reference``
    for body and both, else a profile file written for the run with tokens.*.cookie and
    present = ["cookie"], removed afterwards); TOKENCONFORM_DELIVERY is body, cookie or both.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from collections.abc import Callable, Sequence

from .catalog import Level, Requirement, load_catalog
from .client_judges import JUDGES, SESSION_ENDED, Verdict
from .client_scenarios import DELIVERIES, SCENARIOS, ScenarioRun, client_profile, run_scenario
from .results import CheckResult, Outcome, RunResult

__all__ = [
    "JUDGES",
    "SCENARIOS",
    "SESSION_ENDED",
    "ScenarioRun",
    "add_parser",
    "client_requirements",
    "main",
    "run_client_check",
]

PROG = "tokenconform client-check"
CATEGORY = "client"


# -------------------------------------------------------------------- running


def client_requirements() -> list[Requirement]:
    return [r for r in load_catalog().requirements if r.category == CATEGORY]


def run_client_check(
    command: Sequence[str],
    *,
    rounds: int = 3,
    concurrency: int = 4,
    timeout: float = 60.0,
    profile: str | None = None,
    delivery: str = "body",
    only: Sequence[str] = (),
    level: Level = Level.MUST,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run every scenario that judges a selected requirement against a mock with ``delivery``;
    one CheckResult per requirement. ``profile`` is what the client is told (see
    ``client_scenarios.client_profile`` for the default)."""
    if delivery not in DELIVERIES:
        raise ValueError(f"delivery must be one of {', '.join(DELIVERIES)}, not {delivery!r}")
    requirements = [r for r in client_requirements() if not only or r.id in only]
    selected = {r.id for r in requirements}
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    clock = time.monotonic()
    verdicts: dict[str, list[tuple[str, Verdict | None]]] = {r: [] for r in selected}
    with client_profile(delivery, profile) as told:
        # A profile written for the run is gone when the report is read: name what it described.
        reported = f"{told if told == profile or delivery != 'cookie' else 'client-check-cookie'} (delivery {delivery})"
        for scenario in SCENARIOS:
            judged = [r for r in scenario.judges if r in selected]
            if not judged:
                continue
            if progress is not None:
                progress(f"scenario {scenario.name}: {scenario.description}")
            in_flight = scenario.concurrency(concurrency)
            run = run_scenario(
                scenario,
                command,
                rounds=rounds,
                concurrency=in_flight,
                timeout=timeout,
                profile=told,
                delivery=delivery,
            )
            for requirement_id in judged:
                verdict = _judge(requirement_id, run, rounds, in_flight, timeout)
                verdicts[requirement_id].append((scenario.name, verdict))
    results = [_result(r, verdicts[r.id]) for r in requirements]
    return RunResult(
        target=shlex.join(command),
        profile=reported,
        started_at=started,
        duration_s=time.monotonic() - clock,
        level=level,
        results=results,
    )


def _judge(requirement_id: str, run: ScenarioRun, rounds: int, concurrency: int, timeout: float) -> Verdict | None:
    if not any(e["path"] == "/login" and e["status"] == 200 for e in run.events):
        tail = run.output.strip().splitlines()[-3:]
        return Verdict(
            Outcome.ERROR,
            f"the client never logged in (exit status {run.returncode})",
            [f"client output: {line}" for line in tail],
        )
    try:
        JUDGES[requirement_id](run, rounds, concurrency)
    except Verdict as verdict:
        if run.timed_out:
            verdict.evidence = (*verdict.evidence, f"the client was stopped after {timeout:g} s")
        return verdict
    return None


def _result(requirement: Requirement, verdicts: list[tuple[str, Verdict | None]]) -> CheckResult:
    for wanted in (Outcome.FAILED, Outcome.ERROR):
        for scenario, verdict in verdicts:
            if verdict is not None and verdict.outcome is wanted:
                return CheckResult(
                    requirement=requirement,
                    outcome=wanted,
                    message=f"[{scenario}] {verdict.message}",
                    evidence=verdict.evidence,
                )
    if not verdicts:
        return CheckResult(requirement=requirement, outcome=Outcome.NOT_CHECKED, message="no scenario judges it")
    return CheckResult(
        requirement=requirement,
        outcome=Outcome.PASSED,
        message="scenarios: " + ", ".join(name for name, _ in verdicts),
    )


# -------------------------------------------------------------------- the command


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``client-check`` on the ``tokenconform`` parser's subcommands."""
    parser = commands.add_parser(
        "client-check",
        help="judge a client of the flow against the mock server (client requirements CLI-NN)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build_arguments(parser)
    return parser


def build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="rounds of concurrent calls (default %(default)d)")
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight per round (default %(default)d)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per scenario (default %(default)g)")
    parser.add_argument(
        "--delivery",
        choices=DELIVERIES,
        default="body",
        help="where the mock puts the tokens: the JSON body (default), HttpOnly cookies only, or both",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="profile (name or file) passed to the client as TOKENCONFORM_PROFILE (default: reference,"
        " or for --delivery cookie a profile of the cookie-only mock written for the run)",
    )
    parser.add_argument("--only", nargs="+", default=[], metavar="ID", help="judge only these CLI-NN requirements")
    parser.add_argument("--level", choices=("must", "should"), default="must", help="failures that fail the run")
    parser.add_argument("--list", action="store_true", help="print the client requirements and scenarios; run nothing")
    parser.add_argument("--json-report", metavar="FILE", help="also write the JSON report")
    parser.add_argument("-v", "--verbose", action="store_true", help="evidence for passed requirements too")
    parser.add_argument("client", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...: the client to run")


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``client-check`` from parsed arguments; returns the exit status."""
    known = {r.id for r in client_requirements()}
    if args.list:
        print(_listing())
        return 0
    command = list(args.client)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print(f"{PROG}: error: give the client command after --, e.g. -- node app.js", file=sys.stderr)
        return 2
    only = [value.upper() for value in args.only]
    unknown = [value for value in only if value not in known]
    if unknown:
        print(
            f"{PROG}: error: --only {unknown[0]!r}: not a client requirement ({', '.join(sorted(known))})",
            file=sys.stderr,
        )
        return 2
    if args.rounds < 2 or args.concurrency < 2:
        print(f"{PROG}: error: --rounds and --concurrency must be at least 2", file=sys.stderr)
        return 2
    try:
        run = run_client_check(
            command,
            rounds=args.rounds,
            concurrency=args.concurrency,
            timeout=args.timeout,
            profile=args.profile,
            delivery=args.delivery,
            only=only,
            level=Level(args.level.upper()),
            progress=lambda line: print(f"{PROG}: {line}", file=sys.stderr, flush=True),
        )
    except FileNotFoundError as exc:
        print(f"{PROG}: error: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 2
    from .reporting import terminal

    print(terminal.render(run, verbose=args.verbose, color=False))
    if args.json_report:
        from .reporting import json as json_report

        with open(args.json_report, "w", encoding="utf-8") as fh:
            fh.write(json_report.render(run))
    return run.exit_code()


def _listing() -> str:
    lines = ["Client requirements (judged by client-check from the mock's event log):"]
    for requirement in client_requirements():
        scenarios = [s.name for s in SCENARIOS if requirement.id in s.judges]
        lines.append(f"  {requirement.id} {requirement.level.value:<6} {requirement.title}  [{', '.join(scenarios)}]")
    lines.append("Scenarios:")
    lines.extend(f"  {s.name}: {s.description}" for s in SCENARIOS)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tokenconform.client_check -- COMMAND``: the same as ``tokenconform client-check``."""
    # Raw: the docstring's paragraphs and the contract's indented block stay as written.
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    build_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
