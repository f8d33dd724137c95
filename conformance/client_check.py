"""``tokenconform client-check -- COMMAND ...``: judge a client of the flow from the mock's event log.

For each scenario a fresh mock (``tokenconform_server.mock``, loopback, ephemeral port, tokens in the
JSON body) is started with one user; the command runs with the mock's URL and credentials in its
environment (the *workload contract* below); the scenario's trigger acts on the mock when the
client reaches it (expire the access token after round 1, refuse the refresh, revoke the family,
answer 503 with Retry-After); then the client requirements (catalogue category ``client``, CLI-NN)
are judged from the events the mock recorded. Outcomes, reports and exit status are those of
``tokenconform run``: 0 no failure at the chosen level, 1 a failure, 2 could not judge.

Workload contract, in the command's environment:
    TOKENCONFORM_URL, TOKENCONFORM_USERNAME, TOKENCONFORM_PASSWORD, TOKENCONFORM_PROFILE,
    TOKENCONFORM_PROTECTED_PATH, TOKENCONFORM_ROUNDS, TOKENCONFORM_CONCURRENCY, TOKENCONFORM_SCENARIO.
    The client logs in, then makes ROUNDS rounds of CONCURRENCY calls in flight at once to the
    protected path, one round after the other, and exits 0; or exits 3 once its session ended.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .catalog import Level, Requirement, load_catalog
from .results import CheckResult, Outcome, RunResult

if TYPE_CHECKING:
    from tokenconform_server.mock import MockApp, MockEvent

__all__ = ["SCENARIOS", "add_parser", "main", "run_client_check"]

PROG = "tokenconform client-check"
CATEGORY = "client"
#: the exit status by which a client says "my session ended" (workload contract)
SESSION_ENDED = 3
#: a client past this many requests in one scenario is stopped (a loop), and judged on its log
MAX_EVENTS = 400
#: slack for Retry-After judgements (clock granularity), seconds
RETRY_AFTER_SLACK = 0.05


@dataclass
class ScenarioRun:
    """What one scenario produced: the events, the command's exit status and output, the ticks at
    which the trigger acted."""

    name: str
    events: list[MockEvent] = field(default_factory=list)
    returncode: int | None = None
    output: str = ""
    #: mock event ``end`` ticks at which the trigger fired (e.g. access tokens expired)
    triggered: list[int] = field(default_factory=list)
    timed_out: bool = False
    stopped: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    #: requirement IDs judged from this scenario
    judges: tuple[str, ...]
    #: called with (mock, run, rounds, concurrency) before the command starts: installs hooks
    arrange: Callable[[MockApp, ScenarioRun, int, int], None]


def _every_round(action: Callable[[MockApp], None], *, once: bool) -> Callable[[MockApp, ScenarioRun, int, int], None]:
    """Trigger ``action`` each time the client has had ``concurrency`` more successful protected
    calls (the end of a round), or only after the first round when ``once``."""

    def arrange(mock: MockApp, run: ScenarioRun, rounds: int, concurrency: int) -> None:
        protected = _protected_path()
        count = [0]
        lock = threading.Lock()

        def hook(event: MockEvent, app: MockApp) -> None:
            if event["path"] != protected or event["status"] != 200:
                return
            with lock:
                count[0] += 1
                fire = count[0] % concurrency == 0 and not (once and run.triggered)
                if fire:
                    action(app)
                    run.triggered.append(event["end"] or 0)

        mock.on_response(hook)

    return arrange


def _after_login(action: Callable[[MockApp], None]) -> Callable[[MockApp, ScenarioRun, int, int], None]:
    def arrange(mock: MockApp, run: ScenarioRun, rounds: int, concurrency: int) -> None:
        def hook(event: MockEvent, app: MockApp) -> None:
            if event["path"] == "/login" and event["status"] == 200 and not run.triggered:
                action(app)
                run.triggered.append(event["end"] or 0)

        mock.on_response(hook)

    return arrange


def _nothing(mock: MockApp, run: ScenarioRun, rounds: int, concurrency: int) -> None:
    return None


def _protected_path() -> str:
    return "/profile"


def _expire_access(mock: MockApp) -> None:
    mock.expire("access")


def _refuse_refresh(mock: MockApp) -> None:
    mock.expire("access")
    mock.expire("refresh")


def _reuse(mock: MockApp) -> None:
    mock.expire("access")
    mock.revoke_family()


def _unavailable(mock: MockApp) -> None:
    mock.expire("access")
    mock.fail_next("/refresh", status=503, retry_after=1)


def _refuse_everything(mock: MockApp) -> None:
    mock.fail_next(_protected_path(), status=401, count=100_000)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "concurrent-expiry",
        "the access token expires at the end of every round, so each next round's calls all get 401 at once",
        ("CLI-01", "CLI-04", "CLI-06"),
        _every_round(_expire_access, once=False),
    ),
    Scenario(
        "refresh-refused",
        "after round 1 the access and the refresh token expire: the refresh is refused",
        ("CLI-03", "CLI-05", "CLI-06"),
        _every_round(_refuse_refresh, once=True),
    ),
    Scenario(
        "reuse-detected",
        "after round 1 the access token expires and the family is revoked, as reuse detection does",
        ("CLI-03", "CLI-05", "CLI-06"),
        _every_round(_reuse, once=True),
    ),
    Scenario(
        "refresh-unavailable",
        "after round 1 the access token expires and the next refresh answers 503 with Retry-After: 1",
        ("CLI-07", "CLI-06"),
        _every_round(_unavailable, once=True),
    ),
    Scenario(
        "always-401",
        "after login every protected call answers 401, refresh or not",
        ("CLI-02",),
        _after_login(_refuse_everything),
    ),
    Scenario(
        "steady",
        "nothing expires and nothing fails (access tokens live 15 minutes)",
        ("CLI-08", "CLI-06"),
        _nothing,
    ),
)


# -------------------------------------------------------------------- judging


class _Verdict(Exception):
    def __init__(self, outcome: Outcome, message: str, evidence: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.evidence = tuple(evidence)


def _line(event: MockEvent) -> str:
    parts = [f"#{event['seq']} {event['method']} {event['path']}"]
    if event["access"]:
        parts.append(f"access={event['access']}")
    if event["refresh"]:
        parts.append(f"refresh={event['refresh']}")
    parts.append(f"-> {event['status'] if event['status'] is not None else 'dropped'}")
    if event["fault"]:
        parts.append(f"[injected {event['fault']}]")
    if event["issued_refresh"]:
        parts.append(f"(new refresh {event['issued_refresh']})")
    if event["note"]:
        parts.append(f"!! {event['note']}")
    return " ".join(parts)


def _fail(message: str, events: Sequence[MockEvent]) -> _Verdict:
    return _Verdict(Outcome.FAILED, message, [_line(e) for e in events])


def _refreshes(run: ScenarioRun) -> list[MockEvent]:
    return [e for e in run.events if e["path"] == "/refresh"]


def judge_single_flight(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-01: at most one refresh between two expiries."""
    if not run.triggered:
        raise _Verdict(Outcome.ERROR, "the client never completed a round, so the access token was never expired")
    bounds = [*run.triggered, 1 << 62]
    for low, high in zip(bounds, bounds[1:], strict=False):
        window = [e for e in _refreshes(run) if low < e["start"] < high]
        if len(window) > 1:
            same = len({e["refresh"] for e in window}) < len(window)
            logout = [e for e in run.events if e["note"] or (e["start"] > low and e["status"] == 401)]
            tail = [e for e in logout if e not in window][:4]
            raise _fail(
                f"{len(window)} refreshes for one expiry of the access token"
                + (
                    " (the same refresh token presented more than once: a replay, the family is revoked)"
                    if same
                    else ""
                )
                + (f"; the client then exited {run.returncode}" if run.returncode is not None else ""),
                sorted([*window, *tail], key=lambda e: e["seq"]),
            )


def judge_retries(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-02: at most two requests per call to the protected resource."""
    protected = [e for e in run.events if e["path"] == _protected_path()]
    limit = 2 * rounds * concurrency
    if len(protected) > limit:
        raise _fail(
            f"{len(protected)} requests to {_protected_path()} for {rounds}x{concurrency} calls (at most {limit})",
            protected[: 2 * concurrency + 2],
        )


def _refused_refreshes(run: ScenarioRun) -> list[MockEvent]:
    return [e for e in _refreshes(run) if e["status"] in (400, 401)]


def judge_no_refresh_loop(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-03: a refused refresh token is never presented again."""
    refused = _refused_refreshes(run)
    if not refused:
        raise _Verdict(Outcome.ERROR, "the client never asked for the refresh that the scenario refuses")
    for first in refused:
        again = [e for e in run.events if e["refresh"] == first["refresh"] and e["start"] > (first["end"] or 0)]
        if again:
            raise _fail(
                f"the refused refresh token {first['refresh']} was presented {len(again)} more times",
                [first, *again[:5]],
            )


def judge_discards_old_token(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-04: a rotated refresh token is never presented after its rotation was answered."""
    if not any(e["status"] == 200 for e in _refreshes(run)):
        raise _Verdict(Outcome.ERROR, "no refresh succeeded, so no refresh token was rotated")
    for rotation in (e for e in _refreshes(run) if e["status"] == 200):
        later = [e for e in run.events if e["refresh"] == rotation["refresh"] and e["start"] > (rotation["end"] or 0)]
        if later:
            raise _fail(
                f"refresh token {rotation['refresh']} was presented again after it had been rotated",
                [rotation, *later[:4]],
            )


def judge_session_end(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-05: after a refused refresh, no request with the session's tokens; exit status 3."""
    refused = _refused_refreshes(run)
    if not refused:
        raise _Verdict(Outcome.ERROR, "the client never asked for the refresh that the scenario refuses")
    first = refused[0]
    session = first["session"]
    later = [
        e for e in run.events if e["start"] > (first["end"] or 0) and e["session"] == session and e["path"] != "/login"
    ]
    # A call already under way when the refusal came may still land once with the old access
    # token (a thread between its check and its send): at most one per concurrent call but the
    # one that refreshed. Anything more, or any further refresh, is a client that did not stop.
    refreshes = [e for e in later if e["path"] == "/refresh"]
    stragglers = len(later) - len(refreshes)
    if refreshes or stragglers > max(0, concurrency - 1):
        raise _fail(f"{len(later)} requests with the ended session's tokens after the refusal", [first, *later[:5]])
    if run.returncode != SESSION_ENDED:
        raise _fail(
            f"the client exited {run.returncode} after its session ended; the contract says {SESSION_ENDED}",
            [first],
        )


def judge_refresh_token_placement(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-06: the refresh token only at the refresh endpoint."""
    issued = {e["issued_refresh"] for e in run.events if e["issued_refresh"]}
    wrong = [
        e
        for e in run.events
        if e["path"] not in ("/refresh", "/logout") and (e["refresh"] is not None or e["access"] in issued)
    ]
    if wrong:
        raise _fail(f"the refresh token was sent to {sorted({e['path'] for e in wrong})}", wrong[:5])


def judge_retry_after(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-07: no request to an endpoint before the Retry-After it answered has passed."""
    waited = [e for e in run.events if e["status"] in (429, 503) and e["fault"] == "status"]
    if not waited:
        raise _Verdict(Outcome.ERROR, "the client never reached the refresh that the scenario answers with 503")
    for answer in waited:
        early = [
            e
            for e in run.events
            if e["path"] == answer["path"]
            and e["start"] > (answer["end"] or 0)
            and e["wall_start"] < (answer["wall_end"] or 0) + 1 - RETRY_AFTER_SLACK
        ]
        if early:
            gap = early[0]["wall_start"] - (answer["wall_end"] or 0)
            raise _fail(f"retried {answer['path']} {gap:.3f} s after a 503 with Retry-After: 1", [answer, *early[:3]])


def judge_no_storm(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-08: with nothing expiring, at most one refresh and never two at once."""
    refreshes = _refreshes(run)
    if not any(e["path"] == _protected_path() and e["status"] == 200 for e in run.events):
        raise _Verdict(Outcome.ERROR, "the client made no successful call")
    if len(refreshes) > 1:
        raise _fail(f"{len(refreshes)} refreshes while the access token was far from expiry", refreshes[:6])


JUDGES: dict[str, Callable[[ScenarioRun, int, int], None]] = {
    "CLI-01": judge_single_flight,
    "CLI-02": judge_retries,
    "CLI-03": judge_no_refresh_loop,
    "CLI-04": judge_discards_old_token,
    "CLI-05": judge_session_end,
    "CLI-06": judge_refresh_token_placement,
    "CLI-07": judge_retry_after,
    "CLI-08": judge_no_storm,
}


# -------------------------------------------------------------------- running


def client_requirements() -> list[Requirement]:
    return [r for r in load_catalog().requirements if r.category == CATEGORY]


def run_scenario(
    scenario: Scenario, command: Sequence[str], *, rounds: int, concurrency: int, timeout: float, profile: str
) -> ScenarioRun:
    """Start a mock, run ``command`` against it under ``scenario``, return what happened."""
    from tokenconform_server.mock_transports import MockServer, mock_settings

    run = ScenarioRun(scenario.name)
    with MockServer(mock_settings(delivery="body")) as server:
        scenario.arrange(server.mock, run, rounds, concurrency)
        env = dict(os.environ)
        env.update(
            {
                "TOKENCONFORM_URL": server.url,
                "TOKENCONFORM_USERNAME": server.username,
                "TOKENCONFORM_PASSWORD": server.password,
                "TOKENCONFORM_PROFILE": profile,
                "TOKENCONFORM_PROTECTED_PATH": _protected_path(),
                "TOKENCONFORM_ROUNDS": str(rounds),
                "TOKENCONFORM_CONCURRENCY": str(concurrency),
                "TOKENCONFORM_SCENARIO": scenario.name,
            }
        )
        process = subprocess.Popen(
            list(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

        def stop_loops(event: MockEvent, app: MockApp) -> None:
            if event["seq"] > MAX_EVENTS and process.poll() is None:
                run.stopped = True
                process.kill()

        server.mock.on_response(stop_loops)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            process.kill()
            output, _ = process.communicate()
        run.returncode = process.returncode
        run.output = output.decode("utf-8", "replace")
        run.events = server.events()
    return run


def run_client_check(
    command: Sequence[str],
    *,
    rounds: int = 3,
    concurrency: int = 4,
    timeout: float = 60.0,
    profile: str = "reference",
    only: Sequence[str] = (),
    level: Level = Level.MUST,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run every scenario that judges a selected requirement; one CheckResult per requirement."""
    requirements = [r for r in client_requirements() if not only or r.id in only]
    selected = {r.id for r in requirements}
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    clock = time.monotonic()
    verdicts: dict[str, list[tuple[str, _Verdict | None]]] = {r: [] for r in selected}
    for scenario in SCENARIOS:
        judged = [r for r in scenario.judges if r in selected]
        if not judged:
            continue
        if progress is not None:
            progress(f"scenario {scenario.name}: {scenario.description}")
        run = run_scenario(scenario, command, rounds=rounds, concurrency=concurrency, timeout=timeout, profile=profile)
        logged_in = any(e["path"] == "/login" and e["status"] == 200 for e in run.events)
        for requirement_id in judged:
            verdict: _Verdict | None
            if not logged_in:
                tail = run.output.strip().splitlines()[-3:]
                verdict = _Verdict(
                    Outcome.ERROR,
                    f"the client never logged in (exit status {run.returncode})",
                    [f"client output: {line}" for line in tail],
                )
            else:
                try:
                    JUDGES[requirement_id](run, rounds, concurrency)
                    verdict = None
                except _Verdict as caught:
                    verdict = caught
                if verdict is not None and run.timed_out:
                    verdict.evidence = (*verdict.evidence, f"the client was stopped after {timeout:g} s")
            verdicts[requirement_id].append((scenario.name, verdict))
    results = [_result(r, verdicts[r.id]) for r in requirements]
    return RunResult(
        target=shlex.join(command),
        profile=profile,
        started_at=started,
        duration_s=time.monotonic() - clock,
        level=level,
        results=results,
    )


def _result(requirement: Requirement, verdicts: list[tuple[str, _Verdict | None]]) -> CheckResult:
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
    parser.add_argument("--profile", default="reference", help="profile name passed to the client (default reference)")
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
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    build_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())
