"""Login: failures reveal nothing about accounts, and every login is a new session."""

from __future__ import annotations

import json
import math
import re
import secrets
import statistics
from collections.abc import Callable
from typing import Any

from .. import expect, preconditions
from ..context import CheckContext
from ..device import Exchange, User
from ..errors import CheckSkipped, DeviationDeclared, TargetError
from ..registry import requirement

#: Headers that legitimately differ between two responses (per-request ids, clocks, tracing).
VOLATILE_HEADERS = frozenset(
    {
        "date",
        "age",
        "expires",
        "x-request-id",
        "x-correlation-id",
        "x-trace-id",
        "x-amzn-requestid",
        "x-amzn-trace-id",
        "traceparent",
        "tracestate",
        "server-timing",
        "x-runtime",
        "cf-ray",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    }
)
VOLATILE_BODY_KEYS = frozenset({"timestamp", "time", "requestId", "request_id", "traceId", "trace_id", "path"})

#: Password hash formats that must never appear in a response (bcrypt, argon2, scrypt, PBKDF2, crypt).
HASH_PATTERN = re.compile(
    r"\$2[abxy]\$\d\d\$|\$argon2(id|i|d)\$|\$scrypt\$|pbkdf2_sha\d+\$|\$[156]\$[./A-Za-z0-9]{8,}\$"
)


def _unknown_user(ctx: CheckContext) -> User:
    tag = secrets.token_hex(8)
    return User(username=f"tc_nobody_{tag}", email=f"tc_nobody_{tag}@example.test", password="Wrong-" + tag)


def _at_path(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict):
            return None
        document = document.get(part)
    return document


def issued_tokens(ctx: CheckContext, exchange: Exchange) -> list[str]:
    """Which tokens a login response hands out where the profile says tokens go (empty: none)."""
    found = []
    for kind, location in (("access token", ctx.profile.tokens_access), ("refresh token", ctx.profile.tokens_refresh)):
        value = _at_path(exchange.json, location.json) if location.json else None
        cookie = exchange.cookie(location.cookie) if location.cookie else None
        if (isinstance(value, str) and value) or (cookie is not None and cookie.value):
            found.append(kind)
    return found


def logged_in(ctx: CheckContext, exchange: Exchange) -> bool:
    """A login attempt succeeded: it handed out a token, whatever its status (a 200 without one is no login)."""
    return bool(issued_tokens(ctx, exchange))


def premise_broken_by_login(ctx: CheckContext, what: str, exchange: Exchange, *, needed_for: str) -> CheckSkipped:
    """The skip for a check whose premise (this login fails) is itself LGN-08's failure.

    One root cause, one failure: LGN-08 fails on the target, and the checks that compare or count
    failed logins say why they have nothing to judge instead of reporting an error.
    """
    return CheckSkipped(
        f"a login with {what} succeeded ({exchange.status}), which fails LGN-08 (a wrong password never "
        f"logs in); {needed_for} cannot be judged until it is refused"
    )


def _failed_logins(ctx: CheckContext) -> tuple[Exchange, Exchange]:
    """(unknown account, known account with a wrong password)."""
    user = ctx.new_user()
    known = ctx.new_device(user, label="known")
    wrong = known.login_exchange(password=user.password + "-wrong")
    stranger = ctx.new_device(_unknown_user(ctx), label="unknown")
    unknown = stranger.login_exchange()
    for what, exchange in (("an unknown account", unknown), ("a wrong password", wrong)):
        if logged_in(ctx, exchange):
            raise premise_broken_by_login(ctx, what, exchange, needed_for="comparing the answers to failed logins")
        if exchange.status == 429:
            raise TargetError(
                f"login with {what} was throttled, so the comparison is void", evidence=[exchange.describe()]
            )
    return unknown, wrong


def _normalised_body(exchange: Exchange) -> Any:
    document = exchange.json
    if isinstance(document, dict):
        return {k: v for k, v in document.items() if k not in VOLATILE_BODY_KEYS}
    return exchange.body


# OWASP Authentication Cheat Sheet, Authentication and Error Messages: "An application should
# respond with a generic error message regardless of whether: The user ID or password was
# incorrect. The account does not exist."
@requirement("LGN-01")
def failed_logins_do_not_reveal_accounts(ctx: CheckContext) -> None:
    """An unknown account and a wrong password give the same status and the same body."""
    unknown, wrong = _failed_logins(ctx)
    expect.that(
        unknown.status == wrong.status,
        "an unknown account and a wrong password get different statuses, revealing which accounts exist",
        expected=f"the same status for both (wrong password: {wrong.status})",
        actual=f"unknown account: {unknown.status}",
        exchanges=[unknown, wrong],
    )
    expect.that(
        _normalised_body(unknown) == _normalised_body(wrong),
        "an unknown account and a wrong password get different bodies, revealing which accounts exist",
        expected=f"wrong password: {wrong.text[:160]}",
        actual=f"unknown account: {unknown.text[:160]}",
        exchanges=[unknown, wrong],
    )


# OWASP Authentication Cheat Sheet: the responses must not differ in any way (status, body,
# headers) an attacker can observe; ASVS 5.0 V6.3.8.
@requirement("LGN-02")
def failed_logins_do_not_differ_in_headers(ctx: CheckContext) -> None:
    """The two failures send the same header names and values, ignoring Date and request ids."""
    unknown, wrong = _failed_logins(ctx)

    def comparable(exchange: Exchange) -> dict[str, str]:
        return {k: v for k, v in exchange.headers.items() if k not in VOLATILE_HEADERS}

    left, right = comparable(unknown), comparable(wrong)
    differing = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
    expect.that(
        not differing,
        f"an unknown account and a wrong password get different headers: {', '.join(differing)}",
        expected="; ".join(f"{k}: {right.get(k, '(absent)')}" for k in differing),
        actual="; ".join(f"{k}: {left.get(k, '(absent)')}" for k in differing),
        exchanges=[unknown, wrong],
    )


def mann_whitney_p(first: list[float], second: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation with tie correction)."""
    combined = sorted([(v, 0) for v in first] + [(v, 1) for v in second])
    ranks = [0.0] * len(combined)
    index = 0
    tie_term = 0.0
    while index < len(combined):
        end = index
        while end + 1 < len(combined) and combined[end + 1][0] == combined[index][0]:
            end += 1
        rank = (index + end) / 2 + 1
        for position in range(index, end + 1):
            ranks[position] = rank
        size = end - index + 1
        tie_term += size**3 - size
        index = end + 1
    n1, n2 = len(first), len(second)
    rank_sum = sum(r for r, (_, group) in zip(ranks, combined, strict=True) if group == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    return math.erfc(max(z, 0.0) / math.sqrt(2))


#: Samples per series, and the median gap (seconds) that counts as a real difference.
TIMING_SAMPLES = 30
TIMING_THRESHOLD = 0.020
TIMING_ALPHA = 0.001


# OWASP Authentication Cheat Sheet, Authentication and Error Messages: a "quick exit" for an
# unknown user makes "the response time ... significantly different"; ASVS 5.0 V6.3.8 names
# response times among the things that must not reveal accounts.
@requirement(
    "LGN-03",
    needs=(preconditions.register_because("the samples for a wrong password would trip the account's throttling"),),
)
def failed_logins_do_not_differ_in_timing(ctx: CheckContext) -> None:
    """An unknown account costs as long as a wrong password (interleaved samples, Mann-Whitney U)."""
    if ctx.profile.register is None:
        raise CheckSkipped(
            "needs a [register] endpoint: the samples for a wrong password would trip the account's throttling"
        )
    # Several accounts, a few failures each, so per-account throttling never kicks in.
    devices = [ctx.new_device(ctx.new_user(), label=f"known-{n}") for n in range(6)]
    unknown_times: list[float] = []
    wrong_times: list[float] = []
    for sample in range(TIMING_SAMPLES):
        known = devices[sample % len(devices)]
        stranger = ctx.new_device(_unknown_user(ctx), label="unknown")
        # Interleave the two series so load on the machine hits both alike.
        wrong = known.login_exchange(password="Wrong-" + secrets.token_hex(4))
        unknown = stranger.login_exchange()
        stranger.close()
        for what, series, exchange in (
            ("a wrong password", wrong_times, wrong),
            ("an unknown account", unknown_times, unknown),
        ):
            if logged_in(ctx, exchange):
                raise premise_broken_by_login(ctx, what, exchange, needed_for="the timing of failed logins")
            if exchange.status == 429:
                raise TargetError("login was throttled during timing sampling", evidence=[exchange.describe()])
            series.append(exchange.received_at - exchange.sent_at)
    gap = statistics.median(wrong_times) - statistics.median(unknown_times)
    p_value = mann_whitney_p(unknown_times, wrong_times)
    summary = (
        f"median wrong password {statistics.median(wrong_times) * 1000:.1f} ms, "
        f"median unknown account {statistics.median(unknown_times) * 1000:.1f} ms, "
        f"p = {p_value:.2g} over {TIMING_SAMPLES} interleaved samples each"
    )
    expect.that(
        not (abs(gap) > TIMING_THRESHOLD and p_value < TIMING_ALPHA),
        "login time reveals whether an account exists",
        expected=f"no median gap over {TIMING_THRESHOLD * 1000:.0f} ms with p < {TIMING_ALPHA}",
        actual=summary,
    )


# ASVS 5.0 V6.3.8: valid users cannot be deduced from failed authentication challenges, and
# this includes the registration flow.
@requirement("LGN-04", needs=(preconditions.register,))
def registration_does_not_reveal_accounts(ctx: CheckContext) -> None:
    """Registering an existing email, or an existing username, answers like registering a new one."""
    spec = ctx.profile.register
    if spec is None:
        raise CheckSkipped("the profile declares no [register] endpoint")
    templates = "".join(spec.fields.values())
    existing = ctx.new_user()

    def stranger() -> User:
        tag = secrets.token_hex(6)
        password = f"Tc-{secrets.token_urlsafe(12)}"
        return User(username=f"tc_other_{tag}", email=f"tc_other_{tag}@example.test", password=password)

    # Each probe takes one identifier of the existing account and is fresh in everything else;
    # a username is only probed when the profile sends one (seed: username and email are unique).
    probes: list[tuple[str, User]] = []
    if "{email}" in templates:
        other = stranger()
        probes.append(("a taken email", User(other.username, existing.email, other.password)))
    if "{username}" in templates:
        other = stranger()
        probes.append(("a taken username", User(existing.username, other.email, other.password)))
    if not probes:
        raise CheckSkipped("register.fields uses neither {email} nor {username}, so no account can be taken")
    new = ctx.new_device(stranger(), label="registrar").register()
    revealing = []
    for what, user in probes:
        again = ctx.new_device(user, label="registrar").register()
        if again.status != new.status:
            revealing.append((what, again))
    if not revealing:
        return
    told = " and ".join(f"{what} ({again.status})" for what, again in revealing)
    if ctx.profile.policy.registration_reveals_accounts:
        raise DeviationDeclared(
            f"registration answers {told}, but {new.status} for a new account; "
            "the profile declares registration_reveals_accounts = true"
        )
    what, again = revealing[0]
    raise expect.fail(
        f"registration tells {told} from a new account",
        expected=f"the same answer as for a new account ({new.status})",
        actual=f"{what}: {again.status} {again.text[:120]}",
        exchanges=[again, new],
    )


# ASVS 5.0 V7.2.4: a new session token is generated on user authentication; OWASP Session
# Management Cheat Sheet: renew the session ID after any privilege level change.
@requirement("LGN-05")
def each_login_creates_new_session(ctx: CheckContext) -> None:
    """A login that presents a previous session's cookies still gets new tokens."""
    user = ctx.new_user()
    device = ctx.new_device(user)
    first = device.login()
    # The device's jar still holds the first session's cookies: a fixating server would adopt them.
    second = device.login()
    expect.that(
        second.refresh_token != first.refresh_token,
        "a second login returned the previous session's refresh token",
        expected="a new refresh token",
        actual="the first login's refresh token",
        exchanges=[first.exchange, second.exchange],
    )
    expect.that(
        second.access_token != first.access_token,
        "a second login returned the previous session's access token",
        expected="a new access token",
        actual="the first login's access token",
        exchanges=[first.exchange, second.exchange],
    )
    first_sid = (first.refresh_claims or {}).get("sid")
    second_sid = (second.refresh_claims or {}).get("sid")
    if first_sid is not None:
        expect.that(
            first_sid != second_sid,
            "a second login continued the previous session (same sid)",
            expected="a new session id",
            actual=f"sid {first_sid!r} again",
            exchanges=[second.exchange],
        )


def _leaks(exchange: Exchange, password: str) -> str:
    texts = [exchange.text] + [f"{k}: {v}" for k, v in exchange.headers.items()]
    for text in texts:
        if password in text:
            return "the submitted password"
        match = HASH_PATTERN.search(text)
        if match:
            return f"a password hash ({match.group(0)}…)"
    return ""


# ASVS 5.0 V15.3.1 / seed design: the user object sent to clients excludes the password;
# neither the password nor its hash belongs in any response.
@requirement("LGN-06")
def no_password_or_hash_in_responses(ctx: CheckContext) -> None:
    """Neither the submitted password nor a password hash appears in any response."""
    user = ctx.new_user()
    device = ctx.new_device(user)
    exchanges = []
    if ctx.profile.register is not None:
        # Registration is where an ORM object with its hash is most often echoed back.
        probe = User(username=f"tc_{secrets.token_hex(6)}", email="", password=f"Tc-{secrets.token_urlsafe(12)}")
        probe = User(username=probe.username, email=f"{probe.username}@example.test", password=probe.password)
        registrar = ctx.new_device(probe, label="registrar")
        exchanges.append((probe.password, registrar.register()))
    tokens = device.login()
    exchanges.append((user.password, tokens.exchange))
    refreshed = device.refresh(tokens.refresh_token)
    exchanges.append((user.password, refreshed.exchange))
    exchanges.append((user.password, device.call_protected(refreshed.access_token)))
    for password, exchange in exchanges:
        leaked = _leaks(exchange, password)
        expect.that(
            not leaked,
            f"{exchange.method} {exchange.url} sends {leaked} back",
            expected="no password or hash in any body or header",
            actual=leaked,
            exchanges=[exchange],
        )
    for claims_of in (tokens.access_claims, tokens.refresh_claims):
        text = json.dumps(claims_of or {})
        expect.that(
            user.password not in text and not HASH_PATTERN.search(text),
            "a token payload carries the password or its hash",
            expected="no password or hash in token payloads",
            actual=text[:160],
        )


#: Wrong passwords tried before concluding that failed logins are not throttled.
THROTTLE_ATTEMPTS = 50


# ASVS 5.0 V6.3.1: controls to prevent credential stuffing and password brute force are
# implemented; OWASP Authentication Cheat Sheet, Login Throttling.
@requirement(
    "LGN-07",
    needs=(preconditions.register_because("hammering a configured account with wrong passwords would lock it"),),
)
def failed_logins_are_throttled(ctx: CheckContext) -> None:
    """Repeated wrong passwords for one account lead to 429, a delay or a lockout."""
    if ctx.profile.register is None:
        raise CheckSkipped(
            "needs a [register] endpoint: hammering a configured account with wrong passwords would lock it"
        )
    user = ctx.new_user()
    device = ctx.new_device(user)
    last: Exchange | None = None
    for attempt in range(1, THROTTLE_ATTEMPTS + 1):
        last = device.login_exchange(password=f"Wrong-{attempt}-{secrets.token_hex(4)}")
        if last.status in (429, 423, 503) or last.header("retry-after"):
            return
        if logged_in(ctx, last):
            raise premise_broken_by_login(ctx, "a wrong password", last, needed_for="throttling of failed logins")
    assert last is not None
    raise expect.fail(
        f"{THROTTLE_ATTEMPTS} wrong passwords in a row for one account were never throttled",
        expected="429 (or 423, or a Retry-After) before the 50th attempt",
        actual=f"attempt {THROTTLE_ATTEMPTS}: {last.status}",
        exchanges=[last],
    )


# RFC 6749 §4.3.2: "The authorization server MUST: [...] validate the resource owner password
# credentials using its existing password validation algorithm."
@requirement("LGN-08")
def wrong_password_never_logs_in(ctx: CheckContext) -> None:
    """A wrong password, an empty password and an unknown account get no token; the right password does."""
    user = ctx.new_user()
    device = ctx.new_device(user)
    attempts: list[tuple[str, Callable[[], Exchange]]] = [
        ("a wrong password", lambda: device.login_exchange(password=user.password + "-wrong")),
        ("an empty password", lambda: device.login_exchange(password="")),
        ("an unknown account", lambda: ctx.new_device(_unknown_user(ctx), label="unknown").login_exchange()),
    ]
    if user.password.swapcase() != user.password:
        # Passwords are case-sensitive: a server that lower-cases before comparing lets this in.
        swapped = user.password.swapcase()
        attempts.insert(1, ("the password in another case", lambda: device.login_exchange(password=swapped)))
    for what, attempt in attempts:
        exchange = attempt()
        tokens = issued_tokens(ctx, exchange)
        if not tokens:
            continue
        # Does the token open the protected resource? Evidence, not the verdict: handing out a
        # token at all for bad credentials is the failure.
        opened = ""
        if "access token" in tokens:
            try:
                issued = device.tokens_from(exchange, what="login")
            except TargetError:
                issued = None
            if issued is not None and device.call_protected(issued.access_token).ok:
                opened = ", and its access token opens the protected resource"
        raise expect.fail(
            f"a login with {what} was let in{opened}",
            expected="a 4xx refusal carrying no token",
            actual=f"{exchange.status} with the {' and '.join(tokens)}",
            exchanges=[exchange],
        )
    # The oracle: the right password still logs in, so the refusals above were about the password
    # (device.login() reports an error otherwise, and the failures did not lock the account).
    device.login()
