"""Named setups the matrix rows run under: the profile, server settings and run config a check needs.

A requirement judged only under a declared policy (a session cap, a leeway, a grace window, a
privileged route ...) needs that declaration in the profile, and often a server setting to match.
Each setup says why it exists; every number is derived from the embedded TTLs and the checks'
own constants, never tuned by hand. The reference server is run once per setup (the differential).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tests.broken._privileged import PRIVILEGED_PATH, with_privileged_route
from tests.broken.logout_by_get_with_refresh_bearer import legit_app as refresh_bearer_logout_app
from tests.conformance.conftest import ACCESS_TTL, REFRESH_TTL
from tokenconform.context import EXPIRY_SLACK, RunConfig
from tokenconform.profile import Profile, load_profile

#: The retry grace window the grace setup declares, and the one grace variants implement.
GRACE = 5
#: The idle timeout the idle setup declares (the reference has none, so it fails EXP-07).
IDLE = ACCESS_TTL
#: Concurrent requests per race round (RunConfig's default, which the matrix runs with).
RACERS: int = {f.name: f.default for f in dataclasses.fields(RunConfig)}["concurrency"]
#: A declared leeway small enough for EXP-03/EXP-04 to reach a verdict within --max-wait.
TIGHT_LEEWAY = 1


def _frozen(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Setup:
    """How a row is run: the profile (built-in name plus section changes), settings, config."""

    #: why a requirement needs this setup (shown in docs/self-proof.md)
    why: str
    profile: str = "reference"
    #: section -> {field: value}, applied with dataclasses.replace (lists become tuples)
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=_frozen)
    #: overrides of tests.conformance.conftest.embedded_settings()
    settings: Mapping[str, Any] = field(default_factory=_frozen)
    #: overrides of the RunConfig
    config: Mapping[str, Any] = field(default_factory=_frozen)
    #: the good side of the differential, when the plain reference app lacks the route under test
    reference_app: Callable[..., Any] | None = None

    def build_profile(self) -> Profile:
        profile = load_profile(self.profile)
        for section, values in self.changes.items():
            current = getattr(profile, section)
            fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            profile = dataclasses.replace(profile, **{section: dataclasses.replace(current, **fixed)})
        return profile


def _policy(**values: Any) -> Mapping[str, Mapping[str, Any]]:
    return _frozen({"policy": _frozen(values)})


SETUPS: dict[str, Setup] = {
    "embedded": Setup(
        why="the embedded run: reference profile, 2 s access / 6 s refresh TTLs, the access key handed to TOK-03"
    ),
    "capped": Setup(
        why="EXP-02 judges only a declared absolute session lifetime (policy.session_max_age). The cap equals a "
        "refresh TTL of twice the embedded one, so the rotations EXP-02 spaces 3 s apart still present a live "
        "token when the whole run's untimed checks finish first",
        changes=_policy(session_max_age=2 * REFRESH_TTL),
        settings=_frozen({"session_max_age": 2 * REFRESH_TTL, "refresh_ttl": 2 * REFRESH_TTL}),
    ),
    "tight_leeway": Setup(
        why=f"EXP-03/EXP-04 reach a verdict within --max-wait only with a small declared leeway "
        f"(policy.max_leeway = {TIGHT_LEEWAY} s; the default 60 s is over --max-wait 15 s)",
        changes=_policy(max_leeway=TIGHT_LEEWAY),
    ),
    "idle": Setup(
        why=f"EXP-07 judges only a declared policy.idle_timeout ({IDLE} s here). The refresh TTL is twice the "
        "embedded one so the token's exp lies well past the idle probe: the check neither skips (exp too close "
        "to tell idleness from expiry) nor errs (token expired by the probe)",
        changes=_policy(idle_timeout=IDLE),
        settings=_frozen({"refresh_ttl": 2 * REFRESH_TTL}),
    ),
    "grace": Setup(
        why=f"REU-07 (and REU-01's wait past the window) judge only a declared retry grace window "
        f"(policy.concurrent_refresh_grace = {GRACE} s). The refresh TTL outlives REU-01's replay after the "
        f"window ({GRACE} s + {EXPIRY_SLACK} s slack) twice over, so the replayed token is refused for reuse, "
        "not for expiry",
        changes=_policy(concurrent_refresh_grace=GRACE),
        settings=_frozen({"refresh_ttl": int(2 * (GRACE + EXPIRY_SLACK)) + REFRESH_TTL}),
    ),
    "privileged": Setup(
        why=f"PRO-04 judges only a declared policy.privileged_path ({PRIVILEGED_PATH}). The reference API has no "
        "privileged route, so the good side is the reference plus a correct one (403 insufficient_scope to a "
        "user without the admin role: tests/broken/_privileged.py)",
        changes=_policy(privileged_path=PRIVILEGED_PATH),
        reference_app=with_privileged_route(check_role=True),
    ),
    "host_prefix": Setup(
        why="CKE-04 judges only prefixed cookie names: the profile names __Host- cookies and the server sets them",
        changes=_frozen(
            {
                "tokens_access": _frozen({"cookie": "__Host-accessToken"}),
                "tokens_refresh": _frozen({"cookie": "__Host-refreshToken"}),
            }
        ),
        settings=_frozen({"cookie_prefix": "__Host-"}),
    ),
    "cookie_only": Setup(
        why="CKE-09 passes only when the profile declares cookie-only delivery and the server delivers that way",
        changes=_policy(delivery="cookie"),
        settings=_frozen({"delivery": "cookie"}),
    ),
    "timing": Setup(
        why="LGN-03 is opt-in (--opt-in timing) and needs a realistic bcrypt cost for a measurable gap",
        settings=_frozen({"bcrypt_rounds": 10}),
        config=_frozen({"opt_in": frozenset({"timing"})}),
    ),
    "racing": Setup(
        why=f"CON-01 sees a check-then-write race only if every racer's read comes before the first write: the "
        f"server gets a worker thread per racer ({RACERS}, RunConfig.concurrency), where the embedded 8 would queue "
        "half of them past the first write, and their reuse would revoke the forked family",
        settings=_frozen({"threads": 2 * RACERS}),
    ),
    "refresh_bearer_logout": Setup(
        why="LGO-08 sends its GET the way [logout] declares, so a logout keyed on the refresh token as Bearer (the "
        "docs' blocklist logout of flask-jwt-extended in header mode revokes the token presented) is reached only "
        "under a profile saying so. The reference takes a refresh token in the body or a cookie, so the good side is "
        "the reference whose POST /logout also takes it as Bearer (legit_app of the variant)",
        changes=_frozen({"logout": _frozen({"token": "refresh", "present": ["bearer"]})}),
        reference_app=refresh_bearer_logout_app,
    ),
    "registration_undeclared": Setup(
        why="LGN-04: the reference answers 409 to a taken email (as the seed does) and its profile declares it; "
        "a profile that does not declare it fails",
        changes=_policy(registration_reveals_accounts=False),
    ),
}
