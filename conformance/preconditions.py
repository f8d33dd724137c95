"""What a check needs from the profile and the run before it can judge anything.

A check names its preconditions in its decorator (``@requirement("LGO-01", needs=(logout,))``);
the engine skips it with the precondition's reason before sending a request, and ``--list``
shows, per enabled check, whether and why it will skip. One place for each reason, so the list
and the run never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import RunConfig
    from .profile import Profile

#: A precondition: None when it holds, else why the check cannot judge the target.
Precondition = Callable[["Profile", "RunConfig"], "str | None"]


def logout(profile: Profile, config: RunConfig) -> str | None:
    return None if profile.logout is not None else "the profile declares no [logout] endpoint"


def logout_all(profile: Profile, config: RunConfig) -> str | None:
    return None if profile.logout_all is not None else "the profile declares no [logout_all] endpoint"


def token_cookies(profile: Profile, config: RunConfig) -> str | None:
    if profile.tokens_access.cookie or profile.tokens_refresh.cookie:
        return None
    return "the profile delivers no token in a cookie (tokens.*.cookie is not set)"


def register(profile: Profile, config: RunConfig) -> str | None:
    return None if profile.register is not None else "the profile declares no [register] endpoint"


def register_because(why: str) -> Precondition:
    """[register] is needed, for the reason given (it is named in the skip)."""

    def needs_register(profile: Profile, config: RunConfig) -> str | None:
        return None if profile.register is not None else f"needs a [register] endpoint: {why}"

    return needs_register


def privileged_path(profile: Profile, config: RunConfig) -> str | None:
    if profile.policy.privileged_path:
        return None
    return "the profile declares no privileged route: set policy.privileged_path to a route a normal user may not use"


def idle_timeout(profile: Profile, config: RunConfig) -> str | None:
    if profile.policy.idle_timeout > 0:
        return None
    return "the profile declares no policy.idle_timeout; declare the target's idle timeout to check it"


def grace_window(profile: Profile, config: RunConfig) -> str | None:
    if profile.policy.concurrent_refresh_grace > 0:
        return None
    return (
        "the profile declares no retry grace window (policy.concurrent_refresh_grace = 0); "
        "REU-01 holds replays to strict rotation"
    )


def two_refresh_presentations(profile: Profile, config: RunConfig) -> str | None:
    if {"cookie", "body"} <= set(profile.refresh.present):
        return None
    return "the profile declares one way to present a refresh token (refresh.present), so no conflict can arise"


def bearer_presentation(profile: Profile, config: RunConfig) -> str | None:
    if "bearer" in profile.protected.present:
        return None
    return "the profile presents access tokens only by cookie (protected.present has no 'bearer')"


def cookie_presentation(profile: Profile, config: RunConfig) -> str | None:
    if "cookie" in profile.protected.present:
        return None
    return "the profile does not accept the access token from a cookie (protected.present)"


def https_target(profile: Profile, config: RunConfig) -> str | None:
    if config.target.lower().startswith("https://"):
        return None
    return (
        f"the target {config.target} is plain http: TLS and HSTS can only be checked on an https deployment "
        "(run with --target https://…)"
    )


def unmet(needs: tuple[Precondition, ...], profile: Profile, config: RunConfig) -> str | None:
    """The first unmet precondition's reason, or None."""
    for need in needs:
        reason = need(profile, config)
        if reason is not None:
            return reason
    return None
