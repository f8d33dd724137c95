"""Robustness: hostile input gets a clean 4xx, errors leak nothing, and transport is TLS with HSTS."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import urlsplit

from .. import expect, jwt_probes, preconditions
from ..context import EXPIRY_SLACK, CheckContext, DeviceGroup, Wait
from ..device import Device, Exchange, Tokens, User, shorten
from ..errors import CheckSkipped, TargetError, TargetUnreachable
from ..registry import requirement

# ---------------------------------------------------------------- RBS-01


def _hostile_tokens(tokens: Tokens) -> list[tuple[str, str]]:
    """Garbage in every shape a parser can trip on, some derived from a real token's header."""
    try:
        header = jwt_probes.split(tokens.access_token).header
    except ValueError:
        header = {"alg": "HS256", "typ": "JWT"}
    claims = dict(tokens.access_claims or {"sub": "tokenconform"})
    signature = jwt_probes.b64url_encode(secrets.token_bytes(32))
    unsigned = {**header, "alg": "none"}
    nested = "[" * 5000 + "]" * 5000
    return [
        ("empty", ""),
        ("16 KiB of one character", "A" * 16_500),
        (
            "16 KiB JWT-shaped",
            f"{jwt_probes.encode_json(header)}.{jwt_probes.encode_json({'pad': 'A' * 12_300})}.{signature}",
        ),
        ("not base64", "!!!.@@@.###"),
        (
            "base64 of non-JSON",
            ".".join(jwt_probes.b64url_encode(s) for s in (b"not json", b"\xff\xfe\x00garbage", b"sig")),
        ),
        (
            "exp as a string",
            f"{jwt_probes.encode_json(header)}.{jwt_probes.encode_json({**claims, 'exp': 'tomorrow'})}.{signature}",
        ),
        (
            "unsigned, exp as an object",
            f"{jwt_probes.encode_json(unsigned)}.{jwt_probes.encode_json({**claims, 'exp': {'$gt': 0}})}.",
        ),
        (
            "UTF-16 JSON header",
            f"{jwt_probes.b64url_encode(json.dumps(header).encode('utf-16'))}.{jwt_probes.encode_json(claims)}.{signature}",
        ),
        (
            "header nested 5000 deep",
            f"{jwt_probes.b64url_encode(nested.encode())}.{jwt_probes.encode_json(claims)}.{signature}",
        ),
        ("header a JSON array", f"{jwt_probes.encode_json([header])}.{jwt_probes.encode_json(claims)}.{signature}"),
    ]


# ASVS 5.0 V16.5.3: "Verify that the application fails gracefully and securely, including when an
# exception occurs, preventing fail-open conditions such as processing a transaction despite
# errors resulting from validation logic."
@requirement("RBS-01")
def hostile_tokens_never_yield_server_errors(ctx: CheckContext) -> None:
    """Empty, oversized, non-base64, non-JSON, mistyped and deeply nested tokens get 4xx everywhere."""
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    for label, token in _hostile_tokens(tokens):
        for via in ctx.profile.protected.present:
            response = device.call_protected(token, via=via)
            expect.rejected(
                response, because=f"a hostile access token ({label}, presented by {via}) was not refused with 4xx"
            )
        for via in ctx.profile.refresh.present:
            response = device.refresh_exchange(token, via=via)
            expect.rejected(
                response, because=f"a hostile refresh token ({label}, presented by {via}) was not refused with 4xx"
            )
    # No token at all is the commonest hostile input: the seed's controller reads
    # req.cookies.refreshToken || req.body.refreshToken, and a missing body crashes many.
    for label, response in _refresh_without_any_token(ctx, device):
        expect.rejected(response, because=f"a refresh with no token at all ({label}) was not refused with 4xx")


def _refresh_without_any_token(ctx: CheckContext, device: Device) -> Iterator[tuple[str, Exchange]]:
    """Refresh requests that present no refresh token anywhere (no cookie either)."""
    spec = ctx.profile.refresh
    endpoint = spec.endpoint
    # use_jar=False: no cookie at all, not even one the profile does not name (issue 6.1).
    yield "the profile's request without the token", device.refresh_exchange(None)
    yield (
        "no body and no cookie",
        device.send(endpoint.method, endpoint.path, use_jar=False, presented="no body, no cookie"),
    )
    content_type = "application/json" if endpoint.encoding == "json" else "application/x-www-form-urlencoded"
    bodies = [("an empty body", b"")]
    if endpoint.encoding == "json":
        bodies += [("the JSON body {}", b"{}"), ("the JSON body null", b"null")]
        bodies.append((f'the JSON body {{"{spec.field}": null}}', json.dumps({spec.field: None}).encode()))
    for label, body in bodies:
        exchange = device.send(
            endpoint.method,
            endpoint.path,
            headers={"Content-Type": content_type},
            raw_body=body,
            use_jar=False,
            presented=label,
        )
        yield label, exchange


# ---------------------------------------------------------------- RBS-02

_LEAKS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("a Python traceback", r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"),
        ("a JavaScript stack trace", r"\bat [\w$.<>\[\] ]+ \(?(?:file://)?[\w./\\:-]+\.[cm]?[jt]s:\d+:\d+\)?"),
        (
            "a Java or .NET stack trace",
            r"\bat [\w.$]+\([\w]+\.java:\d+\)|java\.lang\.\w+(?:Exception|Error)|System\.\w+Exception",
        ),
        (
            "a JWT library's internals",
            r"\bjsonwebtoken\b|JsonWebTokenError|\bjwt\.exceptions\b|\bPyJWT\b|InvalidSignatureError|"
            r"ExpiredSignatureError|DecodeError|io\.jsonwebtoken|JWTVerificationException",
        ),
        (
            "SQL or a database error",
            r"SQLSTATE|\bsqlite3?\.\w+|SQLITE_\w+|\bpsycopg2?\b|syntax error at or near|ORA-\d{5}|"
            r"\bSELECT\b[^\n]{1,200}\bFROM\b|\bINSERT INTO\b|\bUPDATE\b \w+ SET\b",
        ),
        (
            "a server file path",
            r"/site-packages/|/usr/(?:local/)?lib/python\d|node_modules/|/home/\w+/|/var/www/|[A-Z]:\\\\(?:Users|inetpub)\\\\",
        ),
        ("a debug page", r"Werkzeug Debugger|Whitelabel Error Page|<title>[^<]*(?:Exception|Error) at /"),
    )
)


def _error_probes(ctx: CheckContext, device: Device) -> Iterator[Exchange]:
    """Requests that make a target fail in its less travelled paths."""
    profile = ctx.profile
    login = profile.login.endpoint
    json_headers = {"Content-Type": "application/json"}
    yield device.call_protected("tokenconform.not-a.token")
    yield device.call_protected(
        f"{jwt_probes.encode_json({'alg': 'HS256'})}.{jwt_probes.encode_json({'exp': 'x'})}.AAAA"
    )
    yield device.refresh_exchange("tokenconform.not-a.token")
    yield device.refresh_exchange(None)
    yield device.send(login.method, login.path, headers=json_headers, raw_body=b"{}", presented="login without fields")
    yield device.send(
        login.method, login.path, headers=json_headers, raw_body=b'{"email": ', presented="malformed JSON"
    )
    yield device.send(login.method, login.path, headers=json_headers, raw_body=b"[1, 2", presented="malformed JSON")
    yield device.send(
        login.method,
        login.path,
        json_body={profile.login.username_field: {"$ne": None}, profile.login.password_field: ["x"]},
        presented="wrongly typed fields",
    )
    yield device.send("GET", f"/tokenconform-no-such-route-{secrets.token_hex(4)}", presented="unknown route")
    yield device.send("DELETE", profile.protected.endpoint.path, presented="unexpected method")


# ASVS 5.0 V16.5.1: "Verify that a generic message is returned to the consumer when an unexpected
# or security-sensitive error occurs, ensuring no exposure of sensitive internal system data such
# as stack traces, queries, secret keys, and tokens."
@requirement("RBS-02")
def error_bodies_leak_no_internals(ctx: CheckContext) -> None:
    """4xx and 5xx bodies show no stack trace, file path, SQL or JWT-library internals."""
    device = ctx.new_device(User("tokenconform-nobody", "nobody@tokenconform.invalid", "x"), label="prober")
    for response in _error_probes(ctx, device):
        if response.status < 400:
            continue
        for name, pattern in _LEAKS:
            match = pattern.search(response.text)
            expect.that(
                match is None,
                f"an error body ({response.status} to {response.presented or response.method}) shows {name}",
                expected="a generic error message",
                actual=f"…{response.text[max(0, match.start() - 40) : match.end() + 40]}…" if match else "",
                exchanges=[response],
            )


# ---------------------------------------------------------------- RBS-03


def _both_sources(device: Device, ctx: CheckContext, *, body_token: str, cookie_token: str) -> Exchange:
    """One refresh request carrying a token in the body and another in the cookie."""
    spec = ctx.profile.refresh
    cookie_name = ctx.profile.tokens_refresh.cookie
    body = dict(spec.extra)
    body[spec.field] = body_token
    csrf = ctx.profile.csrf
    headers = {csrf.header: device.jar[csrf.refresh_cookie]} if csrf and csrf.refresh_cookie in device.jar else {}
    # Device has no public "present two ways at once" call; post_endpoint adds encoding and client auth.
    return device.post_endpoint(
        spec.endpoint,
        body,
        headers=headers,
        cookies={cookie_name: cookie_token},
        use_jar=False,
        presented=f"body {spec.field}={shorten(body_token)} and cookie {cookie_name}={shorten(cookie_token)}",
    )


# RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each request."
@requirement("RBS-03", needs=(preconditions.two_refresh_presentations,))
def conflicting_refresh_sources_cannot_bypass_reuse_detection(ctx: CheckContext) -> Generator[Wait, None, None]:
    """A used refresh token beside a valid one (body and cookie, both orders) is refused, or left unread.

    A target may deterministically read one source (the seed: ``req.cookies.refreshToken ||
    req.body.refreshToken``). When that source holds the valid token, it rotates the valid token
    and the used one is never read: nothing is bypassed, so a success is judged by what it did.
    The valid token must be used up by it, and the used one still refused; a valid token that
    still refreshes afterwards means the target issued tokens for the used one.
    """
    profile = ctx.profile
    if not {"cookie", "body"} <= set(profile.refresh.present):
        raise CheckSkipped(
            "the profile declares one way to present a refresh token (refresh.present), so no conflict can arise"
        )
    policy = profile.policy
    grace = policy.concurrent_refresh_grace
    with DeviceGroup(ctx) as devices:
        families: list[tuple[str, str, Device, Tokens, Tokens]] = []
        for used_in, valid_in in (("body", "cookie"), ("cookie", "body")):
            device = devices.new(label="client")
            first = device.login()
            families.append((used_in, valid_in, device, first, device.refresh(first.refresh_token)))
        if grace:
            # Inside the declared window a target may answer the just-rotated token (REU-07): only
            # after it is that token a used one.
            yield from _wait_out_grace(ctx, devices, max(second.exchange.received_at for *_, second in families))
        answered: list[tuple[str, str, Device, Tokens, Tokens, Exchange]] = []
        for used_in, valid_in, device, first, second in families:
            used, valid = first.refresh_token, second.refresh_token
            sources = {used_in: used, valid_in: valid}
            # A success issues tokens like any refresh: on a target that mints identical tokens
            # within a second (TOK-11), an unspaced one would hand back the valid token itself.
            ctx.space_issuance(device)
            response = _both_sources(device, ctx, body_token=sources["body"], cookie_token=sources["cookie"])
            ctx.note_issuance(device.user, response)
            ctx.require_unexpired(first.refresh_expiry, response.sent_at, "the used refresh token")
            if response.ok:
                answered.append((used_in, valid_in, device, first, second, response))
                continue
            expect.rejected(
                response,
                because=f"a used refresh token in the {used_in} beside a valid one in the {valid_in} was not refused "
                "with 4xx",
            )
            if not policy.reuse_detection:
                continue
            # RFC 9700 §4.14.2: a replayed token revokes its family; presenting it beside a valid one
            # must not dodge that, so the newest token of the family is dead now.
            ctx.space_issuance(device)
            after = device.refresh_exchange(valid, via=valid_in)
            ctx.note_issuance(device.user, after)
            ctx.require_unexpired(second.refresh_expiry, after.sent_at, "the newest refresh token")
            if after.ok and not _replay_alone_revokes(ctx, device, after, first.refresh_token, used_in, valid_in):
                # The target revokes nothing even for a replay on its own (REU-02's verdict): there is
                # no detection a second source could have dodged.
                continue
            expect.rejected(
                after,
                because=f"a used refresh token presented in the {used_in} beside a valid one escaped reuse detection: "
                "the family's newest refresh token still works (a replay on its own revokes it)",
                statuses=policy.refresh_rejection_status,
            )
        if not answered:
            return
        if grace:
            # The valid token was rotated by the success: inside the window its replay may be answered.
            yield from _wait_out_grace(ctx, devices, max(a[-1].received_at for a in answered))
        for used_in, valid_in, device, first, second, response in answered:
            again = device.refresh_exchange(second.refresh_token, via=valid_in)
            ctx.require_unexpired(second.refresh_expiry, again.sent_at, "the valid refresh token")
            expect.rejected(
                again,
                because=f"with a used refresh token in the {used_in} and a valid one in the {valid_in}, the target "
                f"answered {response.status}, yet the valid token still refreshes on its own afterwards: the tokens "
                "were issued for the used one, which bypassed reuse detection",
            )
            replay = device.refresh_exchange(first.refresh_token, via=used_in)
            ctx.require_unexpired(first.refresh_expiry, replay.sent_at, "the used refresh token")
            expect.rejected(
                replay,
                because=f"after a request with a used refresh token in the {used_in} and a valid one in the "
                f"{valid_in} was answered {response.status}, the used token refreshes on its own",
            )


def _replay_alone_revokes(
    ctx: CheckContext, device: Device, rotated: Exchange, used: str, used_in: str, valid_in: str
) -> bool:
    """Whether replaying ``used`` on its own revokes the family whose newest token ``rotated`` issued."""
    try:
        newest = device.tokens_from(rotated, what="refresh")
    except TargetError:
        return True  # no successor to probe: judge by the answer that was let through
    device.refresh_exchange(used, via=used_in)
    probe = device.refresh_exchange(newest.refresh_token, via=valid_in)
    ctx.require_unexpired(newest.refresh_expiry, probe.sent_at, "the family's newest refresh token")
    return not probe.ok


def _wait_out_grace(ctx: CheckContext, devices: DeviceGroup, last_rotation: float) -> Iterator[Wait]:
    grace = ctx.profile.policy.concurrent_refresh_grace
    ctx.calibrate()
    for device in devices.made:
        device.close()  # hold no connection to the target through the wait (the device reconnects)
    yield ctx.wait_until(last_rotation + grace + EXPIRY_SLACK, f"waiting out the declared {grace} s grace window")


# ---------------------------------------------------------------- RBS-04

#: ASVS 5.0 V3.4.1: HSTS "with a maximum age of at least 1 year"
HSTS_MIN_AGE = 31_536_000
_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


# RFC 6749 §10.4: "Refresh tokens MUST only be transmitted using TLS as described in Section 1.6
# with server authentication as defined by [RFC2818]."
@requirement("RBS-04", needs=(preconditions.https_target,))
def tokens_travel_over_tls_with_hsts(ctx: CheckContext) -> None:
    """An https target's token and protected responses carry Strict-Transport-Security max-age >= 1 year."""
    target = ctx.config.target
    if urlsplit(target).scheme.lower() != "https":
        raise CheckSkipped(
            f"the target {target} is plain http: TLS and HSTS can only be checked on an https deployment "
            "(run with --target https://…)"
        )
    device = ctx.new_device()
    tokens = device.login()
    protected = device.call_protected(tokens.access_token)
    for what, exchange in (("login", tokens.exchange), ("protected resource", protected)):
        value = exchange.header("strict-transport-security") or ""
        match = _MAX_AGE.search(value)
        age = int(match.group(1)) if match else -1
        expect.that(
            age >= HSTS_MIN_AGE,
            f"the {what} response does not pin the browser to https for a year",
            expected=f"Strict-Transport-Security: max-age >= {HSTS_MIN_AGE}",
            actual=f"Strict-Transport-Security: {value or '(absent)'}",
            exchanges=[exchange],
        )


# ---------------------------------------------------------------- RBS-05

#: RFC 9110 §15.5.14 (413); the catalogue's limit for token endpoints is 64 KiB
OVERSIZED_BYTES = 70 * 1024


# ASVS 5.0 V16.5.3: "Verify that the application fails gracefully and securely, including when an
# exception occurs, preventing fail-open conditions such as processing a transaction despite
# errors resulting from validation logic."
@requirement("RBS-05")
def malformed_and_oversized_requests_get_client_errors(ctx: CheckContext) -> None:
    """Malformed JSON, wrongly typed fields (also for an existing account) and bodies over 64 KiB at login and
    refresh get 4xx, and the target still answers a login afterwards."""
    profile = ctx.profile
    device = ctx.new_device(User("tokenconform-nobody", "nobody@tokenconform.invalid", "x"), label="prober")
    login, refresh = profile.login, profile.refresh
    padding = "x" * OVERSIZED_BYTES
    for what, endpoint, field, wrong_types in (
        (
            "login",
            login.endpoint,
            login.username_field,
            {login.username_field: 12345, login.password_field: ["x", "y"]},
        ),
        ("refresh", refresh.endpoint, refresh.field, {refresh.field: {"token": 12345}}),
    ):
        probes: list[tuple[str, dict[str, str], bytes]] = []
        if endpoint.encoding == "json":
            json_type = {"Content-Type": "application/json"}
            probes += [
                ("malformed JSON", json_type, b'{"' + field.encode() + b'": "a@b.c", '),
                ("JSON that is not an object", json_type, b'"just a string"'),
                ("wrongly typed fields", json_type, json.dumps(wrong_types).encode()),
                (f"a {OVERSIZED_BYTES // 1024} KiB body", json_type, json.dumps({field: padding}).encode()),
            ]
        else:
            form_type = {"Content-Type": "application/x-www-form-urlencoded"}
            probes += [(f"a {OVERSIZED_BYTES // 1024} KiB body", form_type, f"{field}={padding}".encode())]
        for label, headers, body in probes:
            response = device.send(endpoint.method, endpoint.path, headers=headers, raw_body=body, presented=label)
            expect.rejected(response, because=f"{label} at {what} was not refused with 4xx")
    for label, response in _logins_with_missing_input(ctx, device):
        expect.rejected(response, because=f"a login with {label} was not refused with 4xx")
    _typed_passwords_for_a_known_account(ctx)


#: Passwords that are not strings: a handler that finds the account hands them to its hash
#: comparison, and bcrypt.compare throws "data and hash must be strings".
_WRONG_PASSWORDS: tuple[tuple[str, Any], ...] = (
    ("a number", 12345),
    ("an array", ["x", "y"]),
    ("null", None),
    ("an object", {"$gt": ""}),
)


def _typed_passwords_for_a_known_account(ctx: CheckContext) -> None:
    """Wrongly typed and missing passwords for an account that exists, then one normal login.

    An unknown account is refused before its password is ever looked at, so probes with one never
    reach the comparison where the seed crashed (Express 4: the process exits on the unhandled
    rejection; Express 5: 500). A target that died answers nothing more: the closing login says
    so here, rather than as connection errors in whatever check runs next. The account is
    ``own_account()`` (a fresh one where the profile can register), so a target that counts these
    as failed logins locks out no other check's account, and the closing login clears such a count
    where a success does.
    """
    login = ctx.profile.login
    endpoint = login.endpoint
    try:
        user = ctx.own_account()
    except CheckSkipped:
        return  # no account to log in with: the probes above are all RBS-05 can send
    device = ctx.new_device(user, label="prober")
    identifier = ctx.profile.register.login_identifier if ctx.profile.register else "username"
    name = {login.username_field: user.login_name(identifier)}
    probes: list[tuple[str, dict[str, Any]]] = []
    if endpoint.encoding == "json":
        probes += [(f"{what} as the password", {login.password_field: value}) for what, value in _WRONG_PASSWORDS]
    probes.append(("no password field", {}))
    sent = "nothing yet"
    try:
        for what, password in probes:
            sent = f"a login of an existing account with {what}"
            response = device.post_endpoint(endpoint, {**login.extra, **name, **password}, presented=sent)
            expect.rejected(response, because=f"{sent} was not refused with 4xx")
        sent = "the normal login after them"
        ctx.space_issuance(device)
        alive = device.login_exchange()
        ctx.note_issuance(user, alive)
    except TargetUnreachable as exc:
        raise expect.fail(
            "the target stopped answering after logins of an existing account with a wrongly typed or missing "
            f"password (a crashed process?); the request that got no answer: {sent}",
            expected="a 4xx to each probe, then an answer to a normal login",
            actual=str(exc),
        ) from None
    expect.no_server_error(
        alive,
        because=f"a normal login answered a server error after logins of an existing account with "
        f"{', '.join(what for what, _ in probes)}",
    )


def _logins_with_missing_input(ctx: CheckContext, device: Device) -> Iterator[tuple[str, Exchange]]:
    """Logins lacking a field, or the whole body: the paths a handler that destructures req.body crashes on."""
    login = ctx.profile.login
    endpoint = login.endpoint
    name, secret = login.username_field, login.password_field
    identifier = ctx.profile.register.login_identifier if ctx.profile.register else "username"
    present = {name: device.user.login_name(identifier), secret: "Tc-" + secrets.token_hex(8)}
    for missing in (name, secret):
        body = {**login.extra, **{k: v for k, v in present.items() if k != missing}}
        yield f"no {missing} field", device.post_endpoint(endpoint, body, presented=f"login without {missing}")
    yield "no fields at all", device.post_endpoint(endpoint, dict(login.extra), presented="login without fields")
    content_type = "application/json" if endpoint.encoding == "json" else "application/x-www-form-urlencoded"
    bodies = [("no body", None), ("an empty body", b"")]
    if endpoint.encoding == "json":
        bodies.append(("the JSON body null", b"null"))
    for label, raw in bodies:
        headers = {} if raw is None else {"Content-Type": content_type}
        yield label, device.send(endpoint.method, endpoint.path, headers=headers, raw_body=raw, presented=label)
