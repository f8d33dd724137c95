"""Cookies: the attributes and lifecycle of the cookies that carry tokens."""

from __future__ import annotations

from dataclasses import dataclass

from .. import expect, preconditions
from ..context import CheckContext
from ..device import Exchange, SetCookie, Tokens, decode_unverified
from ..errors import CheckSkipped, DeviationDeclared
from ..registry import requirement

#: Seconds of tolerance between a cookie's lifetime and its token's (Date and exp are whole seconds).
LIFETIME_SLACK = 2


@dataclass(frozen=True)
class TokenCookie:
    """A Set-Cookie that carries a token, with the response it came in."""

    kind: str  # "access" or "refresh"
    cookie: SetCookie
    exchange: Exchange
    what: str  # "login" or "refresh"


def _token_cookie_names(ctx: CheckContext) -> dict[str, str]:
    names = {}
    if ctx.profile.tokens_access.cookie:
        names["access"] = ctx.profile.tokens_access.cookie
    if ctx.profile.tokens_refresh.cookie:
        names["refresh"] = ctx.profile.tokens_refresh.cookie
    if not names:
        raise CheckSkipped("the profile delivers no token in a cookie (tokens.*.cookie is not set)")
    return names


def _issued_cookies(ctx: CheckContext) -> tuple[list[TokenCookie], Tokens, Tokens]:
    """Token cookies set by a fresh login and by the refresh after it.

    A token cookie is one the profile names, or any cookie whose value is an issued token: a
    target that also sets token cookies the profile does not mention (the seed sets them beside
    its JSON body) exposes those tokens all the same, so their attributes are judged too.
    """
    names = {}
    if ctx.profile.tokens_access.cookie:
        names["access"] = ctx.profile.tokens_access.cookie
    if ctx.profile.tokens_refresh.cookie:
        names["refresh"] = ctx.profile.tokens_refresh.cookie
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    found = []
    for what, tokens in (("login", login), ("refresh", refreshed)):
        for kind, name in names.items():
            cookie = tokens.exchange.cookie(name)
            if cookie is not None:
                found.append(TokenCookie(kind, cookie, tokens.exchange, what))
        undeclared = {tokens.access_token: "access", tokens.refresh_token: "refresh"}
        for set_cookie in tokens.exchange.set_cookies:
            carried = undeclared.get(set_cookie.value)
            if carried is not None and set_cookie.name not in names.values():
                found.append(TokenCookie(carried, set_cookie, tokens.exchange, what))
    if not found and names:
        raise expect.fail(
            "the profile names token cookies, but neither login nor refresh set any",
            expected=f"Set-Cookie for {', '.join(names.values())}",
            actual="no such Set-Cookie",
            exchanges=[login.exchange, refreshed.exchange],
        )
    if not found:
        raise CheckSkipped("no token travels in a cookie: neither login nor refresh set a cookie holding a token")
    return found, login, refreshed


def _each(found: list[TokenCookie], ok: object, message: str, expected: str) -> None:
    assert callable(ok)
    for item in found:
        expect.that(
            bool(ok(item.cookie)),
            f"the {item.kind} token cookie {item.cookie.name!r} set by {item.what} {message}",
            expected=expected,
            actual=item.cookie.raw,
            exchanges=[item.exchange],
        )


# RFC 6750 §5.3: "Don't store bearer tokens in cookies: Implementations MUST NOT store bearer
# tokens within cookies that can be sent in the clear"
@requirement("CKE-01")
def token_cookies_are_secure(ctx: CheckContext) -> None:
    """Every Set-Cookie that carries a token has the Secure attribute."""
    found, _, _ = _issued_cookies(ctx)
    _each(found, lambda c: c.secure, "lacks Secure, so it can travel over plain http", "Secure")


# ASVS 5.0 V3.3.4: cookies holding session tokens must have the HttpOnly attribute set.
@requirement("CKE-02")
def token_cookies_are_httponly(ctx: CheckContext) -> None:
    """Every Set-Cookie that carries a token has the HttpOnly attribute."""
    found, _, _ = _issued_cookies(ctx)
    _each(found, lambda c: c.httponly, "lacks HttpOnly, so page scripts can read it", "HttpOnly")


# ASVS 5.0 V3.3.2: session cookies set SameSite according to the purpose of the cookie.
@requirement("CKE-03")
def token_cookies_set_samesite(ctx: CheckContext) -> None:
    """Every token cookie has SameSite=Strict or Lax."""
    found, _, _ = _issued_cookies(ctx)
    _each(
        found,
        lambda c: (c.samesite or "").lower() in ("strict", "lax"),
        "does not set SameSite=Strict or Lax, so cross-site requests carry it",
        "SameSite=Strict or SameSite=Lax",
    )


# draft-ietf-httpbis-rfc6265bis §4.1.3: cookies named __Secure- must be Secure, and __Host-
# cookies must also have Path=/ and no Domain (user agents ignore them otherwise).
@requirement("CKE-04")
def cookie_prefixes_follow_their_rules(ctx: CheckContext) -> None:
    """A __Secure- cookie is Secure; a __Host- cookie is Secure, Path=/ and host-only."""
    found, _, _ = _issued_cookies(ctx)
    prefixed = [i for i in found if i.cookie.name.lower().startswith(("__secure-", "__host-"))]
    if not prefixed:
        names = sorted({i.cookie.name for i in found})
        raise CheckSkipped(f"no token cookie uses a __Secure- or __Host- prefix ({', '.join(names)}): nothing to judge")
    for item in prefixed:
        name = item.cookie.name.lower()
        cookie = item.cookie
        if name.startswith("__secure-") or name.startswith("__host-"):
            expect.that(
                cookie.secure,
                f"{cookie.name!r} uses a prefix that requires Secure, and browsers will drop it",
                expected="Secure",
                actual=cookie.raw,
                exchanges=[item.exchange],
            )
        if name.startswith("__host-"):
            expect.that(
                cookie.path == "/" and cookie.domain is None,
                f"{cookie.name!r} breaks the __Host- rules (Path=/ and no Domain), so browsers will drop it",
                expected="Path=/ and no Domain attribute",
                actual=cookie.raw,
                exchanges=[item.exchange],
            )


# OWASP Session Management Cheat Sheet, Domain and Path Attributes: "It is recommended to not
# set [the domain cookie attribute]" so the cookie stays host-only.
@requirement("CKE-05")
def token_cookies_are_host_only(ctx: CheckContext) -> None:
    """Token cookies carry no Domain attribute."""
    found, _, _ = _issued_cookies(ctx)
    _each(
        found,
        lambda c: c.domain is None,
        "sets Domain, so every subdomain receives it",
        "no Domain attribute (host-only cookie)",
    )


# OWASP JWT Cheat Sheet (Java), Token Sidejacking: the cookie's expiration must not exceed the
# token's.
@requirement("CKE-06")
def cookie_lifetime_not_longer_than_token(ctx: CheckContext) -> None:
    """A token cookie's Max-Age/Expires is present and not longer than its token's remaining lifetime."""
    found, _, _ = _issued_cookies(ctx)
    for item in found:
        token = item.cookie.value

        decoded = decode_unverified(token)
        date = item.exchange.server_date or item.exchange.received_at
        lifetime = item.cookie.lifetime(date)
        expect.that(
            lifetime is not None,
            f"the {item.kind} token cookie set by {item.what} has no Max-Age or Expires, "
            "so its lifetime is not tied to the token's",
            expected="Max-Age (or Expires) no longer than the token's lifetime",
            actual=item.cookie.raw,
            exchanges=[item.exchange],
        )
        if decoded is None or not isinstance(decoded[1].get("exp"), (int, float)):
            continue  # an opaque token: only the presence of a lifetime can be judged
        remaining = float(decoded[1]["exp"]) - (item.exchange.server_date or ctx.server_now())
        assert lifetime is not None
        expect.that(
            lifetime <= remaining + LIFETIME_SLACK,
            f"the {item.kind} token cookie set by {item.what} outlives its token",
            expected=f"lifetime <= {remaining:.0f} s (token exp)",
            actual=f"lifetime {lifetime:.0f} s: {item.cookie.raw}",
            exchanges=[item.exchange],
        )


# draft-ietf-httpbis-rfc6265bis §5.7: a user agent ignores a cookie whose name and value
# together exceed 4096 octets.
@requirement("CKE-07")
def token_cookies_fit_browser_limit(ctx: CheckContext) -> None:
    """name + value of every token cookie is at most 4096 octets."""
    found, _, _ = _issued_cookies(ctx)
    _each(
        found,
        lambda c: len(c.name.encode()) + len(c.value.encode()) <= 4096,
        "is over 4096 octets, so browsers ignore it",
        "name + value <= 4096 octets",
    )


def _attribute_tuple(cookie: SetCookie) -> tuple[str | None, str | None]:
    return (cookie.path, (cookie.domain or "").lower().lstrip(".") or None)


# draft-ietf-httpbis-rfc6265bis §4.1.1: "Servers SHOULD NOT include more than one Set-Cookie
# header field in the same response with the same cookie-name."; replacement is keyed on name,
# domain and path (§5.7), so login, refresh and logout must agree on them.
@requirement("CKE-08", needs=(preconditions.token_cookies,))
def set_cookie_headers_are_consistent(ctx: CheckContext) -> None:
    """No response sets a token cookie twice or repeats an attribute; Path/Domain agree across responses."""
    names = _token_cookie_names(ctx)
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    exchanges = [("login", login.exchange), ("refresh", refreshed.exchange)]
    if ctx.profile.logout is not None:
        exchanges.append(("logout", device.logout_exchange(refreshed)))
    first_seen: dict[str, tuple[str, tuple[str | None, str | None], SetCookie]] = {}
    for what, exchange in exchanges:
        seen_here: set[str] = set()
        for cookie in exchange.set_cookies:
            if cookie.name not in names.values():
                continue
            expect.that(
                cookie.name not in seen_here,
                f"the {what} response sets {cookie.name!r} more than once",
                expected="one Set-Cookie per cookie name",
                actual="; ".join(c.raw for c in exchange.set_cookies if c.name == cookie.name),
                exchanges=[exchange],
            )
            seen_here.add(cookie.name)
            repeated = {a for a in cookie.attribute_names if cookie.attribute_names.count(a) > 1}
            expect.that(
                not repeated,
                f"the {what} response's {cookie.name!r} repeats attributes {sorted(repeated)}",
                expected="each attribute once",
                actual=cookie.raw,
                exchanges=[exchange],
            )
            scope = _attribute_tuple(cookie)
            if cookie.name in first_seen:
                first_what, first_scope, first_cookie = first_seen[cookie.name]
                expect.that(
                    scope == first_scope,
                    f"{cookie.name!r} is set by {first_what} and by {what} with different Path/Domain, "
                    "so the browser keeps two cookies instead of replacing one",
                    expected=f"{first_what}: {first_cookie.raw}",
                    actual=f"{what}: {cookie.raw}",
                    exchanges=[exchange],
                )
            else:
                first_seen[cookie.name] = (what, scope, cookie)


# ASVS 5.0 V3.3.4: session tokens for browser clients are delivered only in cookies, so scripts
# never see them.
@requirement("CKE-09", needs=(preconditions.token_cookies,))
def cookie_tokens_not_also_in_body(ctx: CheckContext) -> None:
    """When cookies carry the session, token values are not also in the JSON body."""
    _token_cookie_names(ctx)
    if ctx.profile.policy.delivery == "both":
        raise DeviationDeclared(
            'the profile declares delivery = "both": tokens come in the JSON body as well as in '
            "HttpOnly cookies, which ASVS 5.0 V3.3.4 advises against for browser clients"
        )
    if ctx.profile.policy.delivery == "body":
        raise CheckSkipped('the profile declares delivery = "body": cookies do not carry the session')
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    for what, tokens in (("login", login), ("refresh", refreshed)):
        body = tokens.exchange.text
        for kind, token in (("access", tokens.access_token), ("refresh", tokens.refresh_token)):
            expect.that(
                token not in body,
                f"the {what} response also puts the {kind} token in its body, "
                "where scripts can read it, although the profile declares cookie-only delivery",
                expected="the token only in Set-Cookie",
                actual=f"body contains the {kind} token",
                exchanges=[tokens.exchange],
            )


# Seed design: the refresh endpoint sets both cookies again; a stale cookie would keep
# presenting a used refresh token.
@requirement("CKE-10", needs=(preconditions.token_cookies,))
def refresh_updates_token_cookies(ctx: CheckContext) -> None:
    """When cookies carry the tokens, a refresh sets both cookies again with the new values."""
    names = _token_cookie_names(ctx)
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    for kind, name in names.items():
        if kind == "refresh" and not refreshed.refresh_sources:
            continue  # RFC 6749 §6: no new refresh token was issued, so there is no new value to set (ROT-01)
        cookie = refreshed.exchange.cookie(name)
        expect.that(
            cookie is not None and bool(cookie.value),
            f"the refresh response does not set the {kind} token cookie {name!r} again",
            expected=f"Set-Cookie: {name}=<new token>",
            actual="no such Set-Cookie",
            exchanges=[refreshed.exchange],
        )
        assert cookie is not None
        old = login.access_token if kind == "access" else login.refresh_token
        expect.that(
            cookie.value != old,
            f"the refresh response sets the {kind} token cookie {name!r} to the old token",
            expected="the new token",
            actual="the token from login",
            exchanges=[refreshed.exchange],
        )


# OWASP Session Management Cheat Sheet, Domain and Path Attributes: set Path explicitly; a
# defaulted path depends on the request URI, so deletion at another URI misses the cookie.
@requirement("CKE-11")
def token_cookies_have_explicit_path(ctx: CheckContext) -> None:
    """Every token cookie sets Path explicitly."""
    found, _, _ = _issued_cookies(ctx)
    _each(
        found,
        lambda c: bool(c.path) and c.path.startswith("/"),
        "has no explicit Path, so its scope depends on the URL that set it",
        "Path=/... attribute",
    )
