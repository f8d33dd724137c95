"""Protected resource: how it accepts a valid access token and how it refuses everything else.

RFC 6750 §3 sets the shape of a refusal: 401 with a ``WWW-Authenticate: Bearer`` challenge,
without an error code when no credentials came, with ``error="invalid_token"`` when a token came
and was refused.
"""

from __future__ import annotations

import re
from typing import Any

from .. import expect, jwt_probes, preconditions
from ..context import CheckContext
from ..device import Exchange, shorten
from ..errors import CheckSkipped, TargetError
from ..registry import requirement
from .tokens import still_valid

_BEARER = re.compile(r"(?:^|,)\s*bearer(?:\s|,|$)", re.IGNORECASE)
_ERROR_ATTRIBUTE = re.compile(r"\berror\s*=\s*\"?([^\",\s]*)", re.IGNORECASE)


def _challenge(exchange: Exchange) -> str:
    return exchange.header("www-authenticate") or ""


def _require_bearer_presentation(ctx: CheckContext) -> None:
    if "bearer" not in ctx.profile.protected.present:
        raise CheckSkipped("the profile presents access tokens only by cookie (protected.present has no 'bearer')")


# RFC 6750 §3: "If the protected resource request does not include authentication credentials or
# does not contain an access token that enables access to the protected resource, the resource
# server MUST include the HTTP "WWW-Authenticate" response header field; it MAY include it in
# response to other conditions as well."
@requirement("PRO-01")
def missing_token_gets_bearer_challenge(ctx: CheckContext) -> None:
    """A request without any token gets 401 with a WWW-Authenticate: Bearer challenge."""
    ctx.calibrate()
    response = ctx.new_device().call_protected(None)
    expect.rejected(response, because="a request without credentials was not answered 401", statuses=(401,))
    challenge = _challenge(response)
    expect.that(
        bool(_BEARER.search(challenge)),
        "the 401 for a request without credentials has no Bearer challenge",
        expected='WWW-Authenticate: Bearer realm="…"',
        actual=f"WWW-Authenticate: {challenge or '(absent)'}",
        exchanges=[response],
    )
    # The SHOULD NOT of RFC 6750 §3.1 (no error code in this challenge) is not judged here.


# RFC 6750 §3: "If the protected resource request included an access token and failed
# authentication, the resource server SHOULD include the "error" attribute to provide the client
# with the reason why the access request was declined."
@requirement("PRO-02")
def rejected_token_gets_invalid_token_challenge(ctx: CheckContext) -> None:
    """Malformed, tampered and revoked tokens get 401 with error="invalid_token" (never 403/200/5xx)."""
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    probes: list[tuple[str, str, dict[str, Any] | None]] = [
        ("a malformed token", "tokenconform-not-a-token", None),
        # Two quote characters are a token, not an empty credential (PRO-03): '"' is outside
        # b64token, so it is malformed, and malformed tokens are this check's.
        ("a quoted empty token", '""', None),
    ]
    claims = tokens.access_claims
    if claims is not None:
        tampered = jwt_probes.reencode(tokens.access_token, payload={**claims, "tokenconform": "tampered"})
        probes.append(("a payload-tampered token", tampered, claims))
    logout = ctx.profile.logout
    if logout is not None and logout.token == "access" and ctx.profile.policy.access_token_revoked_at_logout:
        ended = ctx.new_device()
        revoked = ended.login()
        answer = ended.logout_exchange(revoked)
        if answer.status not in logout.endpoint.success_status:
            raise TargetError(
                f"logout failed with {answer.status}, so no revoked token to probe", evidence=[answer.describe()]
            )
        probes.append(("a token revoked by logout", revoked.access_token, revoked.access_claims))
    for label, token, claims in probes:
        for via in ctx.profile.protected.present:
            response = device.call_protected(token, via=via)
            ctx.require_unexpired(claims, response.sent_at, label)
            expect.rejected(response, because=f"{label} (presented by {via}) was not answered 401", statuses=(401,))
            if via != "bearer":
                continue  # the challenge's error code is the Bearer scheme's (RFC 6750 §3)
            challenge = _challenge(response)
            error = _ERROR_ATTRIBUTE.search(challenge)
            expect.that(
                bool(_BEARER.search(challenge)) and error is not None and error.group(1) == "invalid_token",
                f"the 401 for {label} does not say invalid_token",
                expected='WWW-Authenticate: Bearer …, error="invalid_token"',
                actual=f"WWW-Authenticate: {challenge or '(absent)'}",
                exchanges=[response],
            )
    still_valid(ctx, device, tokens)


# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
@requirement("PRO-03")
def empty_bearer_credential_is_refused(ctx: CheckContext) -> None:
    """Authorization: Bearer with nothing after it gets 400 or 401, never 2xx and never 5xx."""
    _require_bearer_presentation(ctx)
    ctx.calibrate()
    device = ctx.new_device()
    for label, value in (("Bearer", "Bearer"), ("Bearer and a space", "Bearer ")):
        response = device.call_protected(None, extra_headers={"Authorization": value})
        expect.rejected(
            response,
            because=f"an empty Bearer credential ({label}) was not refused with 400 or 401",
            statuses=(400, 401),
        )


# RFC 6750 §3.1: "The request requires higher privileges than provided by the access token. The
# resource server SHOULD respond with the HTTP 403 (Forbidden) status code and MAY include the
# "scope" attribute with the scope necessary to access the protected resource."
@requirement("PRO-04", needs=(preconditions.privileged_path,))
def insufficient_rights_get_forbidden(ctx: CheckContext) -> None:
    """A normal user's valid token on the declared privileged route gets 403 (not 401, 404 or 200)."""
    path = ctx.profile.policy.privileged_path
    if not path:
        raise CheckSkipped(
            "the profile declares no privileged route: set policy.privileged_path to a route a normal user may not use"
        )
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    via = ctx.profile.protected.present[0]
    response = device.call_protected(tokens.access_token, via=via, path=path)
    if response.status == 401:
        ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
    expect.rejected(
        response,
        because=f"a normal user's valid token on the privileged route {path} was not answered 403",
        statuses=(403,),
    )


# RFC 6750 §2.1: "Clients SHOULD make authenticated requests with a bearer token using the
# "Authorization" request header field with the "Bearer" HTTP authorization scheme. Resource
# servers MUST support this method."
@requirement("PRO-05")
def bearer_scheme_is_case_insensitive(ctx: CheckContext) -> None:
    """bearer, Bearer, BEARER and bEaReR all open the protected resource with a valid token."""
    _require_bearer_presentation(ctx)
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        response = device.call_protected(tokens.access_token, via="bearer", scheme=scheme)
        if not response.ok:
            ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
        # RFC 9110 §11.1: "It uses a case-insensitive token to identify the authentication scheme".
        expect.accepted(response, because=f"a valid token with the scheme written {scheme!r} was refused")


# RFC 6750 §2.3: "Because of the security weaknesses associated with the URI method (see Section
# 5), including the high likelihood that the URL containing the access token will be logged, it
# SHOULD NOT be used unless it is impossible to transport the access token in the
# "Authorization" request header field or the HTTP request entity-body."
@requirement("PRO-06")
def access_token_not_accepted_in_url(ctx: CheckContext) -> None:
    """A valid access token passed only as ?access_token= does not open the protected resource."""
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    response = device.call_protected(None, query=f"access_token={tokens.access_token}")
    ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
    expect.rejected(response, because="a valid access token in the URL query was accepted")
    still_valid(ctx, device, tokens)


# RFC 6750 §5.3: "Implementations that do store bearer tokens in cookies MUST take precautions
# against cross-site request forgery."
@requirement("PRO-07", needs=(preconditions.cookie_presentation,))
def cookie_access_tokens_have_csrf_protection(ctx: CheckContext) -> None:
    """The access cookie is SameSite=Lax/Strict, or a cross-site form POST riding on it is refused."""
    profile = ctx.profile
    if "cookie" not in profile.protected.present:
        raise CheckSkipped("the profile does not accept the access token from a cookie (protected.present)")
    device = ctx.new_device()
    tokens = device.login()
    cookie_name = profile.tokens_access.cookie
    cookie = tokens.exchange.cookie(cookie_name)
    samesite = (cookie.samesite or "").lower() if cookie is not None else ""
    described = f"SameSite={cookie.samesite}" if cookie is not None and cookie.samesite else "no SameSite attribute"
    if samesite in ("lax", "strict"):
        return  # RFC 6265bis §8.8 (SameSite): browsers withhold the cookie from cross-site POSTs
    logout = profile.logout
    if logout is None or logout.token != "access" or "cookie" not in logout.present:
        raise CheckSkipped(
            f"the access cookie has {described} and the profile declares no "
            "state-changing endpoint authenticated by it (logout with present = ['cookie']) "
            "to try a cross-site request on"
        )
    # What <form method=post action=…/logout> on another site sends: the cookie, a cross-site
    # Origin, a CORS-safelisted content type and no custom header (so no CSRF header).
    response = device.send(
        logout.endpoint.method,
        logout.endpoint.path,
        headers={
            "Origin": "https://attacker.example",
            "Sec-Fetch-Site": "cross-site",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        raw_body=b"",
        cookies={cookie_name: tokens.access_token},
        use_jar=False,
        presented=f"cross-site form POST with cookie {cookie_name}",
    )
    ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
    expect.rejected(
        response,
        because=(
            f"the access cookie has {described}, and a cross-site form POST "
            f"to {logout.endpoint.path} carrying it was obeyed"
        ),
    )


# RFC 6750 §2.1: "Clients SHOULD make authenticated requests with a bearer token using the
# "Authorization" request header field with the "Bearer" HTTP authorization scheme. Resource
# servers MUST support this method."
@requirement("PRO-08")
def valid_access_token_is_accepted_by_every_presentation(ctx: CheckContext) -> None:
    """A fresh access token opens the protected resource by each declared way (Bearer, cookie)."""
    for via in ctx.profile.protected.present:
        device = ctx.new_device()
        tokens = device.login()
        response = device.call_protected(tokens.access_token, via=via)
        if not response.ok:
            ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
        expect.accepted(response, because=f"a fresh access token presented by {via} was refused")


#: What a non-Bearer Authorization header looks like when a client (or a library default) gets it
#: wrong; a resource server that strips any first word, or takes the whole header, accepts these.
_OTHER_SCHEMES = ("Basic", "Token", "JWT")


# RFC 6750 §2.1: "When sending the access token in the "Authorization" request header field
# defined by HTTP/1.1 [RFC2617], the client uses the "Bearer" authentication scheme to transmit
# the access token."
@requirement("PRO-09")
def only_the_bearer_scheme_carries_an_access_token(ctx: CheckContext) -> None:
    """A valid access token sent bare, or under Basic, Token or JWT, does not open the protected resource."""
    ctx.calibrate()
    device = ctx.new_device()
    tokens = device.login()
    token = tokens.access_token
    # The seed's middleware takes authHeader.split(' ')[1] (any first word passes); others take
    # the whole header when it has no space. Both let a token through without the Bearer scheme.
    endpoint = ctx.profile.protected.endpoint
    probes = [("no scheme", "", token)] + [(f"the {s} scheme", f"{s} ", token) for s in _OTHER_SCHEMES]
    for label, prefix, value in probes:
        # Device.call_protected always writes "<scheme> <token>"; a bare token needs the header by hand.
        response = device.send(
            endpoint.method,
            endpoint.path,
            headers={"Authorization": prefix + value},
            use_jar=False,  # the header alone: no token cookie, named by the profile or not
            presented=f"Authorization: {prefix}{shorten(value)}",
        )
        ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
        expect.rejected(response, because=f"a valid access token with {label} in the Authorization header was accepted")
    still_valid(ctx, device, tokens)
