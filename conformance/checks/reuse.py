"""Reuse detection: a replayed refresh token is refused and revokes its family, and only its family.

Every scenario plays two clients of one user on their own devices (own connection, own cookie
jar): the legitimate client and an attacker holding a stolen copy of a refresh token. A rejection
counts as revocation only while the token would otherwise still be valid (``require_unexpired``).
"""

from __future__ import annotations

from collections.abc import Generator

from .. import expect, preconditions
from ..context import EXPIRY_SLACK, CheckContext, DeviceGroup, Wait
from ..device import Device, Exchange, Tokens
from ..errors import CheckSkipped, DeviationDeclared, TargetError
from ..registry import requirement


def _require_detection(ctx: CheckContext) -> None:
    if not ctx.profile.policy.reuse_detection:
        raise DeviationDeclared(
            "the profile declares reuse_detection = false: a replayed refresh token does not revoke its family "
            "(RFC 9700 §4.14.2 revokes the active refresh token on reuse)"
        )


def _replay(ctx: CheckContext, attacker: Device, used: Tokens, via: str, *, who: str) -> Exchange:
    """Present the already exchanged refresh token of ``used`` again; it must be refused."""
    replay = attacker.refresh_exchange(used.refresh_token, via=via)
    ctx.require_unexpired(used.refresh_expiry, replay.sent_at, "the replayed refresh token")
    expect.rejected(
        replay,
        because=f"{who} replayed an already exchanged refresh token (presented by {via})",
        statuses=ctx.profile.policy.refresh_rejection_status,
    )
    return replay


def _past_grace(ctx: CheckContext, last_rotation: float, devices: DeviceGroup) -> Generator[Wait, None, None]:
    """With a declared retry grace window, wait it out before replaying: inside it a correct target
    may answer a replayed predecessor with its successor (REU-07 judges that), which is no reuse."""
    grace = ctx.profile.policy.concurrent_refresh_grace
    if grace:
        ctx.calibrate()
        for device in devices.made:
            device.close()  # hold no connection to the target through the wait (the device reconnects)
        yield ctx.wait_until(last_rotation + grace + EXPIRY_SLACK, f"waiting out the declared {grace} s grace window")


def _family_revoked(ctx: CheckContext, device: Device, active: Tokens, via: str, *, because: str) -> None:
    """The family's active refresh token is refused after the reuse (and not merely expired)."""
    probe = device.refresh_exchange(active.refresh_token, via=via)
    ctx.require_unexpired(active.refresh_expiry, probe.sent_at, "the family's active refresh token")
    expect.rejected(probe, because=because, statuses=ctx.profile.policy.refresh_rejection_status)


# RFC 9700 §4.14.2: "If a refresh token is compromised and subsequently used by both the attacker
# and the legitimate client, one of them will present an invalidated refresh token, which will
# inform the authorization server of the breach."
@requirement("REU-01")
def replayed_refresh_token_is_rejected(ctx: CheckContext) -> Generator[Wait, None, None]:
    """After R1 -> R2, R1 presented again by another client is rejected, by every declared presentation.

    With a declared retry grace window (policy.concurrent_refresh_grace), the replay comes after it.
    """
    with DeviceGroup(ctx) as devices:
        exchanged: list[tuple[str, Device, Tokens, Tokens]] = []
        for via in ctx.profile.refresh.present:
            client = devices.new(label="client")
            first = client.login()
            exchanged.append((via, client, first, client.refresh(first.refresh_token, via=via)))
        grace = ctx.profile.policy.concurrent_refresh_grace
        if grace:
            ctx.calibrate()
            last = max(second.exchange.received_at for _, _, _, second in exchanged)
            for _, client, _, _ in exchanged:
                client.close()  # hold no connection to the target through the wait (the device reconnects)
            yield ctx.wait_until(last + grace + EXPIRY_SLACK, f"waiting out the declared {grace} s grace window")
        for via, client, first, _ in exchanged:
            _replay(ctx, devices.new(client.user, label="attacker"), first, via, who="another client")


def _replaying_the_oldest_revokes_the_newest(
    ctx: CheckContext, *, rotations: int, because: str
) -> Generator[Wait, None, None]:
    """R1 -> ... -> R(1+rotations) by the client, an attacker replays R1, the newest must die.

    ``because`` may name ``{via}``, the presentation exercised (each declared one in turn).
    """
    _require_detection(ctx)
    with DeviceGroup(ctx) as devices:
        chains: list[tuple[str, Device, list[Tokens]]] = []
        for via in ctx.profile.refresh.present:
            client = devices.new(label="client")
            chain = [client.login()]
            for _ in range(rotations):
                chain.append(client.refresh(chain[-1].refresh_token, via=via))
            chains.append((via, client, chain))
        yield from _past_grace(ctx, max(c[-1].exchange.received_at for _, _, c in chains), devices)
        for via, client, chain in chains:
            _replay(ctx, devices.new(client.user, label="attacker"), chain[0], via, who="the attacker")
            _family_revoked(ctx, client, chain[-1], via, because=because.format(via=via))


# RFC 9700 §4.14.2: "The authorization server cannot determine which party submitted the invalid
# refresh token, but it will revoke the active refresh token. This stops the attack at the cost of
# forcing the legitimate client to obtain a fresh authorization grant."
@requirement("REU-02")
def reuse_revokes_family_after_legitimate_refresh(ctx: CheckContext) -> Generator[Wait, None, None]:
    """The client exchanges R1 for R2; an attacker replays R1; then R2 is refused too."""
    yield from _replaying_the_oldest_revokes_the_newest(
        ctx,
        rotations=1,
        because="after R1 was replayed (presented by {via}), the family was not revoked: "
        "the client's R2 still refreshes",
    )


# RFC 9700 §4.14.2: "The authorization server cannot determine which party submitted the invalid
# refresh token, but it will revoke the active refresh token. This stops the attack at the cost of
# forcing the legitimate client to obtain a fresh authorization grant."
@requirement("REU-03")
def reuse_revokes_family_after_attacker_refresh(ctx: CheckContext) -> Generator[Wait, None, None]:
    """An attacker exchanges a stolen R1 for R2; the client then presents R1; R2 is refused."""
    _require_detection(ctx)
    with DeviceGroup(ctx) as devices:
        thefts: list[tuple[str, Device, Device, Tokens, Tokens]] = []
        for via in ctx.profile.refresh.present:
            client = devices.new(label="client")
            first = client.login()
            attacker = devices.new(client.user, label="attacker")
            thefts.append((via, client, attacker, first, attacker.refresh(first.refresh_token, via=via)))
        yield from _past_grace(ctx, max(t[4].exchange.received_at for t in thefts), devices)
        for via, client, attacker, first, stolen in thefts:
            _replay(ctx, client, first, via, who="the legitimate client")
            _family_revoked(
                ctx,
                attacker,
                stolen,
                via,
                because=f"after the client presented R1 again (by {via}), the family was not revoked: "
                "the attacker's R2 still refreshes",
            )


# RFC 6819 §5.2.2.3: "Since the authorization server cannot determine whether the attacker or the
# legitimate client is trying to access, in case of such an access attempt the valid refresh token
# and the access authorization associated with it are both revoked."
@requirement("REU-04")
def reuse_revokes_family_access_tokens(ctx: CheckContext) -> Generator[Wait, None, None]:
    """After reuse detection, the family's access tokens (old and newest) are refused at once."""
    _require_detection(ctx)
    with DeviceGroup(ctx) as devices:
        client = devices.new(label="client")
        first = client.login()
        second = client.refresh(first.refresh_token)
        yield from _past_grace(ctx, second.exchange.received_at, devices)
        # Its premise is a detected reuse: a replay that is answered is REU-01's failure, not this one.
        replay = devices.new(client.user, label="attacker").refresh_exchange(
            first.refresh_token, via=ctx.profile.refresh.present[0]
        )
        if replay.status in ctx.profile.refresh.endpoint.success_status:
            raise CheckSkipped("the replayed refresh token was accepted (see REU-01), so no reuse was detected")
        probes: list[tuple[str, Tokens, Exchange]] = []
        for what, tokens in (("newest", second), ("first", first)):
            for via in ctx.profile.protected.present:
                probe = client.call_protected(tokens.access_token, via=via)
                ctx.require_unexpired(tokens.access_expiry, probe.sent_at, f"the {what} access token")
                probes.append((f"the family's {what} access token ({via})", tokens, probe))
        # Judge only if the refresh family was revoked: otherwise there was no detection to follow
        # (REU-02 reports that).
        family = client.refresh_exchange(second.refresh_token)
        if family.status in ctx.profile.refresh.endpoint.success_status:
            raise CheckSkipped("the replay did not revoke the refresh family (see REU-02), so no detection to judge")
        for what, _, probe in probes:
            expect.rejected(probe, because=f"{what} still opens the protected resource after reuse was detected")


# RFC 9700 §4.14.2: "The previous refresh token is invalidated, but information about the
# relationship is retained by the authorization server."
@requirement("REU-05")
def older_generation_reuse_revokes_family(ctx: CheckContext) -> Generator[Wait, None, None]:
    """After R1 -> R2 -> R3, R1 replayed is refused and R3 is revoked with it."""
    yield from _replaying_the_oldest_revokes_the_newest(
        ctx,
        rotations=2,
        because="after the two-generations-old R1 was replayed (presented by {via}), "
        "the family was not revoked: R3 still refreshes",
    )


# RFC 9700 §4.14.2: "This can enable an authorization server to efficiently determine the grant to
# which a refresh token belongs, and by extension, all refresh tokens that need to be revoked."
@requirement("REU-06")
def reuse_revocation_is_scoped_to_the_family(ctx: CheckContext) -> None:
    """Reuse in one session of a user leaves the same user's other session working.

    Its premise is reuse detection itself: where the replay is not refused or revokes nothing of
    its own family, REU-01/REU-02 judge that, and this check has no scope to judge (skipped).
    """
    if not ctx.profile.policy.reuse_detection:
        raise CheckSkipped(
            "the profile declares reuse_detection = false (REU-02 reports it), so there is no revocation whose scope "
            "could be judged"
        )
    with DeviceGroup(ctx) as devices:
        laptop = devices.new(label="laptop")
        phone = devices.new(laptop.user, label="phone")
        phone_tokens = phone.login()
        first = laptop.login()
        # The baseline: the phone's session must survive the laptop's login before the replay can
        # be blamed for ending it (a target with one refresh token per user ends it right there:
        # CON-03's defect, not a revocation scope).
        ctx.space_issuance(phone)
        baseline = phone.refresh_exchange(phone_tokens.refresh_token, via=ctx.profile.refresh.present[0])
        ctx.note_issuance(phone.user, baseline)
        if baseline.status not in ctx.profile.refresh.endpoint.success_status:
            raise CheckSkipped(
                f"the user's other session's refresh token was refused ({baseline.status}) after a second login, "
                "before any reuse (see CON-03), so the replay's scope cannot be judged"
            )
        phone_tokens = phone.tokens_from(baseline, what="refresh", presented=phone_tokens.refresh_token)
        # Its refreshed access token must work before the replay too (one that never did is
        # ROT-03's failure); if it does not, only the refresh token can show the scope.
        access_works = all(
            phone.call_protected(phone_tokens.access_token, via=where).ok for where in ctx.profile.protected.present
        )
        second = laptop.refresh(first.refresh_token)
        if second.refresh_token == first.refresh_token or not second.refresh_sources:
            raise CheckSkipped("refresh issued no new refresh token (see ROT-01), so there is no reuse to detect")
        via = ctx.profile.refresh.present[0]
        replay = devices.new(laptop.user, label="attacker").refresh_exchange(first.refresh_token, via=via)
        if replay.status in ctx.profile.refresh.endpoint.success_status:
            raise CheckSkipped("the replayed refresh token was accepted (see REU-01), so no reuse was detected")
        revoked = laptop.refresh_exchange(second.refresh_token, via=via)
        if revoked.status in ctx.profile.refresh.endpoint.success_status:
            raise CheckSkipped("the replay did not revoke its own family (see REU-02), so its scope cannot be judged")
        for where in ctx.profile.protected.present if access_works else ():
            still = phone.call_protected(phone_tokens.access_token, via=where)
            ctx.require_unexpired(phone_tokens.access_expiry, still.sent_at, "the other session's access token")
            expect.accepted(
                still, because=f"reuse in one session also ended the user's other session (its access token, {where})"
            )
        refreshed = phone.refresh_exchange(phone_tokens.refresh_token, via=via)
        ctx.require_unexpired(phone_tokens.refresh_expiry, refreshed.sent_at, "the other session's refresh token")
        expect.accepted(
            refreshed,
            because="reuse in one session also ended the user's other session (its refresh token)",
            statuses=ctx.profile.refresh.endpoint.success_status,
        )


# RFC 9700 §4.14.2: "The previous refresh token is invalidated, but information about the
# relationship is retained by the authorization server."
@requirement("REU-07", needs=(preconditions.grace_window,))
def grace_window_retry_never_branches(ctx: CheckContext) -> None:
    """Within the declared grace window, a retry of R1 after R1 -> R2 returns R2 itself or is refused."""
    grace = ctx.profile.policy.concurrent_refresh_grace
    if grace <= 0:
        raise CheckSkipped(
            "the profile declares no retry grace window (policy.concurrent_refresh_grace = 0); "
            "REU-01 holds replays to strict rotation"
        )
    with DeviceGroup(ctx) as devices:
        for via in ctx.profile.refresh.present:
            client = devices.new(label="client")
            first = client.login()
            second = client.refresh(first.refresh_token, via=via)
            retry = devices.new(client.user, label="retry").refresh_exchange(first.refresh_token, via=via)
            if retry.sent_at - second.exchange.received_at >= grace:
                raise TargetError(
                    f"the retry went out {retry.sent_at - second.exchange.received_at:.1f} s after the refresh, "
                    f"outside the declared {grace} s grace window; no verdict"
                )
            if retry.status not in ctx.profile.refresh.endpoint.success_status:
                expect.rejected(
                    retry,
                    because=f"a retry within the grace window (presented by {via}) got neither the successor "
                    "nor a refusal",
                    statuses=ctx.profile.policy.refresh_rejection_status,
                )
                continue
            again = client.tokens_from(retry, what="retried refresh", presented=first.refresh_token)
            expect.that(
                again.refresh_token == second.refresh_token,
                f"a retry of R1 within the {grace} s grace window (presented by {via}) returned another refresh token: "
                "a second branch of the family",
                expected="the same successor R2, or a refusal",
                actual="a refresh token different from R2",
                exchanges=[second.exchange, retry],
            )
