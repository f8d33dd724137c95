"""Set and clear the two auth cookies: the one place that decides their names and attributes.

    accessToken=<jwt>;  Max-Age=<left>; Path=/; Secure; HttpOnly; SameSite=Lax
    refreshToken=<jwt>; Max-Age=<left>; Path=/; Secure; HttpOnly; SameSite=Strict

The ``Set-Cookie`` lines are written by hand rather than through bottle's ``set_cookie()``: its
``secret=`` option pickles the value (STYLE.md), and ``http.cookies`` quotes values and orders
attributes its own way. Writing them here keeps every attribute visible and testable.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "ACCESS_COOKIE",
    "REFRESH_COOKIE",
    "access_cookie_name",
    "clear_auth_cookies",
    "refresh_cookie_name",
    "set_auth_cookies",
]

#: the seed's cookie names, before ``settings.cookie_prefix``
ACCESS_COOKIE = "accessToken"
REFRESH_COOKIE = "refreshToken"

# Path=/ for both. The refresh cookie cannot be narrowed to /refresh because /logout must also
# receive it (a client whose access token expired logs out with its refresh token). The
# "__Host-" prefix requires Path=/ anyway (RFC 6265bis §4.1.3.2).
_PATH = "/"

# RFC 6265 §4.1.1: cookie-octet excludes CTLs, whitespace, DQUOTE, comma, semicolon and
# backslash. A JWT (base64url segments and dots) always fits; anything else is a bug upstream,
# and writing it would let a value inject attributes.
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*")

# RFC 6265bis §5.6.1: an Expires in the past deletes the cookie in clients that ignore Max-Age.
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


class _Tokens(Protocol):
    """What this module reads from ``sessions.IssuedTokens``."""

    @property
    def access_token(self) -> str: ...
    @property
    def refresh_token(self) -> str: ...
    @property
    def access_expires_at(self) -> float: ...
    @property
    def refresh_expires_at(self) -> float: ...


def access_cookie_name(settings: Settings) -> str:
    """``accessToken``, or ``__Host-accessToken`` with ``cookie_prefix="__Host-"``."""
    return settings.cookie_prefix + ACCESS_COOKIE


def refresh_cookie_name(settings: Settings) -> str:
    """``refreshToken``, or ``__Host-refreshToken`` with ``cookie_prefix="__Host-"``."""
    return settings.cookie_prefix + REFRESH_COOKIE


def _attributes(same_site: str) -> str:
    # RFC 6265bis §4.1.2.5 and §4.1.2.6: Secure and HttpOnly keep the token off plain-http requests
    # and away from scripts. No Domain attribute: host-only, as "__Host-" demands (§4.1.3.2).
    return f"Path={_PATH}; Secure; HttpOnly; SameSite={same_site}"


def _remaining(expires_at: float, now: float) -> int:
    # RFC 6265bis §5.6.2: Max-Age is whole seconds. Round down, so the cookie never outlives
    # the token it carries; a token already expired gives 0 (the client deletes it).
    return max(0, math.floor(expires_at - now))


def _put(response: Any, name: str, header: str) -> None:
    """Add ``header`` as the only ``Set-Cookie`` for ``name`` in ``response``.

    Setting a cookie twice in one response would leave the client to guess which one wins
    (RFC 6265 §4.1.1: "Servers SHOULD NOT include more than one Set-Cookie header field in the
    same response with the same cookie-name."), so an earlier one for the name is dropped.
    """
    kept = [value for value in response.headers.getall("Set-Cookie") if _name_of(value) != name]
    if "Set-Cookie" in response.headers:
        del response.headers["Set-Cookie"]
    for value in [*kept, header]:
        response.add_header("Set-Cookie", value)


def _name_of(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[0].strip()


def _cookie(name: str, value: str, max_age: int, same_site: str) -> str:
    if not _COOKIE_VALUE.fullmatch(value):
        raise ValueError(f"refusing to put a value with characters outside RFC 6265 cookie-octet in {name}")
    return f"{name}={value}; Max-Age={max_age}; {_attributes(same_site)}"


def set_auth_cookies(response: Any, tokens: _Tokens, settings: Settings, now: float) -> None:
    """Set both auth cookies on a bottle response, each living exactly as long as its token.

    ``now`` is the clock the tokens were issued by, so Max-Age is the remaining lifetime.
    """
    # SameSite=Lax for the access token: a top-level navigation to /profile may carry it, but no
    # cross-site POST can. SameSite=Strict for the refresh token: no cross-site request at all
    # can use it to mint tokens (RFC 6265bis §4.1.2.7 and §8.8).
    access = access_cookie_name(settings)
    refresh = refresh_cookie_name(settings)
    _put(response, access, _cookie(access, tokens.access_token, _remaining(tokens.access_expires_at, now), "Lax"))
    _put(
        response,
        refresh,
        _cookie(refresh, tokens.refresh_token, _remaining(tokens.refresh_expires_at, now), "Strict"),
    )


def clear_auth_cookies(response: Any, settings: Settings) -> None:
    """Clear both auth cookies: empty value, Max-Age=0, an Expires in the past.

    The Path and the other attributes are the ones they were set with: a client only replaces a
    cookie with the same name, domain and path (RFC 6265bis §5.7), and a "__Host-" cookie
    is only accepted with Secure and Path=/ even when it deletes.
    """
    for name, same_site in ((access_cookie_name(settings), "Lax"), (refresh_cookie_name(settings), "Strict")):
        _put(response, name, f"{name}=; Max-Age=0; Expires={_EPOCH}; {_attributes(same_site)}")
