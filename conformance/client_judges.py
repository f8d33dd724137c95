"""How client-check judges the client requirements CLI-01..08 from one scenario's event log.

Each judge reads a :class:`~tokenconform.client_scenarios.ScenarioRun` and raises a
:class:`Verdict` (failed, or could not judge) or returns (passed). The mock records each request's
tokens wherever they travelled (Authorization header, JSON body, cookies), so one judge serves
every delivery; where the carrier matters (a refresh cookie goes where its Path sends it) the
judge says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .client_scenarios import LOGOUT_PATH, PROTECTED_PATH, REFRESH_PATH
from .results import Outcome

if TYPE_CHECKING:
    from tokenconform_server.mock import MockEvent

    from .client_scenarios import ScenarioRun

__all__ = ["JUDGES", "SESSION_ENDED", "Verdict", "path_matches"]

#: the exit status by which a client says "my session ended" (workload contract)
SESSION_ENDED = 3
#: slack for Retry-After judgements (clock granularity), seconds
RETRY_AFTER_SLACK = 0.05
#: the endpoints that act on a refresh token: refresh, and the reference's /logout, which takes
#: the refresh token when the access token has expired (RFC 6749 §1.5: both are the
#: authorization server's, not a resource server's)
TOKEN_ENDPOINTS = (REFRESH_PATH, LOGOUT_PATH)


class Verdict(Exception):
    """A requirement not passed in one scenario: failed, or could not be judged (error)."""

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
        parts.append(f"refresh={event['refresh']}" + (f" ({event['refresh_via']})" if event["refresh_via"] else ""))
    parts.append(f"-> {event['status'] if event['status'] is not None else 'dropped'}")
    if event["fault"]:
        parts.append(f"[injected {event['fault']}]")
    if event["issued_refresh"]:
        parts.append(f"(new refresh {event['issued_refresh']})")
    if event["note"]:
        parts.append(f"!! {event['note']}")
    return " ".join(parts)


def _fail(message: str, events: Sequence[MockEvent]) -> Verdict:
    return Verdict(Outcome.FAILED, message, [_line(e) for e in events])


def path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4 path-match: would a client send a cookie with ``cookie_path`` here?"""
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


def _refreshes(run: ScenarioRun) -> list[MockEvent]:
    return [e for e in run.events if e["path"] == REFRESH_PATH]


def _refused_refreshes(run: ScenarioRun) -> list[MockEvent]:
    return [e for e in _refreshes(run) if e["status"] in (400, 401)]


def _spends(event: MockEvent, refresh: str | None) -> bool:
    """Whether ``event`` presents the refresh token ``refresh`` where the server acts on it.

    The same token sent to a resource endpoint (a cookie with no Path, a body field) is not
    replayed by it, whatever the carrier: that request is CLI-06's failure, not CLI-03's or
    CLI-04's. Judging only the endpoints that spend a refresh token keeps each failure under the
    one requirement it breaks.
    """
    return event["path"] in TOKEN_ENDPOINTS and event["refresh"] is not None and event["refresh"] == refresh


def judge_single_flight(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-01: at most one refresh between two expiries."""
    if not run.triggered:
        raise Verdict(Outcome.ERROR, "the client never completed a round, so the access token was never expired")
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
    protected = [e for e in run.events if e["path"] == PROTECTED_PATH]
    limit = 2 * rounds * concurrency
    if len(protected) > limit:
        raise _fail(
            f"{len(protected)} requests to {PROTECTED_PATH} for {rounds}x{concurrency} calls (at most {limit})",
            protected[: 2 * concurrency + 2],
        )


def judge_no_refresh_loop(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-03: a refused refresh token is never presented again to an endpoint that takes one."""
    refused = _refused_refreshes(run)
    if not refused:
        raise Verdict(Outcome.ERROR, "the client never asked for the refresh that the scenario refuses")
    for first in refused:
        again = [e for e in run.events if _spends(e, first["refresh"]) and e["start"] > (first["end"] or 0)]
        if again:
            raise _fail(
                f"the refused refresh token {first['refresh']} was presented {len(again)} more times",
                [first, *again[:5]],
            )


def _rotation_known(run: ScenarioRun, rotation: MockEvent) -> int:
    """The tick after which the client surely held ``rotation``'s answer: the next trigger.

    The server answering is not the client reading. A concurrent call's refresh built before the
    answer was read may reach the server long after it (a client's connection pool queues it;
    even after another call already used the new tokens), and that is single-flight's failure,
    CLI-01. The trigger fires once a whole round of calls has succeeded, so a refresh token
    presented after it comes from what the client kept, not from what was in flight.
    """
    return min((tick for tick in run.triggered if tick > (rotation["end"] or 0)), default=1 << 62)


def judge_discards_old_token(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-04: a rotated refresh token is never presented again (to an endpoint that takes one)
    once the client held its rotation's answer: not in the body, not as the cookie the answer
    replaced."""
    if not any(e["status"] == 200 for e in _refreshes(run)):
        raise Verdict(Outcome.ERROR, "no refresh succeeded, so no refresh token was rotated")
    for rotation in (e for e in _refreshes(run) if e["status"] == 200):
        known = _rotation_known(run, rotation)
        later = [e for e in run.events if _spends(e, rotation["refresh"]) and e["start"] > known]
        if later:
            how = f" (in the {later[0]['refresh_via']})" if later[0]["refresh_via"] else ""
            raise _fail(
                f"refresh token {rotation['refresh']} was presented again after it had been rotated{how}",
                [rotation, *later[:4]],
            )


def judge_session_end(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-05: after a refused refresh, no request with the session's tokens; exit status 3.

    "The session's tokens" are any of them, cookies included: a client whose jar still holds
    the dead session's access cookie and sends it has not ended the session.
    """
    refused = _refused_refreshes(run)
    if not refused:
        raise Verdict(Outcome.ERROR, "the client never asked for the refresh that the scenario refuses")
    first = refused[0]
    session = first["session"]
    later = [
        e for e in run.events if e["start"] > (first["end"] or 0) and e["session"] == session and e["path"] != "/login"
    ]
    # Judged with one call in flight (the scenario's), so nothing of this session may follow the
    # refusal; under a wider run, a call already under way may still land once per other call.
    if len(later) > max(0, concurrency - 1):
        raise _fail(f"{len(later)} requests with the ended session's tokens after the refusal", [first, *later[:5]])
    if run.returncode != SESSION_ENDED:
        raise _fail(
            f"the client exited {run.returncode} after its session ended; the contract says {SESSION_ENDED}",
            [first],
        )


def _misplaced_refresh(event: MockEvent, run: ScenarioRun, issued: set[str]) -> bool:
    if event["path"] in TOKEN_ENDPOINTS:
        return False
    if event["access"] is not None and event["access"] in issued:
        return True  # a refresh token where the access token goes (bearer or the access cookie)
    if event["refresh"] is None:
        return False
    # A refresh cookie sent where its Path sends it is the server's choice of scope, not the
    # client's doing; anywhere else the client ignored the Path (or attached the cookie itself).
    scoped = run.refresh_cookie_path
    return not (event["refresh_via"] == "cookie" and scoped is not None and path_matches(event["path"], scoped))


def judge_refresh_token_placement(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-06: the refresh token only at the endpoints that take one (refresh, logout)."""
    issued = {e["issued_refresh"] for e in run.events if e["issued_refresh"]}
    wrong = [e for e in run.events if _misplaced_refresh(e, run, issued)]
    if wrong:
        paths = sorted({e["path"] for e in wrong})
        message = f"the refresh token was sent to {paths}"
        if run.refresh_cookie_path is not None and any(e["refresh_via"] == "cookie" for e in wrong):
            message += (
                f" in the refresh cookie, whose Path is {run.refresh_cookie_path}: the client does not honour the"
                " cookie's Path"
            )
        raise _fail(message, wrong[:5])


def judge_retry_after(run: ScenarioRun, rounds: int, concurrency: int) -> None:
    """CLI-07: no request to an endpoint before the Retry-After it answered has passed."""
    waited = [e for e in run.events if e["status"] in (429, 503) and e["fault"] == "status"]
    if not waited:
        raise Verdict(Outcome.ERROR, "the client never reached the refresh that the scenario answers with 503")
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
    if not any(e["path"] == PROTECTED_PATH and e["status"] == 200 for e in run.events):
        raise Verdict(Outcome.ERROR, "the client made no successful call")
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
