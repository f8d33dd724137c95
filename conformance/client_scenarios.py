"""What client-check does to a client: the mock each scenario starts, its trigger, the workload run.

Each :class:`Scenario` starts a fresh mock (``tokenconform_server.mock``) with the run's token
delivery, runs the client command against it under the workload contract (``client_check``'s
docstring), acts on the mock when the client reaches the scenario's trigger, and returns what
happened as a :class:`ScenarioRun` for ``client_judges`` to judge.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from .profile import parse_profile

if TYPE_CHECKING:
    from tokenconform_server.config import Settings
    from tokenconform_server.mock import MockApp, MockEvent

__all__ = [
    "DELIVERIES",
    "SCENARIOS",
    "Scenario",
    "ScenarioRun",
    "client_profile",
    "run_scenario",
]

#: where the mock puts the tokens it issues (the reference server's ``delivery`` setting)
DELIVERIES = ("body", "cookie", "both")
#: the reference API's paths, which the mock serves
PROTECTED_PATH = "/profile"
REFRESH_PATH = "/refresh"
LOGOUT_PATH = "/logout"
#: a client past this many requests in one scenario is stopped (a loop), and judged on its log
MAX_EVENTS = 400


@dataclass
class ScenarioRun:
    """What one scenario produced: the events, the command's exit status and output, the ticks at
    which the trigger acted, and how the mock handed out the tokens."""

    name: str
    #: the mock's token delivery: "body", "cookie" or "both"
    delivery: str = "body"
    #: the Path the mock gave the refresh cookie (None: no narrowing, the reference's Path=/)
    refresh_cookie_path: str | None = None
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
    #: calls in flight per round for this scenario (None: the run's --concurrency). One call at a
    #: time isolates what a client does once a refusal or a 503 reached it from what its other
    #: calls, sent before it did, were already doing: with concurrent calls, a client without
    #: single-flight refreshes once per call, which is CLI-01's failure and no loop, no ignored
    #: session end and no ignored Retry-After.
    calls_in_flight: int | None = None

    def concurrency(self, run_concurrency: int) -> int:
        return self.calls_in_flight or run_concurrency


def _every_round(action: Callable[[MockApp], None], *, once: bool) -> Callable[[MockApp, ScenarioRun, int, int], None]:
    """Trigger ``action`` each time the client has had ``concurrency`` more successful protected
    calls (the end of a round), or only after the first round when ``once``."""

    def arrange(mock: MockApp, run: ScenarioRun, rounds: int, concurrency: int) -> None:
        count = [0]
        lock = threading.Lock()

        def hook(event: MockEvent, app: MockApp) -> None:
            if event["path"] != PROTECTED_PATH or event["status"] != 200:
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
    mock.fail_next(REFRESH_PATH, status=503, retry_after=1)


def _refuse_everything(mock: MockApp) -> None:
    mock.fail_next(PROTECTED_PATH, status=401, count=100_000)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "concurrent-expiry",
        "the access token expires at the end of every round, so each next round's calls all get 401 at once",
        ("CLI-01", "CLI-04", "CLI-06"),
        _every_round(_expire_access, once=False),
    ),
    Scenario(
        "refresh-refused",
        "one call at a time; after round 1 the access and the refresh token expire: the refresh is refused",
        ("CLI-03", "CLI-05", "CLI-06"),
        _every_round(_refuse_refresh, once=True),
        calls_in_flight=1,
    ),
    Scenario(
        "reuse-detected",
        "one call at a time; after round 1 the access token expires and the family is revoked, as reuse"
        " detection does",
        ("CLI-03", "CLI-05", "CLI-06"),
        _every_round(_reuse, once=True),
        calls_in_flight=1,
    ),
    Scenario(
        "refresh-unavailable",
        "one call at a time; after round 1 the access token expires and the next refresh answers 503 with"
        " Retry-After: 1",
        ("CLI-07", "CLI-06"),
        _every_round(_unavailable, once=True),
        calls_in_flight=1,
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


# -------------------------------------------------------------------- the mock and the profile


def _settings(delivery: str) -> Settings:
    from tokenconform_server.mock_transports import mock_settings as settings_for_mock

    return settings_for_mock(delivery=delivery)


def _cookie_profile_text(settings: Settings) -> str:
    """The profile of the mock with ``delivery = "cookie"``, as a cookie-mode SPA sees it.

    The tokens arrive in ``HttpOnly`` cookies only, so the client cannot read either one: what
    it sends is the cookies themselves, the access cookie to the API and the refresh cookie to
    the refresh endpoint (the Path the mock gives it), never a bearer header or a body field.
    """
    from tokenconform_server import cookies

    access, refresh = cookies.access_cookie_name(settings), cookies.refresh_cookie_name(settings)
    return f"""\
# Written by tokenconform client-check for one run, removed after it.
name = "client-check-cookie"
description = "the client-check mock with tokens in HttpOnly cookies only (delivery = cookie)"

[login]
path = "/login"
username_field = "email"
password_field = "password"

[tokens]
format = "jwt"

[tokens.access]
cookie = "{access}"

[tokens.refresh]
cookie = "{refresh}"

[refresh]
path = "{REFRESH_PATH}"
present = ["cookie"]

[protected]
path = "{PROTECTED_PATH}"
method = "GET"
present = ["cookie"]

[logout]
path = "{LOGOUT_PATH}"
token = "access"
present = ["cookie"]

[policy]
delivery = "cookie"
"""


@contextlib.contextmanager
def client_profile(delivery: str, profile: str | None) -> Iterator[str]:
    """The TOKENCONFORM_PROFILE for a run: ``profile`` when given; else the built-in
    ``reference`` for delivery "body" (as before delivery was an option) and "both" (what the
    reference profile declares); else a temporary profile file for delivery "cookie", removed
    when the run ends."""
    if profile is not None:
        yield profile
        return
    if delivery != "cookie":
        yield "reference"
        return
    text = _cookie_profile_text(_settings(delivery))
    # Checked before any client sees it: a profile the client cannot load would look like its bug.
    parse_profile(tomllib.loads(text), source="client-check cookie profile")
    handle, path = tempfile.mkstemp(prefix="tokenconform-client-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(text)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# -------------------------------------------------------------------- one scenario


def run_scenario(
    scenario: Scenario,
    command: Sequence[str],
    *,
    rounds: int,
    concurrency: int,
    timeout: float,
    profile: str,
    delivery: str = "body",
) -> ScenarioRun:
    """Start a mock with ``delivery``, run ``command`` against it under ``scenario``, return what
    happened."""
    from tokenconform_server.mock_transports import MockServer

    # Narrowed to the refresh endpoint whatever the delivery: with the reference's Path=/, a
    # client that honours the cookie's Path and one that ignores it both send the refresh cookie
    # everywhere, and CLI-06 could not tell them apart.
    run = ScenarioRun(scenario.name, delivery=delivery, refresh_cookie_path=REFRESH_PATH)
    with MockServer(_settings(delivery), refresh_cookie_path=run.refresh_cookie_path) as server:
        scenario.arrange(server.mock, run, rounds, concurrency)
        env = dict(os.environ)
        env.update(
            {
                "TOKENCONFORM_URL": server.url,
                "TOKENCONFORM_USERNAME": server.username,
                "TOKENCONFORM_PASSWORD": server.password,
                "TOKENCONFORM_PROFILE": profile,
                "TOKENCONFORM_DELIVERY": delivery,
                "TOKENCONFORM_PROTECTED_PATH": PROTECTED_PATH,
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
