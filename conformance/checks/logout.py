"""Logout and revocation: ending a session kills its tokens and cookies, and nothing else."""

from __future__ import annotations

from collections.abc import Generator

from .. import expect, preconditions
from ..context import CheckContext, Wait
from ..device import Device, Exchange, Tokens, shorten
from ..errors import CheckSkipped, DeviationDeclared
from ..evidence import clip
from ..profile import LogoutSpec
from ..registry import requirement


def _logout_spec(ctx: CheckContext) -> LogoutSpec:
    if ctx.profile.logout is None:
        raise CheckSkipped("the profile declares no [logout] endpoint")
    return ctx.profile.logout


# ASVS 5.0 V7.4.1: when session termination is triggered (such as logout or expiration), the
# application disallows any further use of the session.
@requirement("LGO-01", needs=(preconditions.logout,))
def logout_kills_refresh_token(ctx: CheckContext) -> None:
    """After logout (by every declared presentation), the session's refresh token is rejected."""
    spec = _logout_spec(ctx)
    for via in spec.present:
        device = ctx.new_device()
        tokens = device.login()
        logout = device.logout_exchange(tokens, via=via)
        expect.accepted(
            logout, because=f"logout (token presented by {via}) failed", statuses=spec.endpoint.success_status
        )
        replay = device.refresh_exchange(tokens.refresh_token)
        ctx.require_unexpired(tokens.refresh_expiry, replay.sent_at, "the refresh token")
        expect.rejected(
            replay,
            because=f"the refresh token still works after logout (token presented by {via})",
            statuses=ctx.profile.policy.refresh_rejection_status,
        )


# ASVS 5.0 V7.4.1: for self-contained tokens this means a deny list or a per-user cut-off, so
# an access token dies with its session.
@requirement("LGO-02", needs=(preconditions.logout,))
def logout_kills_access_token(ctx: CheckContext) -> None:
    """After logout the session's access token is rejected, and replaying logout gets a 4xx."""
    spec = _logout_spec(ctx)
    device = ctx.new_device()
    tokens = device.login()
    logout = device.logout_exchange(tokens)
    expect.accepted(logout, because="logout failed", statuses=spec.endpoint.success_status)
    if not ctx.profile.policy.access_token_revoked_at_logout:
        raise DeviationDeclared(
            "the profile declares access_token_revoked_at_logout = false: access tokens live to "
            "their exp after logout (ASVS 5.0 V7.4.1 asks for immediate revocation)"
        )
    for via in ctx.profile.protected.present:
        after = device.call_protected(tokens.access_token, via=via)
        ctx.require_unexpired(tokens.access_expiry, after.sent_at, "the access token")
        expect.rejected(after, because=f"the access token still opens the protected resource ({via}) after logout")
    if spec.semantics == "rfc7009":
        # RFC 7009 §2.2: "invalid tokens do not cause an error response since the client cannot
        # handle such an error in a reasonable way" -- a replayed revocation answers 200 by design.
        return
    replay = device.logout_exchange(tokens)
    expect.rejected(replay, because="replaying logout with the ended session's token was answered as a success")


# draft-ietf-httpbis-rfc6265bis §5.6.2: a Max-Age of zero or less makes the cookie expire at
# once; the deleting Set-Cookie must name the same cookie (name, domain, path: §5.7).
@requirement(
    "LGO-03",
    needs=(
        preconditions.logout,
        preconditions.token_cookies,
    ),
)
def logout_clears_token_cookies(ctx: CheckContext) -> None:
    """Logout deletes each token cookie with the same name, Path and Domain as login set."""
    spec = _logout_spec(ctx)
    names = [n for n in (ctx.profile.tokens_access.cookie, ctx.profile.tokens_refresh.cookie) if n]
    if not names:
        raise CheckSkipped("the profile delivers no token in a cookie (tokens.*.cookie is not set)")
    device = ctx.new_device()
    tokens = device.login()
    logout = device.logout_exchange(tokens)
    expect.accepted(logout, because="logout failed", statuses=spec.endpoint.success_status)
    date = logout.server_date or logout.received_at
    for name in names:
        set_by_login = tokens.exchange.cookie(name)
        if set_by_login is None:
            continue
        deleting = logout.cookie(name)
        expect.that(
            deleting is not None and deleting.deletes(date),
            f"logout does not delete the {name!r} cookie, so the browser keeps the token",
            expected=f"Set-Cookie: {name}=; Max-Age=0 (or an Expires in the past)",
            actual=deleting.raw if deleting is not None else "no Set-Cookie for it",
            exchanges=[logout],
        )
        assert deleting is not None
        same_scope = (deleting.path, (deleting.domain or "").lower()) == (
            set_by_login.path,
            (set_by_login.domain or "").lower(),
        )
        expect.that(
            same_scope,
            f"logout deletes {name!r} with another Path/Domain than login set, so the real cookie survives",
            expected=f"Path={set_by_login.path} Domain={set_by_login.domain}",
            actual=deleting.raw,
            exchanges=[tokens.exchange, logout],
        )


# OWASP Session Management Cheat Sheet: the Clear-Site-Data header on logout clears the
# browser's cookies, storage and cache for the origin.
@requirement("LGO-04", needs=(preconditions.logout,))
def logout_sends_clear_site_data(ctx: CheckContext) -> None:
    """The logout response carries Clear-Site-Data naming cookies, storage or cache."""
    spec = _logout_spec(ctx)
    device = ctx.new_device()
    tokens = device.login()
    logout = device.logout_exchange(tokens)
    expect.accepted(logout, because="logout failed", statuses=spec.endpoint.success_status)
    value = (logout.header("clear-site-data") or "").lower()
    expect.that(
        any(directive in value for directive in ('"cookies"', '"storage"', '"cache"', '"*"')),
        "logout sends no Clear-Site-Data, so the browser keeps whatever it stored",
        expected='Clear-Site-Data: "cookies" (or "storage", "cache", "*")',
        actual=f"Clear-Site-Data: {logout.header('clear-site-data') or '(absent)'}",
        exchanges=[logout],
    )


# OWASP Session Management Cheat Sheet, Simultaneous Session Logons: each session is its own;
# ending one must not end the user's others.
@requirement("LGO-05", needs=(preconditions.logout,))
def logout_leaves_other_sessions_alive(ctx: CheckContext) -> None:
    """After one session logs out, another session of the same user still works."""
    spec = _logout_spec(ctx)
    user = ctx.new_user()
    laptop = ctx.new_device(user, label="laptop")
    phone = ctx.new_device(user, label="phone")
    laptop_tokens = laptop.login()
    phone_tokens = phone.login()
    expect.accepted(
        laptop.logout_exchange(laptop_tokens), because="logout failed", statuses=spec.endpoint.success_status
    )
    still = phone.call_protected(phone_tokens.access_token)
    ctx.require_unexpired(phone_tokens.access_expiry, still.sent_at, "the other session's access token")
    expect.accepted(still, because="logging out one session killed another session's access token")
    refreshed = phone.refresh_exchange(phone_tokens.refresh_token)
    ctx.require_unexpired(phone_tokens.refresh_expiry, refreshed.sent_at, "the other session's refresh token")
    expect.accepted(
        refreshed,
        because="logging out one session killed another session's refresh token",
        statuses=ctx.profile.refresh.endpoint.success_status,
    )


# ASVS 5.0 V7.5.2: users can view and terminate any or all of their active sessions.
@requirement("LGO-06", ends_all_sessions=True, needs=(preconditions.logout_all,))
def logout_all_ends_every_session(ctx: CheckContext) -> None:
    """After logout-all, every session's refresh token, and earlier access tokens, are rejected.

    It ends every session of its account, so it runs after every other check; with shared
    credentials it uses TOKENCONFORM_USERNAME_3 when given, so not even a later run of another
    suite on the first account is disturbed.
    """
    if ctx.profile.logout_all is None:
        raise CheckSkipped("the profile declares no [logout_all] endpoint")
    user = ctx.own_account()
    devices = [ctx.new_device(user, label=f"session-{n}") for n in (1, 2)]
    sessions = [(device, device.login()) for device in devices]
    first_device, first_tokens = sessions[0]
    ended = first_device.logout_exchange(first_tokens, all_sessions=True)
    expect.accepted(ended, because="logout-all failed", statuses=ctx.profile.logout_all.endpoint.success_status)
    for number, (device, tokens) in enumerate(sessions, start=1):
        replay = device.refresh_exchange(tokens.refresh_token)
        ctx.require_unexpired(tokens.refresh_expiry, replay.sent_at, f"session {number}'s refresh token")
        expect.rejected(
            replay,
            because=f"session {number}'s refresh token still works after logout-all",
            statuses=ctx.profile.policy.refresh_rejection_status,
        )
    if not ctx.profile.policy.access_token_revoked_at_logout:
        raise DeviationDeclared(
            "refresh tokens die at logout-all, but the profile declares access tokens live to their exp"
        )
    for number, (device, tokens) in enumerate(sessions, start=1):
        after = device.call_protected(tokens.access_token)
        ctx.require_unexpired(tokens.access_expiry, after.sent_at, f"session {number}'s access token")
        expect.rejected(after, because=f"session {number}'s access token still works after logout-all")


# ASVS 5.0 V3.5.3: "Verify that HTTP requests to sensitive functionality use appropriate HTTP
# methods such as POST, PUT, PATCH, or DELETE, and not methods defined by the HTTP specification
# as "safe" such as HEAD, OPTIONS, or GET."
@requirement("LGO-08", needs=(preconditions.logout,))
def logout_cannot_be_triggered_by_get(ctx: CheckContext) -> None:
    """A GET to the logout endpoint, presenting the session's token as logout takes it, ends nothing.

    Each declared presentation gets its own session and GET: the token logout is keyed on (access
    or refresh) as Bearer, or the token cookies a browser attaches. A GET has no body, so a
    body-only logout is judged by those cookies, or not at all when the profile names none.
    Afterwards the refresh token must still refresh and, when logout is declared to revoke access
    tokens, the access token must still open the protected resource.
    """
    spec = _logout_spec(ctx)
    if spec.endpoint.method == "GET":
        raise expect.fail(
            "the profile declares logout as GET, so any link or image can log users out",
            expected="logout by POST (or another unsafe method)",
            actual='[logout] method = "GET"',
        )
    ways = _get_presentations(ctx, spec)
    if not ways:
        raise CheckSkipped(
            f"the profile's logout takes the {spec.token} token only in a body field ({spec.field!r}), which a GET "
            "cannot carry, and names no token cookie a browser would attach: no GET can present the session"
        )
    for way in ways:
        device = ctx.new_device()
        tokens = device.login()
        headers, cookies, presented = _get_request(ctx, spec, way, tokens)
        get = device.send(
            "GET", spec.endpoint.path, headers=headers, cookies=cookies, use_jar=False, presented=presented
        )
        because = f"a GET to the logout endpoint ({presented}) ended the session"
        if ctx.profile.policy.access_token_revoked_at_logout:
            # Checked first: the access token is the shorter-lived of the two.
            alive = device.call_protected(tokens.access_token)
            ctx.require_unexpired(tokens.access_expiry, alive.sent_at, "the access token")
            _still_accepted(alive, get, f"{because}: its access token is refused")
        after = device.refresh_exchange(tokens.refresh_token)
        ctx.require_unexpired(tokens.refresh_expiry, after.sent_at, "the refresh token")
        _still_accepted(
            after, get, f"{because}: its refresh token is refused", ctx.profile.refresh.endpoint.success_status
        )


def _still_accepted(exchange: Exchange, get: Exchange, because: str, statuses: tuple[int, ...] = ()) -> None:
    """expect.accepted, with the GET that caused the refusal in the evidence too."""
    expect.that(
        exchange.status in statuses if statuses else exchange.ok,
        because,
        expected=f"status in {list(statuses)}" if statuses else "a 2xx acceptance",
        actual=f"{exchange.status} {clip(exchange.text.strip(), 120)}".strip(),
        exchanges=[get, exchange],
    )


def _token_cookies(ctx: CheckContext) -> tuple[str, ...]:
    return tuple(n for n in (ctx.profile.tokens_access.cookie, ctx.profile.tokens_refresh.cookie) if n)


def _get_presentations(ctx: CheckContext, spec: LogoutSpec) -> list[str]:
    """The declared presentations a GET can make: "bearer", and "cookie" for the token cookies.

    A declared body presentation becomes "cookie" (a GET has no body, but a browser attaches its
    cookies to any GET, a link's or an image's included); a query parameter would be a way the
    profile never declared.
    """
    ways: list[str] = []
    for via in spec.present:
        way = via if via in ("bearer", "cookie") else "cookie"
        if way == "cookie" and not _token_cookies(ctx):
            continue
        if way not in ways:
            ways.append(way)
    return ways


def _get_request(
    ctx: CheckContext, spec: LogoutSpec, way: str, tokens: Tokens
) -> tuple[dict[str, str], dict[str, str], str]:
    """Headers, cookies and a description of a GET presenting ``tokens`` by ``way``.

    No CSRF header: a link or an image sends none, and a safe method needs no CSRF defence.
    """
    token = tokens.access_token if spec.token == "access" else tokens.refresh_token
    if way == "bearer":
        return {"Authorization": f"Bearer {token}"}, {}, f"Bearer <{spec.token} token> {shorten(token)}"
    values = {
        ctx.profile.tokens_access.cookie: tokens.access_token,
        ctx.profile.tokens_refresh.cookie: tokens.refresh_token,
    }
    cookies = {name: value for name, value in values.items() if name}
    return {}, cookies, "token cookies " + ", ".join(sorted(cookies))


# ASVS 5.0 V7.4.1: "Verify that when session termination is triggered (such as logout or
# expiration), the application disallows any further use of the session."
@requirement("LGO-09", needs=(preconditions.logout,))
def logout_works_after_the_access_token_expired(ctx: CheckContext) -> Generator[Wait, None, None]:
    """With the access token expired, logout presenting the refresh token ends the session.

    A client whose access token lapsed (the common case for a user who comes back later) still
    holds its refresh token and must be able to end its session with it. The seed cannot: its
    logoutUser ends the session of req.user._id, which only its access-token middleware sets. The
    refresh token is presented only the ways the profile declares: as the logout's own token, or,
    for a logout keyed on the access token, as the refresh cookie a browser attaches (with the
    expired access token as the profile presents it).
    """
    spec = _logout_spec(ctx)
    if spec.token == "access" and not ctx.profile.tokens_refresh.cookie:
        raise CheckSkipped(
            "the profile's logout is keyed on the access token and the refresh token travels in no cookie: "
            'it declares no way to present the refresh token at logout (set [logout] token = "refresh" if '
            "logout takes it)"
        )
    device = ctx.new_device()
    tokens = device.login()
    if tokens.access_expiry is None:
        raise CheckSkipped(
            "the access token's lifetime is unknown (no exp, no expires_in): set policy.access_ttl to wait it out"
        )
    yield ctx.wait_until(ctx.expiry_deadline(tokens.access_expiry), "waiting for the access token to expire")
    logout = _logout_with_refresh_token(ctx, device, tokens, spec)
    ctx.require_unexpired(tokens.refresh_expiry, logout.sent_at, "the refresh token")
    expect.accepted(
        logout,
        because="with its access token expired, the client could not log out by presenting its refresh token",
        statuses=spec.endpoint.success_status,
    )
    replay = device.refresh_exchange(tokens.refresh_token)
    ctx.require_unexpired(tokens.refresh_expiry, replay.sent_at, "the refresh token")
    expect.rejected(
        replay,
        because="logout with an expired access token answered success, but the session's refresh token still works",
        statuses=ctx.profile.policy.refresh_rejection_status,
    )


def _logout_with_refresh_token(ctx: CheckContext, device: Device, tokens: Tokens, spec: LogoutSpec) -> Exchange:
    """Logout presenting the refresh token the way the profile lets a client hold it."""
    if spec.token == "refresh":
        return device.logout_exchange(tokens)
    # Keyed on the access token: the client sends what it holds, the expired access token as the
    # profile presents it plus the refresh cookie its browser attaches. [logout] field names the
    # body field of the ACCESS token here, so the refresh token never goes in a body.
    refresh_cookie = ctx.profile.tokens_refresh.cookie
    access_cookie = ctx.profile.tokens_access.cookie
    cookies = {refresh_cookie: tokens.refresh_token}
    headers = {"Authorization": f"Bearer {tokens.access_token}"} if "bearer" in spec.present else {}
    if access_cookie and "cookie" in spec.present:
        cookies[access_cookie] = tokens.access_token
        headers.update(device.csrf_headers("access", tokens.access_token))
    body = {**spec.extra, spec.field: tokens.access_token} if "body" in spec.present else dict(spec.extra)
    return device.post_endpoint(
        spec.endpoint,
        body,
        headers=headers,
        cookies=cookies,
        use_jar=False,
        presented=f"expired access token + refresh cookie {refresh_cookie}={shorten(tokens.refresh_token)}",
    )
