"""Rotation: every refresh issues a new refresh token and uses up the one presented."""

from __future__ import annotations

from .. import expect
from ..context import CheckContext
from ..device import Tokens
from ..errors import CheckSkipped
from ..registry import requirement


# RFC 9700 §4.14.2: "Refresh token rotation: the authorization server issues a new refresh token
# with every access token refresh response."
@requirement("ROT-01")
def refresh_issues_new_refresh_token(ctx: CheckContext) -> None:
    """A refresh answers a new access token and a new refresh token, by every declared presentation."""
    for via in ctx.profile.refresh.present:
        device = ctx.new_device()
        first = device.login()
        second = device.refresh(first.refresh_token, via=via)
        expect.that(
            bool(second.refresh_sources),
            f"refresh (token presented by {via}) issued no new refresh token, so the old one stays in use",
            expected="a new refresh token in the response",
            actual="no refresh token where the profile says (tokens.refresh)",
            exchanges=[second.exchange],
        )
        expect.that(
            second.refresh_token != first.refresh_token,
            f"refresh (token presented by {via}) returned the same refresh token",
            expected="a refresh token different from the one presented",
            actual="the presented refresh token came back",
            exchanges=[second.exchange],
        )
        expect.that(
            second.access_token != first.access_token,
            f"refresh (token presented by {via}) returned the same access token",
            expected="a new access token",
            actual="the previous access token came back",
            exchanges=[second.exchange],
        )


# RFC 9700 §4.14.2: "...the previous refresh token is invalidated but information about the
# relationship is retained by the authorization server."
@requirement("ROT-02")
def presented_refresh_token_is_used_up(ctx: CheckContext) -> None:
    """After R1 -> R2, R1 is refused (checked on a fresh session, before any reuse side effect)."""
    for via in ctx.profile.refresh.present:
        device = ctx.new_device()
        first = device.login()
        device.refresh(first.refresh_token, via=via)
        replay = device.refresh_exchange(first.refresh_token, via=via)
        ctx.require_unexpired(first.refresh_expiry, replay.sent_at, "the used refresh token")
        if ctx.profile.policy.concurrent_refresh_grace and replay.ok:
            # Within a declared grace window a replay may succeed; REU-07 judges what it returns.
            continue
        expect.rejected(
            replay,
            because=f"a refresh token that was already exchanged (presented by {via}) was accepted again",
            statuses=ctx.profile.policy.refresh_rejection_status,
        )


# RFC 6749 §6: the authorization server "MAY issue a new refresh token, in which case the client
# MUST discard the old refresh token and replace it with the new refresh token."
@requirement("ROT-03")
def rotation_chain_keeps_working(ctx: CheckContext) -> None:
    """R1 -> R2 -> R3 -> R4, and each new access token opens the protected resource.

    Without rotation there is no R2 to follow: the refreshed access token is still judged, then
    the chain part skips (ROT-01 judges the missing rotation), rather than pass on R1 exchanged
    three times.
    """
    device = ctx.new_device()
    tokens = device.login()
    for step in range(1, 4):
        presented = tokens.refresh_token
        tokens = device.refresh(presented)
        for via in ctx.profile.protected.present:
            response = device.call_protected(tokens.access_token, via=via)
            expect.accepted(
                response,
                because=f"the access token from refresh #{step} was refused at the protected resource ({via})",
            )
        if not _rotated(tokens, presented):
            raise CheckSkipped(
                f"refresh #{step} issued no new refresh token (no rotation, see ROT-01), so there is no chain of "
                "successors to follow; its access token opened the protected resource"
            )


def _rotated(refreshed: Tokens, presented: str) -> bool:
    """Whether a refresh answered a new refresh token, not none (the presented one stands in,
    Device.tokens_from) nor the presented one handed back."""
    return bool(refreshed.refresh_sources) and refreshed.refresh_token != presented


_IDENTITY_CLAIMS = ("sub", "_id", "user_id", "uid", "sid", "session_id", "email", "username")
_RIGHTS_CLAIMS = ("scope", "scp", "roles", "role", "permissions", "groups", "admin", "is_admin")


# RFC 6749 §6: "If a new refresh token is issued, the refresh token scope MUST be identical to
# that of the refresh token included by the client in the request."
@requirement("ROT-04")
def rotation_keeps_identity_and_rights(ctx: CheckContext) -> None:
    """Refreshed tokens name the same user and session, and claim no new rights."""
    device = ctx.new_device()
    first = device.login()
    second = device.refresh(first.refresh_token)
    pairs = [("access", first.access_claims, second.access_claims)]
    # Without rotation the "refreshed" refresh token is R1 itself: comparing it with itself would
    # judge nothing (ROT-01 reports the missing rotation); the access token is still compared.
    if _rotated(second, first.refresh_token):
        pairs.append(("refresh", first.refresh_claims, second.refresh_claims))
    for kind, before, after in pairs:
        if before is None or after is None:
            continue  # opaque tokens: identity is checked through the protected resource below
        for claim in _IDENTITY_CLAIMS:
            if claim in before:
                expect.that(
                    after.get(claim) == before[claim],
                    f"the refreshed {kind} token names another {claim}",
                    expected=f"{claim} = {before[claim]!r}",
                    actual=f"{claim} = {after.get(claim)!r}",
                    exchanges=[second.exchange],
                )
        for claim in _RIGHTS_CLAIMS:
            expect.that(
                after.get(claim) == before.get(claim),
                f"the refreshed {kind} token changed its {claim} claim",
                expected=f"{claim} = {before.get(claim)!r}",
                actual=f"{claim} = {after.get(claim)!r}",
                exchanges=[second.exchange],
            )
    original = device.call_protected(first.access_token)
    refreshed = device.call_protected(second.access_token)
    expect.accepted(refreshed, because="the refreshed access token was refused")
    if original.ok and original.json is not None and refreshed.json is not None:
        expect.that(
            original.json == refreshed.json,
            "the protected resource shows different data for the refreshed access token",
            expected=original.text[:200],
            actual=refreshed.text[:200],
            exchanges=[original, refreshed],
        )


# RFC 6749 §5.1: "The authorization server MUST include the HTTP "Cache-Control" response header
# field [RFC2616] with a value of "no-store" in any response containing tokens, credentials, or
# other sensitive information"
@requirement("ROT-05")
def token_responses_are_not_cached(ctx: CheckContext) -> None:
    """Login and refresh responses carry Cache-Control: no-store."""
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    for what, exchange in (("login", login.exchange), ("refresh", refreshed.exchange)):
        directives = {d.strip().lower() for d in (exchange.header("cache-control") or "").split(",")}
        expect.that(
            "no-store" in directives,
            f"the {what} response, which carries tokens, may be cached",
            expected="Cache-Control: no-store",
            actual=f"Cache-Control: {exchange.header('cache-control') or '(absent)'}",
            exchanges=[exchange],
        )
