"""Concurrency: racing requests never fork a refresh family, outlive a logout, or merge sessions.

Each racing request goes out on its own device (own connection, own cookie jar), created and
connected before a ``threading.Barrier`` releases them together. A race is probabilistic, so the
refresh races run ``ctx.config.rounds`` times, each on a fresh login. Verdicts are drawn from what
is alive afterwards, each token probed with its own fresh request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from .. import expect, preconditions
from ..context import CheckContext, DeviceGroup
from ..device import Device, Exchange, Tokens, User
from ..errors import CheckSkipped, RequirementFailed, TargetError
from ..registry import requirement

T = TypeVar("T")

#: Seconds a racer waits at the barrier for the others before the race is called off.
_BARRIER_TIMEOUT = 30.0


def _race(actions: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``actions`` in threads released together by a barrier; their results, in order.

    The first exception any of them raised is re-raised here, after every thread has finished.
    """
    barrier = threading.Barrier(len(actions), timeout=_BARRIER_TIMEOUT)
    results: list[T | None] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = actions[index]()
        except BaseException as exc:  # noqa: BLE001 - handed to the check's thread below
            barrier.abort()
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"tokenconform-racer-{i}") for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    return [r for r in results if r is not None]


def _connect(devices: Sequence[Device], tokens: Tokens) -> None:
    """Open each device's connection before the race, so the barrier releases requests, not handshakes."""
    for device in devices:
        device.call_protected(tokens.access_token)


def _no_server_error(exchanges: Sequence[Exchange], what: str) -> None:
    for exchange in exchanges:
        if exchange.status >= 500:
            # A request that failed on the server may still have committed a rotation we cannot see.
            raise TargetError(
                f"{what} answered {exchange.status}: whether it rotated the token cannot be told, so no verdict",
                evidence=[exchange.describe()],
            )


def _still_refreshes(ctx: CheckContext, devices: DeviceGroup, user: User, refresh_token: str) -> Exchange:
    """Present ``refresh_token`` from a fresh device; the exchange (success means alive)."""
    return devices.new(user, label="probe").refresh_exchange(refresh_token)


def _no_rotation(issued: Sequence[Tokens]) -> str:
    """Why a refresh issued no successor: its answer held no refresh token (RFC 6749 §6 allows
    that, and the presented one stays in use) or held the presented one again."""
    if all(not t.refresh_sources for t in issued):
        what = "answers with no refresh token, so the presented one stays in use"
    elif all(t.refresh_sources for t in issued):
        what = "answers with the presented refresh token"
    else:
        what = "answers with the presented refresh token or with none, which leaves it in use"
    return f"the refresh endpoint {what} (no rotation, see ROT-01): single use under concurrency has no premise"


# RFC 9700 §4.14.2: "The previous refresh token is invalidated, but information about the
# relationship is retained by the authorization server."
@requirement("CON-01")
def concurrent_refreshes_leave_one_live_successor(ctx: CheckContext) -> None:
    """N concurrent refreshes with one token leave at most one live successor, over several rounds.

    A target whose reuse detection then revokes the whole family (the losers presented a used
    token) leaves none, which is correct. With a declared grace window, several successes are
    allowed only if they all carry the same successor.
    """
    racers = max(2, ctx.config.concurrency)
    grace = ctx.profile.policy.concurrent_refresh_grace
    success = ctx.profile.refresh.endpoint.success_status
    presentations = ctx.profile.refresh.present
    for round_number in range(1, max(1, ctx.config.rounds) + 1):
        via = presentations[(round_number - 1) % len(presentations)]
        with DeviceGroup(ctx) as devices:
            owner = devices.new(label="owner")
            tokens = owner.login()
            clients = [devices.new(owner.user, label=f"racer-{i}") for i in range(racers)]
            _connect(clients, tokens)
            ctx.space_issuance(owner)  # a successor minted in the login's second could equal it (TOK-11)
            answers = _race([partial(client.refresh_exchange, tokens.refresh_token, via=via) for client in clients])
            _no_server_error(answers, "a concurrent refresh")
            winners = [a for a in answers if a.status in success]
            issued = [
                owner.tokens_from(answer, what="concurrent refresh", presented=tokens.refresh_token)
                for answer in winners
            ]
            successors: dict[str, Exchange] = {}
            for successor in issued:
                successors.setdefault(successor.refresh_token, successor.exchange)
            where = f"round {round_number} of {racers} concurrent refreshes (presented by {via})"
            if winners and set(successors) == {tokens.refresh_token}:
                raise CheckSkipped(_no_rotation(issued))
            if not grace:
                # RFC 6749 §10.4 / RFC 9700 §4.14.2: a rotated refresh token is single-use. N
                # successes minted N access tokens from one grant, whatever survives afterwards
                # (a "last write wins" store keeps one successor but delayed reuse detection).
                expect.that(
                    len(winners) <= 1,
                    f"{where}: {len(winners)} refreshes with the same refresh token succeeded",
                    expected="one success: a rotated refresh token is single-use (no grace window is declared)",
                    actual=f"{len(winners)} successes issuing {len(successors)} distinct refresh tokens",
                    exchanges=winners[:4],
                )
            else:
                expect.that(
                    len(successors) <= 1,
                    f"{where}: {len(winners)} succeeded with {len(successors)} different refresh tokens",
                    expected=f"every success within the declared {grace} s grace window carries the same successor",
                    actual=f"{len(successors)} distinct successors",
                    exchanges=list(successors.values())[:4],
                )
            alive = {
                token: probe
                for token, probe in ((t, _still_refreshes(ctx, devices, owner.user, t)) for t in successors)
                if probe.status in success
            }
            expect.that(
                len(alive) <= 1,
                f"{where}: {len(winners)} succeeded and {len(alive)} of their successors still refresh: "
                "the family forked into live branches",
                expected="at most one live successor",
                actual=f"{len(alive)} live successors out of {len(successors)} issued",
                exchanges=[successors[t] for t in list(alive)[:3]] + list(alive.values())[:3],
            )


def _logout_ends_without_a_race(ctx: CheckContext) -> bool:
    """A sequential logout, probed as CON-02 probes after its race: skip unless it ends the refresh token.

    What CON-02 looks for is a token the race let survive. When a logout with no race already
    leaves it alive, LGO-01 (or LGO-02) reports that, and a survivor after the race says nothing
    about the race. Returns whether the access token died too, so the race judges it only then.
    """
    spec = ctx.profile.logout
    assert spec is not None
    with DeviceGroup(ctx) as devices:
        owner = devices.new(label="baseline")
        tokens = owner.login()
        logout = owner.logout_exchange(tokens)
        _no_server_error([logout], "the logout with no race")
        if logout.status not in spec.endpoint.success_status:
            raise CheckSkipped(
                f"a logout with no race answered {logout.status}, so there is no ended session for a race to "
                "undo (LGO-01 judges logout)"
            )
        probe = _still_refreshes(ctx, devices, owner.user, tokens.refresh_token)
        ctx.require_unexpired(tokens.refresh_expiry, probe.sent_at, "the refresh token")
        try:
            expect.rejected(probe, because="", statuses=ctx.profile.policy.refresh_rejection_status)
        except RequirementFailed:
            raise CheckSkipped(
                f"a logout with no race leaves the refresh token working (answered {probe.status}; LGO-01 "
                f"reports it, logout token = {spec.token!r}), so a token alive after the race shows no race"
            ) from None
        if not ctx.profile.policy.access_token_revoked_at_logout:
            return False
        for way in ctx.profile.protected.present:
            probe = devices.new(owner.user, label="probe").call_protected(tokens.access_token, via=way)
            ctx.require_unexpired(tokens.access_expiry, probe.sent_at, "the access token")
            if not 400 <= probe.status < 500:
                return False  # LGO-02 reports it
        return True


# ASVS 5.0 V7.4.1: "Verify that when session termination is triggered (such as logout or
# expiration), the application disallows any further use of the session."
@requirement("CON-02", needs=(preconditions.logout,))
def logout_racing_refresh_leaves_no_live_token(ctx: CheckContext) -> None:
    """Logout and refresh of one session fired together: afterwards no refresh token from either works.

    Access tokens too, when the profile says they die at logout (policy.access_token_revoked_at_logout)
    and a logout with no race does kill them. Judged only on a target whose logout with no race
    ends the refresh token: otherwise LGO-01 reports the defect and no race is involved.
    """
    spec = ctx.profile.logout
    if spec is None:
        raise CheckSkipped("the profile declares no [logout] endpoint")
    access_dies = _logout_ends_without_a_race(ctx)
    success = ctx.profile.refresh.endpoint.success_status
    rejection = ctx.profile.policy.refresh_rejection_status
    presentations = ctx.profile.refresh.present
    judged = 0
    for round_number in range(1, max(1, ctx.config.rounds) + 1):
        via = presentations[(round_number - 1) % len(presentations)]
        with DeviceGroup(ctx) as devices:
            owner = devices.new(label="owner")
            tokens = owner.login()
            leaver = devices.new(owner.user, label="logout")
            refresher = devices.new(owner.user, label="refresh")
            _connect([leaver, refresher], tokens)
            ctx.space_issuance(owner)
            logout, refresh = _race(
                [
                    partial(leaver.logout_exchange, tokens),
                    partial(refresher.refresh_exchange, tokens.refresh_token, via=via),
                ]
            )
            _no_server_error([logout, refresh], "the racing logout or refresh")
            if logout.status not in spec.endpoint.success_status:
                # A logout refused because the refresh used its token first ended nothing, and the
                # client knows it: this round shows no race.
                continue
            if spec.semantics == "rfc7009" and refresh.status in success:
                # RFC 7009 §2.2 answers 200 for a token that is already invalid, so a success says
                # nothing about order: the revocation may have met a token the refresh had used up.
                # Only rounds where the revocation demonstrably came first are judged.
                continue
            judged += 1
            where = f"round {round_number}: after a logout raced a refresh (presented by {via})"
            issued = [tokens]
            if refresh.status in success:
                issued.insert(0, owner.tokens_from(refresh, what="racing refresh", presented=tokens.refresh_token))
            # The newest first: probing the used token first could revoke the newest as reuse. A
            # refresh that issued no refresh token left the login's in use: probed once, as the login's.
            refresh_tokens = {g.refresh_token: (g, "racing refresh" if g is not tokens else "login") for g in issued}
            for token, (generation, source) in refresh_tokens.items():
                probe = _still_refreshes(ctx, devices, owner.user, token)
                ctx.require_unexpired(generation.refresh_expiry, probe.sent_at, "the refresh token")
                expect.rejected(
                    probe, because=f"{where}, the refresh token from the {source} still works", statuses=rejection
                )
            if access_dies:
                for generation in issued:
                    for way in ctx.profile.protected.present:
                        probe = devices.new(owner.user, label="probe").call_protected(generation.access_token, via=way)
                        ctx.require_unexpired(generation.access_expiry, probe.sent_at, "the access token")
                        expect.rejected(probe, because=f"{where}, an access token still works ({way})")
    if not judged:
        raise CheckSkipped(
            f"in {ctx.config.rounds} rounds the logout never demonstrably won against the racing refresh, so no "
            "race was seen; run with more --rounds"
        )


class _Verdicts:
    """How many presentations of one kind of token were judged, and why the others were not."""

    def __init__(self) -> None:
        self.judged = 0
        self.unjudged: CheckSkipped | None = None

    def alive(self, ctx: CheckContext, expiry: float | None, at: float, what: str) -> bool:
        try:
            ctx.require_unexpired(expiry, at, what)
        except CheckSkipped as late:
            self.unjudged = late
            return False
        self.judged += 1
        return True


def _by_expiry(sessions: Sequence[tuple[Device, Tokens]], kind: str) -> list[tuple[Device, Tokens]]:
    """The soonest to expire first, so as many as possible are presented while alive."""

    def expiry(session: tuple[Device, Tokens]) -> tuple[bool, float]:
        value: float | None = getattr(session[1], f"{kind}_expiry")
        return (value is None, value or 0.0)

    return sorted(sessions, key=expiry)


def _present_access_tokens(
    ctx: CheckContext, sessions: Sequence[tuple[Device, Tokens]], count: int, verdicts: _Verdicts
) -> None:
    for client, tokens in _by_expiry(sessions, "access"):
        for way in ctx.profile.protected.present:
            probe = client.call_protected(tokens.access_token, via=way)
            if verdicts.alive(ctx, tokens.access_expiry, probe.sent_at, "the access token"):
                expect.accepted(
                    probe, because=f"the access token of one of {count} parallel sessions was refused ({way})"
                )


# ASVS 5.0 V7.1.2: "Verify that the documentation defines how many concurrent (parallel) sessions
# are allowed for one account as well as the intended behaviors and actions to be taken when the
# maximum number of active sessions is reached."
@requirement("CON-03")
def parallel_logins_create_independent_sessions(ctx: CheckContext) -> None:
    """N concurrent logins of one user each succeed with distinct tokens, and every one of them works.

    Tokens are presented after the other logins answered, so a login that ends the user's other
    sessions shows. Each is judged only while alive: slow logins (bcrypt serialises them) can
    outlast a short access lifetime, and then the expired access tokens alone go unjudged. The
    refresh tokens, with lifetimes of their own, are judged whatever became of the access tokens.
    """
    count = max(2, ctx.config.concurrency)
    success = ctx.profile.login.endpoint.success_status
    access = _Verdicts()

    def session(client: Device, answer: Exchange) -> tuple[Device, Tokens]:
        expect.accepted(answer, because=f"one of {count} concurrent logins of the same user failed", statuses=success)
        return client, client.tokens_from(answer, what="login")

    with DeviceGroup(ctx) as devices:
        user = ctx.new_user()
        probe_device = devices.new(user, label="login-0")
        ctx.space_issuance(probe_device)
        spaced = bool(ctx.identical_within_a_second)
        if spaced:
            # Same-second logins give identical tokens here, which TOK-11 reports. Whether each
            # login is a session of its own is judged on logins a second apart instead.
            count = 3
        clients = [probe_device, *(devices.new(user, label=f"login-{i}") for i in range(1, count))]
        sessions: list[tuple[Device, Tokens]] = []
        if spaced:
            for client in clients:
                ctx.space_issuance(client)
                answer = client.login_exchange()
                ctx.note_issuance(user, answer)
                _no_server_error([answer], "a login")
                sessions.append(session(client, answer))
                if len(sessions) > 1:
                    # Logins a second apart outlast a short access lifetime: each earlier session's
                    # access token is presented after every later login, while it lives.
                    _present_access_tokens(ctx, sessions, count, access)
        else:
            answers = _race([client.login_exchange for client in clients])
            _no_server_error(answers, "a concurrent login")
            sessions = [session(client, answer) for client, answer in zip(clients, answers, strict=True)]
        for kind in ("access", "refresh"):
            distinct = {getattr(tokens, f"{kind}_token") for _, tokens in sessions}
            expect.that(
                len(distinct) == count,
                f"{count} concurrent logins of one user returned only {len(distinct)} distinct {kind} tokens",
                expected=f"{count} distinct {kind} tokens (one session per login)",
                actual=f"{len(distinct)} distinct",
                exchanges=[tokens.exchange for _, tokens in sessions[:2]],
            )
        if not spaced:
            _present_access_tokens(ctx, sessions, count, access)
        refresh = _Verdicts()
        for number, (client, tokens) in enumerate(_by_expiry(sessions, "refresh")):
            via = ctx.profile.refresh.present[number % len(ctx.profile.refresh.present)]
            probe = client.refresh_exchange(tokens.refresh_token, via=via)
            if refresh.alive(ctx, tokens.refresh_expiry, probe.sent_at, "the refresh token"):
                expect.accepted(
                    probe,
                    because=f"the refresh token of one of {count} parallel sessions was refused (presented by {via})",
                    statuses=ctx.profile.refresh.endpoint.success_status,
                )
    if not refresh.judged and refresh.unjudged is not None:
        raise refresh.unjudged
    if not access.judged and access.unjudged is not None:
        raise CheckSkipped(
            f"the refresh tokens of the {count} sessions all work, but every access token reached its lifetime "
            "before it could be presented after the other logins, so whether each still opens its session was not "
            "judged; run against a deployment with longer access token lifetimes"
        )
