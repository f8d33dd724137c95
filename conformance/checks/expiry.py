"""Expiry: tokens carry short lifetimes, die at their exp, and the server's clock can be trusted.

The waiting checks are generators: they log in, yield one ``ctx.wait_until`` and probe after the
deadline, so the engine overlaps every TTL wait of the run. A rejection only counts once the token
was shown to work before its exp, and a probe after exp presents the token by every declared way.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .. import expect, preconditions
from ..context import EXPIRY_SLACK, CheckContext, Wait
from ..device import Device, Exchange, Tokens
from ..errors import CalibrationError, CheckSkipped, DeviationDeclared
from ..registry import requirement

#: RFC 6750 §5.3's ceiling for a bearer token's life, seconds.
_ONE_HOUR = 3600
#: EXP-03 keeps watching a still-accepted token this long past the declared leeway before it
#: calls the token one that never expires (EXP-04 judges the leeway itself).
_NEVER_EXPIRES_MARGIN = 5.0
#: EXP-02 spaces its rotations so a sliding exp without a cap has time to move past the cap.
_ROTATION_SPACING = 3.0
#: Whole-second claims computed from different clock readings may differ by one second.
_ROUNDING = 1.0
#: EXP-08's bound on |iat - Date| and |iat - our clock|, from the catalogue statement.
_MAX_CLOCK_DISAGREEMENT = 30.0


def _number(claims: dict[str, Any] | None, name: str) -> float | None:
    value = (claims or {}).get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _lifetime_end(tokens: Tokens, kind: str, what: str) -> float:
    """When the token stops working (server epoch): its exp, else expires_in or the configured TTL.

    Opaque tokens are legitimate; their expiry is judged from what the response or the profile says.
    """
    expiry = tokens.access_expiry if kind == "access" else tokens.refresh_expiry
    if expiry is None:
        raise CheckSkipped(
            f"the {what} has no readable exp and the response no expires_in, so its expiry cannot be timed: "
            f"declare policy.{kind}_ttl (the lifetime the deployment is configured with)"
        )
    return expiry


def _exp(claims: dict[str, Any] | None, what: str) -> float:
    """The token's exp, or a skip: an opaque token's lifetime cannot be read (TOK-13 judges that)."""
    exp = _number(claims, "exp")
    if exp is None:
        raise CheckSkipped(
            f"the {what} carries no readable exp claim (TOK-13 judges that), so its expiry cannot be timed"
        )
    return exp


def _require_working(device: Device, tokens: Tokens) -> None:
    """The fresh access token opens the protected resource by every declared way (the oracle)."""
    for via in device.profile.protected.present:
        before = device.call_protected(tokens.access_token, via=via)
        if not before.ok:
            raise CalibrationError(
                f"a fresh access token presented by {via} was refused ({before.status}) before its exp, "
                "so a rejection after exp would prove nothing",
                evidence=[before.describe()],
            )


def _seconds_after_exp(ctx: CheckContext, exchange: Exchange, exp: float) -> float:
    """How long after ``exp`` (server time) the request was sent."""
    return exchange.sent_at + (ctx.skew or 0.0) - exp


def _expired_access_token_probe(
    ctx: CheckContext, allowance: float, what: str
) -> Generator[Wait, None, tuple[Device, Tokens, float, bool]]:
    """Log in, show the access token works, wait past exp + ``allowance`` and return to probe it.

    Returns (device, tokens, exp, decisive). The probe comes at exp + ``allowance`` (after the
    measured skew and EXPIRY_SLACK) when --max-wait allows; a token still accepted then breaks the
    rule. Otherwise it comes right after exp and only a rejection is decisive (a token refused
    then is refused later too). One probe instead of polling: the engine finishes timed checks one
    after another, so a probe may come late, and a late probe still gives the same verdict.
    """
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    exp = _lifetime_end(tokens, "access", "access token")
    _require_working(device, tokens)
    expired = ctx.expiry_deadline(exp)
    decisive = expired + allowance - ctx.clock() <= ctx.config.max_wait
    device.close()  # hold no connection to the target through the wait (the device reconnects)
    yield ctx.wait_until(expired + allowance if decisive else expired, what)
    return device, tokens, exp, decisive


def _accepting_presentations(ctx: CheckContext, device: Device, token: str) -> list[Exchange]:
    """Present ``token`` by every declared way (a defect often hides in one); the ones that accepted."""
    accepted = []
    for via in ctx.profile.protected.present:
        exchange = device.call_protected(token, via=via)
        if exchange.ok:
            accepted.append(exchange)
        else:
            expect.rejected(exchange, because=f"the expired access token ({via}) got a server error")
    return accepted


def _ways(exchanges: list[Exchange]) -> str:
    return ", ".join(e.presented.split(" ", 1)[0] for e in exchanges)


# RFC 6750 §5.3: "Token servers SHOULD issue short-lived (one hour or less) bearer tokens,
# particularly when issuing tokens to clients that run within a web browser or other environments
# where information leakage may occur."
@requirement("EXP-01")
def access_tokens_are_short_lived(ctx: CheckContext) -> None:
    """Access tokens from login and from refresh live at most one hour and at most max_access_ttl."""
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    limit = min(_ONE_HOUR, ctx.profile.policy.max_access_ttl)
    for what, tokens in (("login", login), ("refresh", refreshed)):
        claims = tokens.access_claims
        exp = _lifetime_end(tokens, "access", f"access token from {what}")
        # Without iat the lifetime counts from when the response left the server.
        iat = _number(claims, "iat")
        issued = iat if iat is not None else tokens.exchange.received_at + (ctx.skew or 0.0)
        lifetime = exp - issued
        expect.that(
            lifetime <= limit + _ROUNDING,
            f"the access token from {what} lives {lifetime:.0f} s",
            expected=f"exp - iat <= {limit} s (one hour, and policy.max_access_ttl)",
            actual=f"exp - iat = {lifetime:.0f} s",
            exchanges=[tokens.exchange],
        )


# ASVS 5.0 V10.4.8: "Verify that refresh tokens have an absolute expiration, including if sliding
# refresh token expiration is applied."
@requirement("EXP-02")
def refresh_tokens_have_an_absolute_lifetime(ctx: CheckContext) -> Generator[Wait, None, None]:
    """A rotation chain kept alive does not outlive the session's absolute lifetime.

    The cap is policy.session_max_age from the first login or, when the profile does not declare
    one, the first refresh token's own lifetime. The chain is rotated late in each token's life
    (so a sliding lifetime reaches past the cap) and the newest token is presented after the cap:
    a refresh then is a session that never ends. When the cap is beyond --max-wait, the rotated
    tokens' exp claims are judged instead.
    """
    declared = ctx.profile.policy.session_max_age
    if declared == 0:
        raise DeviationDeclared(
            "the profile declares policy.session_max_age = 0: sessions have no absolute lifetime, which ASVS 5.0 "
            "V10.4.8 requires even with sliding refresh-token expiry"
        )
    ctx.calibrate()
    device = ctx.new_device()
    login = device.login()
    skew = ctx.skew or 0.0
    if declared is None:
        if login.refresh_expiry is None:
            raise CheckSkipped(
                "the refresh token's lifetime is unknown (no exp, no expires_in) and the profile declares no "
                "policy.session_max_age: declare the session cap, or policy.refresh_ttl"
            )
        cap = login.refresh_expiry
        basis = "the first refresh token's lifetime (the profile declares no policy.session_max_age)"
    else:
        issued = _number(login.refresh_claims, "iat") or login.exchange.sent_at + skew
        cap = issued + declared
        basis = f"policy.session_max_age = {declared} s from the first login"
    probe_at = cap - skew + EXPIRY_SLACK
    if probe_at - ctx.clock() > ctx.config.max_wait:
        yield from _session_cap_from_claims(ctx, device, login, cap, basis)
        return
    chain = [login]
    while True:
        latest = chain[-1]
        expiry = latest.refresh_expiry
        if expiry is None:
            raise CheckSkipped(
                "a rotated refresh token's lifetime is unknown (no exp, no expires_in): set policy.refresh_ttl "
                "so the chain can be kept alive up to the session cap"
            )
        issued_local = latest.exchange.sent_at
        expires_local = expiry - skew
        # Rotate at 60% of the token's life: late enough that a sliding lifetime reaches well past
        # the cap, early enough that a loaded machine still lands before exp.
        rotate_at = issued_local + 0.6 * (expires_local - issued_local)
        capped = len(chain) > 1 and expiry <= cap + _ROUNDING
        if capped or rotate_at >= probe_at or expires_local >= probe_at + EXPIRY_SLACK:
            break  # the newest token ends by the cap, or lives well past the probe: the probe decides
        device.close()
        yield ctx.wait_until(rotate_at, "keeping the refresh chain alive towards the session cap")
        answer = device.refresh_exchange(latest.refresh_token)
        if answer.status not in ctx.profile.refresh.endpoint.success_status:
            # Refused before the cap: the session did not outlive it, unless the rotation simply
            # came too late for the token it presented (then there is no verdict).
            ctx.require_unexpired(expiry, answer.sent_at, "the refresh token rotated to keep the chain alive")
            return
        chain.append(device.tokens_from(answer, what="refresh", presented=latest.refresh_token))
    if len(chain) == 1:
        raise CheckSkipped(
            f"the first refresh token already lives past the cap ({basis}) so no rotation could extend it; "
            "EXP-06 judges its expiry"
        )
    device.close()
    yield ctx.wait_until(probe_at, "waiting past the session's absolute lifetime")
    probe = device.refresh_exchange(chain[-1].refresh_token)
    expect.rejected(
        probe,
        because=f"after {len(chain) - 1} rotation(s) the refresh chain still works {probe.sent_at + skew - cap:.1f} s "
        f"past the session's absolute lifetime ({basis}): sliding expiry without a cap, the session never ends",
        statuses=ctx.profile.policy.refresh_rejection_status,
    )


def _session_cap_from_claims(
    ctx: CheckContext, device: Device, login: Tokens, cap: float, basis: str
) -> Generator[Wait, None, None]:
    """Judge the cap by the rotated tokens' exp claims, when waiting it out exceeds --max-wait."""
    presentations = ctx.profile.refresh.present
    chain = [login, device.refresh(login.refresh_token, via=presentations[0])]
    # A sliding exp only shows past the cap once time has passed, so the later rotations wait a
    # little (overlapped with every other timed check by the engine).
    latest_exp = _exp(chain[-1].refresh_claims, "refresh token")
    spacing = min(_ROTATION_SPACING, latest_exp - (ctx.server_now() + EXPIRY_SLACK))
    if spacing > 0:
        device.close()  # hold no connection to the target through the wait (the device reconnects)
        yield ctx.wait_until(ctx.clock() + spacing, "spacing rotations to watch the refresh token's exp")
    for step in range(2):
        via = presentations[(step + 1) % len(presentations)]
        chain.append(device.refresh(chain[-1].refresh_token, via=via))
    for number, tokens in enumerate(chain):
        exp = _exp(tokens.refresh_claims, "refresh token")
        what = "login" if number == 0 else f"rotation #{number}"
        expect.that(
            exp <= cap + _ROUNDING,
            f"the refresh token from {what} lives {exp - cap:.0f} s past the session's absolute cap",
            expected=f"exp <= {cap:.0f} ({basis})",
            actual=f"exp = {exp:.0f}",
            exchanges=[tokens.exchange],
        )


# RFC 7519 §4.1.4: "The processing of the "exp" claim requires that the current date/time MUST be
# before the expiration date/time listed in the "exp" claim."
@requirement("EXP-03")
def expired_access_token_is_rejected(ctx: CheckContext) -> Generator[Wait, None, None]:
    """After its exp the access token is rejected, by every declared presentation.

    The declared leeway (policy.max_leeway) is EXP-04's business: this check allows it and a few
    seconds more, and fails a token that is accepted even then, which is one that does not expire.
    """
    leeway = ctx.profile.policy.max_leeway
    device, tokens, exp, decisive = yield from _expired_access_token_probe(
        ctx, leeway + _NEVER_EXPIRES_MARGIN, "waiting for the access token to expire"
    )
    accepted = _accepting_presentations(ctx, device, tokens.access_token)
    if not accepted:
        return
    after = _seconds_after_exp(ctx, accepted[0], exp)
    if not decisive:
        raise CheckSkipped(
            f"the access token was still accepted {after:.0f} s after its exp, within the declared leeway "
            f"(policy.max_leeway = {leeway} s); run with --max-wait {leeway + _NEVER_EXPIRES_MARGIN + 5:.0f} "
            "to see whether it expires at all"
        )
    raise expect.fail(
        f"the access token is still accepted {after:.0f} s after its exp ({_ways(accepted)})",
        expected=f"a rejection within policy.max_leeway ({leeway} s) of exp",
        actual=f"{accepted[0].status} at exp + {after:.0f} s",
        exchanges=accepted,
    )


# RFC 7519 §4.1.4: "Implementers MAY provide for some small leeway, usually no more than a few
# minutes, to account for clock skew."
@requirement("EXP-04")
def expiry_leeway_is_small(ctx: CheckContext) -> Generator[Wait, None, None]:
    """An expired access token stops being accepted within policy.max_leeway seconds of its exp."""
    leeway = ctx.profile.policy.max_leeway
    device, tokens, exp, decisive = yield from _expired_access_token_probe(
        ctx, leeway, "waiting for the access token to expire, plus the declared leeway"
    )
    accepted = _accepting_presentations(ctx, device, tokens.access_token)
    if not accepted:
        return
    after = _seconds_after_exp(ctx, accepted[0], exp)
    if not decisive:
        raise CheckSkipped(
            f"the access token was still accepted {after:.0f} s after its exp; judging the declared leeway "
            f"(policy.max_leeway = {leeway} s) needs --max-wait {leeway + 5}"
        )
    raise expect.fail(
        f"the access token was still accepted {after:.1f} s after its exp ({_ways(accepted)})",
        expected=f"rejection within policy.max_leeway = {leeway} s of exp",
        actual=f"{accepted[0].status} at exp + {after:.1f} s",
        exchanges=accepted,
    )


# RFC 6749 §6: "If valid and authorized, the authorization server issues an access token as
# described in Section 5.1. If the request failed verification or is invalid, the authorization
# server returns an error response as described in Section 5.2."
@requirement("EXP-06")
def expired_refresh_token_is_rejected(ctx: CheckContext) -> Generator[Wait, None, None]:
    """After its exp the refresh token is rejected at the refresh endpoint, by every declared presentation.

    The refresh token is issued and checked by the same server, so no clock-skew leeway between
    parties applies; the probe comes EXPIRY_SLACK seconds after exp (plus the measured skew).
    """
    ctx.calibrate()
    sessions: list[tuple[str, Device, Tokens]] = []
    for via in ctx.profile.refresh.present:
        # One session per presentation: an accepted probe rotates the token, and a second probe
        # of the same token would then be refused as reuse, hiding the defect.
        device = ctx.new_device()
        sessions.append((via, device, device.login()))
    deadline = max(ctx.expiry_deadline(_lifetime_end(tokens, "refresh", "refresh token")) for _, _, tokens in sessions)
    for _, device, _ in sessions:
        device.close()  # hold no connection to the target through the wait (the device reconnects)
    yield ctx.wait_until(deadline, "waiting for the refresh token to expire")
    for via, device, tokens in sessions:
        exp = _lifetime_end(tokens, "refresh", "refresh token")
        probe = device.refresh_exchange(tokens.refresh_token, via=via)
        after = _seconds_after_exp(ctx, probe, exp)
        expect.rejected(
            probe,
            because=f"a refresh token presented by {via} {after:.1f} s after its exp was not refused",
            statuses=ctx.profile.policy.refresh_rejection_status,
        )
    # The oracle still holds: a fresh session refreshes, so the rejections were about expiry.
    control = ctx.new_device(label="control")
    fresh = control.login()
    check = control.refresh_exchange(fresh.refresh_token)
    if check.status not in ctx.profile.refresh.endpoint.success_status:
        raise CalibrationError(
            f"a fresh refresh token was refused too ({check.status}), "
            "so the rejection of the expired one proves nothing",
            evidence=[check.describe()],
        )


# RFC 9700 §4.14.2: "Refresh tokens SHOULD expire if the client has been inactive for some time,
# i.e., the refresh token has not been used to obtain fresh access tokens for some time."
@requirement("EXP-07", needs=(preconditions.idle_timeout,))
def idle_refresh_token_is_rejected(ctx: CheckContext) -> Generator[Wait, None, None]:
    """A refresh token left unused past the declared policy.idle_timeout is rejected."""
    idle = ctx.profile.policy.idle_timeout
    if idle <= 0:
        raise CheckSkipped("the profile declares no policy.idle_timeout; declare the target's idle timeout to check it")
    ctx.calibrate()
    sessions: list[tuple[str, Device, Tokens]] = []
    for via in ctx.profile.refresh.present:
        device = ctx.new_device()
        sessions.append((via, device, device.login()))
    last_use = max(tokens.exchange.received_at for _, _, tokens in sessions)
    deadline = last_use + idle + EXPIRY_SLACK
    for _, _, tokens in sessions:
        exp = _number(tokens.refresh_claims, "exp")
        # A token that expires by then would be refused for its exp, not for idleness.
        if exp is not None and exp - (ctx.skew or 0.0) <= deadline + EXPIRY_SLACK:
            raise CheckSkipped(
                f"the refresh token expires {exp - (ctx.skew or 0.0) - last_use:.0f} s after issue, before an idle "
                f"timeout of {idle} s (policy.idle_timeout) could be told apart from its expiry"
            )
    for _, device, _ in sessions:
        device.close()  # hold no connection to the target through the wait (the device reconnects)
    yield ctx.wait_until(deadline, f"leaving the refresh token unused for policy.idle_timeout = {idle} s")
    for via, device, tokens in sessions:
        probe = device.refresh_exchange(tokens.refresh_token, via=via)
        ctx.require_unexpired(tokens.refresh_expiry, probe.sent_at, "the idle refresh token")
        expect.rejected(
            probe,
            because=f"a refresh token presented by {via} after {probe.sent_at - last_use:.1f} s unused, over the "
            f"declared idle timeout of {idle} s, was not refused",
            statuses=ctx.profile.policy.refresh_rejection_status,
        )


# RFC 9110 §6.6.1: "An origin server with a clock (as defined in Section 5.6.7) MUST generate a Date
# header field in all 2xx (Successful), 3xx (Redirection), and 4xx (Client Error) responses, and MAY
# generate a Date header field in 1xx (Informational) and 5xx (Server Error) responses."
@requirement("EXP-08")
def server_clock_is_sane(ctx: CheckContext) -> None:
    """2xx and 4xx responses carry a Date, and issued iat values agree with it and with our clock (30 s)."""
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    protected = device.call_protected(refreshed.access_token)
    anonymous = device.call_protected(None)
    for what, exchange in (
        ("login", login.exchange),
        ("refresh", refreshed.exchange),
        ("protected resource", protected),
        ("protected resource's 401", anonymous),
    ):
        expect.that(
            exchange.server_date is not None,
            f"the {what} response ({exchange.status}) carries no usable Date header",
            expected="Date: an HTTP-date (RFC 9110 §5.6.7)",
            actual=f"Date: {exchange.header('date') or '(absent)'}",
            exchanges=[exchange],
        )
    for what, tokens in (("login", login), ("refresh", refreshed)):
        exchange = tokens.exchange
        assert exchange.server_date is not None
        for kind, claims in (("access", tokens.access_claims), ("refresh", tokens.refresh_claims)):
            iat = _number(claims, "iat")
            if iat is None:
                continue  # opaque token or no iat: TOK-13 judges that
            # Date and iat both have one-second resolution; our clock is read around the request.
            against_date = iat - exchange.server_date
            expect.that(
                abs(against_date) <= _MAX_CLOCK_DISAGREEMENT + _ROUNDING,
                f"the {kind} token from {what} has an iat {against_date:+.0f} s off the response's Date",
                expected=f"|iat - Date| <= {_MAX_CLOCK_DISAGREEMENT:.0f} s",
                actual=f"iat {iat:.0f}, Date {exchange.header('date')}",
                exchanges=[exchange],
            )
            local = min(max(iat, exchange.sent_at), exchange.received_at)
            against_us = iat - local
            expect.that(
                abs(against_us) <= _MAX_CLOCK_DISAGREEMENT + _ROUNDING,
                f"the {kind} token from {what} has an iat {against_us:+.0f} s off the suite's clock",
                expected=f"|iat - local clock| <= {_MAX_CLOCK_DISAGREEMENT:.0f} s",
                actual=f"iat {iat:.0f}, request sent at {exchange.sent_at:.0f}",
                exchanges=[exchange],
            )


# ---------------------------------------------------------------- EXP-05: minted time claims (needs the secrets)
# Kept as one section at the end of the module: it is written with tokens.py's minting helpers.

#: How far in the future EXP-05 puts nbf: far beyond any clock-skew leeway (RFC 7519 §4.1.5).
_FUTURE_NBF = 3600


# RFC 7519 §4.1.5: "The "nbf" (not before) claim identifies the time before which the JWT MUST
# NOT be accepted for processing."
@requirement("EXP-05")
def not_yet_valid_and_unexpiring_tokens_are_rejected(ctx: CheckContext) -> None:
    """The issued tokens re-signed with nbf an hour ahead, or without exp, are refused."""
    # Imported here so this section stays one contiguous block (tokens.py owns the minting).
    from .tokens import minted_claims_are_rejected

    def future_nbf(claims: dict[str, Any]) -> dict[str, Any]:
        return {**claims, "nbf": int(ctx.server_now()) + _FUTURE_NBF}

    def without_exp(claims: dict[str, Any]) -> dict[str, Any]:
        # RFC 7519 §4.1.4 makes exp optional in general; the catalogue (TOK-13, ASVS 5.0 V9.2.1)
        # requires it here, so a token that never expires must not be honoured.
        return {k: v for k, v in claims.items() if k != "exp"}

    minted_claims_are_rejected(
        ctx,
        [(f"nbf {_FUTURE_NBF} s in the future", future_nbf), ("no exp claim", without_exp)],
        because="a token that is not yet valid, or never expires, was accepted",
        what="judging nbf and a missing exp",
    )
