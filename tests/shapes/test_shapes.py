"""The built-in profiles and the client against three real shapes: every registered check, run on faithful emulators.

Each emulator (simplejwt_app, flask_jwt_extended_app, oauth2_app) answers as the framework does in a
default deployment, with 2 s / 6 s TTLs. The tables below are the verdicts a correct suite gives on
it: a FAILED is a real weakness of the framework's defaults (the comment says which), a DECLARED is
a deviation the built-in profile declares. Where the suite today cannot speak a shape (ERROR) or
passes for the wrong reason, the test is an xfail(strict=True) naming the suite bug, so it turns
into a failure the day the suite is fixed and the marker has to go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import requests

from tokenconform.registry import load_all_checks
from tokenconform.results import CheckResult, Outcome

from .conftest import (
    Shape,
    describe,
    flask_jwt_extended_shape,
    oauth2_opaque_shape,
    oauth2_shape,
    run_shape,
    seed_express_shape,
    serve,
    simplejwt_shape,
)

pytestmark = pytest.mark.slow

PASSED, FAILED, DECLARED, SKIPPED = Outcome.PASSED, Outcome.FAILED, Outcome.DECLARED, Outcome.SKIPPED

# ---------------------------------------------------------------- suite bugs these runs found (fixed)

#: Regression: the client sent the double-submit CSRF header from the device's jar (Device._csrf_headers), not
#: the value issued with the token it presents. A device that never logged in (an attacker, a
#: racer) or whose jar logout emptied sends none, and flask-jwt-extended answers 401 "Missing CSRF
#: token" (or "CSRF double submit tokens do not match") before it looks at the token: the check
#: counts that as the rejection it wanted.
#: Fixed by pairing each CSRF value with the token it was issued with (Context.remember_csrf).
CSRF_NOT_PAIRED = "regression: the CSRF header must come with the presented token, not from the jar"
#: Regression: Device.refresh()/tokens_from() demanded a refresh token in every refresh response; RFC 6749 §6
#: makes a new one optional and flask-jwt-extended's documented refresh view sets only the access
#: cookies, so every check that refreshes ends in ERROR "carried no refresh token".
#: Fixed: the presented token stands in and ROT-01 fails "issued no new refresh token".
NO_ROTATION_UNSPOKEN = "regression: a refresh response without a new refresh token must be judged, not an error"

# ---------------------------------------------------------------- expected verdicts

# Cookie checks (CKE-*) and LGO-03 skip for the two body-only shapes.
_NO_COOKIES = dict.fromkeys([f"CKE-{n:02}" for n in range(1, 12)], SKIPPED)
# Not applicable to any of the three built-in profiles: no privileged route, no session cap or idle
# timeout, no grace window, no logout-all, no registration (LGN-03/04/07 need one), plain http.
_NOT_DECLARED = dict.fromkeys(("PRO-04", "EXP-07", "REU-07", "LGO-06", "LGN-03", "LGN-04", "LGN-07", "RBS-04"), SKIPPED)
# What all three answer alike.
_COMMON = {
    # A split string, not a 34-line list literal: the IDs read as a table.
    **dict.fromkeys(
        "TOK-01 TOK-02 TOK-03 TOK-04 TOK-05 TOK-07 TOK-08 TOK-09 TOK-10 TOK-11 TOK-13 TOK-14 PRO-06 PRO-08 "  # noqa: SIM905
        "EXP-01 EXP-03 EXP-04 EXP-06 EXP-08 ROT-01 ROT-02 ROT-03 ROT-04 REU-01 CON-03 LGO-05 LGO-08 "
        "LGN-01 LGN-02 LGN-05 LGN-06 RBS-01 RBS-02 RBS-05 PRO-09 LGN-08".split(),
        PASSED,
    ),
    # All three verify with PyJWT, whose base64url_decode re-pads its input: a signature segment
    # with a trailing "=" decodes to the same bytes and the token is accepted.
    "TOK-06": FAILED,
    # None of them sends Clear-Site-Data on logout: a MAY, so information, never a failure.
    "LGO-04": Outcome.NOT_PRESENT,
    # Each refresh issues a refresh token with a full fresh lifetime and nothing caps the session:
    # the chain outlives the first token's lifetime (the profile declares no cap). simplejwt's
    # built-in profile declares that (session_max_age = 0) instead.
    "EXP-02": FAILED,
    # PyJWT's decode requires no exp unless told to: a re-signed token without exp is accepted.
    "EXP-05": FAILED,
    **_NOT_DECLARED,
}

SIMPLEJWT: dict[str, Outcome] = {
    **_COMMON,
    **_NO_COOKIES,
    "EXP-02": DECLARED,  # the built-in profile declares simplejwt's missing session cap
    # AccessToken verification goes through PyJWT with the verify_exp default and the "exp"
    # claim required by simplejwt's Token.check_exp: a re-signed token without exp is refused.
    "EXP-05": PASSED,
    # No iss/aud claims are issued (ISSUER/AUDIENCE unset), so no minted probe applies.
    "TOK-12": SKIPPED,
    # The blacklist view takes the refresh token alone: logging out needs no live access token.
    "LGO-09": PASSED,
    # The refresh token goes in the POST body only and no cookie carries a token: no GET can present it.
    "LGO-08": SKIPPED,
    "PRO-01": PASSED,
    "PRO-03": PASSED,
    # authentication.py authenticate_header(): 'Bearer realm="api"' only, never error="invalid_token".
    "PRO-02": FAILED,
    # authentication.py get_raw_token(): `parts[0] not in AUTH_HEADER_TYPE_BYTES` is an exact byte
    # compare, so "bearer …" is no JWT at all and the request is anonymous (401).
    "PRO-05": FAILED,
    "PRO-07": SKIPPED,
    # TokenViewBase sets no Cache-Control; RFC 6749 §5.1's no-store is not simplejwt's concern.
    "ROT-05": FAILED,
    # The profile declares reuse_detection = false and access_token_revoked_at_logout = false.
    "REU-02": DECLARED,
    "REU-03": DECLARED,
    "REU-04": DECLARED,
    "REU-05": DECLARED,
    "REU-06": SKIPPED,  # no family revocation to scope
    "LGO-02": DECLARED,
    # serializers.py TokenRefreshSerializer: check_blacklist() when RefreshToken(token) is built, and
    # refresh.blacklist() later, with no lock or conditional write between: concurrent refreshes
    # (and a blacklist racing a refresh) all succeed and each successor lives.
    "CON-01": FAILED,
    "CON-02": FAILED,
    "LGO-01": PASSED,
    "LGO-03": SKIPPED,
    "RBS-03": SKIPPED,
}

FLASK_JWT_EXTENDED: dict[str, Outcome] = {
    **_COMMON,
    "TOK-12": SKIPPED,  # JWT_DECODE_ISSUER / JWT_DECODE_AUDIENCE unset: no iss or aud to edit
    # The logout view is @jwt_required(): an expired access token gets 401, whatever refresh token
    # comes with it.
    "LGO-09": FAILED,
    # default_unauthorized_callback answers {"msg": …} with no WWW-Authenticate at all (RFC 9110
    # §15.5.2 requires one on every 401).
    "PRO-01": FAILED,
    # default_invalid_token_callback: a bad signature or a malformed token is 422, not 401.
    "PRO-02": FAILED,
    "PRO-03": SKIPPED,  # cookie-only profile
    "PRO-05": SKIPPED,
    # JWT_COOKIE_CSRF_PROTECT: the cross-site form POST to /logout lacks X-CSRF-TOKEN -> 401.
    "PRO-07": PASSED,
    "ROT-05": FAILED,  # jsonify() responses carry no Cache-Control
    "REU-02": DECLARED,
    "REU-03": DECLARED,
    "REU-04": DECLARED,
    "REU-05": DECLARED,
    "REU-06": SKIPPED,
    # The built-in profile follows the docs' blocklist logout, which revokes the access token; this
    # app's logout only unsets the cookies, so the access token lives on.
    "LGO-02": FAILED,
    # Defaults: JWT_COOKIE_SECURE False, JWT_COOKIE_SAMESITE None, JWT_SESSION_COOKIE True (no Max-Age).
    "CKE-01": FAILED,
    "CKE-02": PASSED,
    "CKE-03": FAILED,
    "CKE-04": SKIPPED,  # no __Secure-/__Host- prefixed cookie: nothing to judge (no vacuous pass)
    "CKE-05": PASSED,
    "CKE-06": FAILED,
    "CKE-07": PASSED,
    "CKE-08": PASSED,
    "CKE-09": PASSED,
    "CKE-10": PASSED,
    "CKE-11": PASSED,
    "LGO-03": PASSED,  # unset_jwt_cookies: same name and Path=/, Expires at the epoch
    "RBS-03": SKIPPED,
    # Each replay carries the CSRF value issued with its token, so a refusal is about the token
    # (the flask-rotate-no-blocklist run below pins it).
    # unset_jwt_cookies asks the browser to forget; the refresh token still refreshes.
    "LGO-01": FAILED,
    # The app's blocklist is checked and written with no lock between: racers all succeed.
    "CON-01": FAILED,
    # Logout ends nothing server side (LGO-01), so no race is involved: CON-02 has nothing to judge.
    "CON-02": SKIPPED,
}
#: Checks allowed to end in ERROR on the flask-jwt-extended run: none since the CSRF fix.
FLASK_SUITE_BUGS: dict[str, str] = {}

OAUTH2: dict[str, Outcome] = {
    **_COMMON,
    **_NO_COOKIES,
    # RFC 6750 §3 challenges, case-insensitive scheme, 400 for an empty credential.
    "PRO-01": PASSED,
    "PRO-02": PASSED,
    "PRO-03": PASSED,
    "PRO-05": PASSED,
    "PRO-07": SKIPPED,
    "ROT-05": PASSED,  # RFC 6749 §5.1 Cache-Control: no-store
    # Rotation with reuse detection that revokes the grant (RFC 9700 §4.14.2); 400 invalid_grant
    # is accepted as the rejection (policy.refresh_rejection_status = [400]).
    "REU-02": PASSED,
    "REU-03": PASSED,
    "REU-05": PASSED,
    "REU-06": PASSED,
    # RFC 9068 access tokens are self-contained: the resource server asks nobody, so the revoked
    # grant's access tokens live to their exp (the same property the profile declares for logout).
    "REU-04": FAILED,
    "CON-01": PASSED,
    "CON-02": PASSED,
    "TOK-12": PASSED,  # RFC 9068 iss and aud are verified
    "LGO-09": PASSED,  # revocation takes the refresh token alone
    "LGO-08": SKIPPED,  # the token goes in the form body only, which no GET carries; no token cookie
    "LGO-01": PASSED,  # RFC 7009 revocation of the refresh token ends its grant
    "LGO-02": DECLARED,
    "LGO-03": SKIPPED,
    "RBS-03": SKIPPED,
}

_JWT_ONLY = dict.fromkeys(
    ["TOK-01", "TOK-02", "TOK-03", "TOK-05", "TOK-06", "TOK-09", "TOK-12", "TOK-13", "TOK-14", "EXP-05"], SKIPPED
)

#: An OAuth 2.0 server with opaque tokens and RFC 7009 revocation (issue 6.4/6.5): every JWT-only
#: check skips, expiry is judged from expires_in and the declared TTLs, revocation by its effect.
OAUTH2_OPAQUE: dict[str, Outcome] = {
    **_COMMON,
    **_NO_COOKIES,
    **_JWT_ONLY,
    "TOK-04": SKIPPED,  # no HMAC-signed JWT to try the dictionary on
    "PRO-01": PASSED,
    "PRO-02": PASSED,
    "PRO-03": PASSED,
    "PRO-05": PASSED,
    "PRO-07": SKIPPED,
    "ROT-05": PASSED,
    "TOK-06": SKIPPED,
    # Opaque tokens are looked up on every request: a revoked grant's access tokens die at once.
    "REU-02": PASSED,
    "REU-03": PASSED,
    "REU-04": PASSED,
    "REU-05": PASSED,
    "REU-06": PASSED,
    "CON-01": PASSED,
    "CON-02": PASSED,
    "LGO-01": PASSED,
    # RFC 7009 semantics: judged by effect (the access token dies with its grant), not by the 200
    # a replayed revocation gets.
    "LGO-02": PASSED,
    "LGO-03": SKIPPED,
    "LGO-09": PASSED,
    "LGO-08": SKIPPED,  # the token goes in the form body only, which no GET carries; no token cookie
    "RBS-03": SKIPPED,
    # Every refresh token gets a full fresh lifetime and nothing caps the grant.
    "EXP-02": FAILED,
    # Judged from expires_in (access) and policy.refresh_ttl (refresh): both die on time.
    "EXP-01": PASSED,
    "EXP-03": PASSED,
    "EXP-04": PASSED,
    "EXP-06": PASSED,
}

#: The seed's Express backend in development (issue 6.1 and 6.14): non-Secure token cookies over
#: http, no jti. TOK-11 reports the identical same-second tokens once; the suite then spaces a
#: user's steps a second apart, and every other check is judged on its own merits.
SEED_EXPRESS: dict[str, Outcome] = {
    **dict.fromkeys(
        "TOK-01 TOK-02 TOK-04 TOK-05 TOK-07 TOK-08 TOK-10 TOK-13 TOK-14 PRO-05 PRO-06 PRO-08 EXP-01 EXP-03 EXP-04 "  # noqa: SIM905
        "EXP-06 EXP-08 ROT-01 ROT-02 ROT-03 ROT-04 REU-01 CKE-02 CKE-05 CKE-07 CKE-08 CKE-10 CKE-11 LGO-01 "
        "LGO-03 LGO-08 LGN-01 LGN-02 LGN-03 LGN-05 LGN-06 LGN-08 RBS-01 RBS-02".split(),
        PASSED,
    ),
    **dict.fromkeys(["TOK-03", "TOK-12", "EXP-05"], SKIPPED),  # the secrets are not handed over
    **dict.fromkeys(["PRO-04", "EXP-07", "REU-07", "LGO-06", "RBS-04", "CKE-04"], SKIPPED),
    "TOK-06": FAILED,  # jsonwebtoken-like PyJWT decoding re-pads the signature
    "TOK-09": FAILED,  # no typ, no token_use: access and refresh tokens are not typed apart
    "TOK-11": FAILED,  # no jti: two logins in one second return the same tokens
    "PRO-01": FAILED,  # {"message": "Unauthorized request"} with no WWW-Authenticate
    "PRO-02": FAILED,  # 403 for a token that does not verify
    "PRO-03": PASSED,  # "Bearer" alone has no token: 401 (Bearer "" is a token that does not verify: PRO-02's 403)
    "PRO-07": FAILED,  # no SameSite and no CSRF defence: a cross-site POST to /logout is obeyed
    "PRO-09": FAILED,  # split(" ")[1]: "Basic <token>" works
    "EXP-02": FAILED,  # every refresh signs a new 7-day-style lifetime: the session never ends
    "ROT-05": FAILED,  # no Cache-Control on token responses
    # One stored refresh token per user, compared and replaced: a replay is refused, but nothing
    # else is revoked.
    "REU-02": FAILED,
    "REU-03": FAILED,
    "REU-05": FAILED,
    "REU-04": SKIPPED,  # no revocation on reuse, so no detection to judge
    "REU-06": SKIPPED,
    "CON-01": FAILED,  # findById, then save: concurrent refreshes all succeed
    "CON-02": FAILED,  # logout nulls the stored token, a racing refresh writes its own after it
    "CON-03": FAILED,  # one refresh token per user: a second login ends the first session
    "CKE-01": FAILED,  # secure: only in production
    "CKE-03": FAILED,  # no SameSite
    "CKE-06": FAILED,  # session cookies, no Max-Age
    "CKE-09": DECLARED,  # the profile declares delivery = "both"
    "LGO-02": FAILED,  # access tokens are stateless: they outlive logout
    "LGO-04": Outcome.NOT_PRESENT,
    "LGO-05": FAILED,  # logout nulls the user's one refresh token: every session ends
    "LGO-09": FAILED,  # logout is behind verifyJWT: an expired access token cannot log out
    "LGN-04": DECLARED,
    "LGN-07": FAILED,  # no throttling
    # req.cookies.refreshToken || req.body.refreshToken: with a used token in the body beside a
    # valid cookie, the cookie's is rotated (and used up) and the body's never read; nothing bypassed.
    "RBS-03": PASSED,
    "RBS-05": FAILED,  # a registered email with a non-string password: bcrypt.compare throws, a 500
}

#: the full runs: the emulator factory and the table it must produce
SHAPES: dict[str, tuple[Callable[[], Shape], dict[str, Outcome], dict[str, str]]] = {
    "simplejwt": (simplejwt_shape, SIMPLEJWT, {}),
    # The refresh view rotates and blocklists the used refresh token, as the built-in profile
    # assumes (rotation without reuse detection); the docs' plain view is tested further down.
    "flask-jwt-extended": (
        partial(flask_jwt_extended_shape, rotate=True, blocklist_rotated=True),
        FLASK_JWT_EXTENDED,
        FLASK_SUITE_BUGS,
    ),
    "oauth2": (oauth2_shape, OAUTH2, {}),
    "oauth2-opaque": (oauth2_opaque_shape, OAUTH2_OPAQUE, {}),
    "seed-express": (seed_express_shape, SEED_EXPRESS, {}),
}

#: Smaller runs on the two other flask-jwt-extended apps: (variant, factory, id -> (right verdict, bug)).
VARIANTS: dict[str, tuple[Callable[[], Shape], dict[str, tuple[Outcome, str]]]] = {
    # The docs' refresh view (examples/jwt_in_cookie.py, "Explicit Refreshing"): a new access cookie only.
    "flask-docs-refresh": (
        flask_jwt_extended_shape,
        {
            "ROT-01": (FAILED, NO_ROTATION_UNSPOKEN),  # no new refresh token, ever
            "ROT-02": (FAILED, NO_ROTATION_UNSPOKEN),  # R1 refreshes again and again
            # No new refresh token, so no refresh cookie to set again (a false alarm helper runs on the
            # real library found); the access cookie is set again with the new token.
            "CKE-10": (PASSED, NO_ROTATION_UNSPOKEN),
            "TOK-13": (PASSED, NO_ROTATION_UNSPOKEN),  # both tokens are JWTs with exp and iat
            "LGO-01": (FAILED, CSRF_NOT_PAIRED),
        },
    ),
    # Rotation without any deny list, a common shortcut: the used refresh token keeps working.
    "flask-rotate-no-blocklist": (
        partial(flask_jwt_extended_shape, rotate=True, blocklist_rotated=False),
        {
            "ROT-02": (FAILED, CSRF_NOT_PAIRED),
            "REU-01": (FAILED, CSRF_NOT_PAIRED),
            "LGO-01": (FAILED, CSRF_NOT_PAIRED),
            "CON-01": (FAILED, CSRF_NOT_PAIRED),
        },
    ),
}


@pytest.fixture(scope="module")
def runs() -> Iterator[Callable[[str], dict[str, CheckResult]]]:
    """Each shape's run, made once and shared by every test of the module."""
    cache: dict[str, dict[str, CheckResult]] = {}

    def get(name: str) -> dict[str, CheckResult]:
        if name not in cache:
            if name in SHAPES:
                cache[name] = run_shape(SHAPES[name][0]())
            else:
                factory, table = VARIANTS[name]
                cache[name] = run_shape(factory(), list(table))
        return cache[name]

    yield get


def _judge(results: dict[str, CheckResult], check_id: str, expected: Outcome, where: str) -> None:
    result = results[check_id]
    assert result.outcome is expected, (
        f"{where} {check_id}: expected {expected.value}, got {result.outcome.value}: {result.message}\n"
        + "\n".join(result.evidence)
        + f"\n\nevery result of the {where} run:\n{describe(results)}"
    )


def _cases() -> Iterator[Any]:
    for shape, (_, table, bugs) in SHAPES.items():
        for check_id, outcome in table.items():
            marks = [pytest.mark.xfail(reason=bugs[check_id], strict=True)] if check_id in bugs else []
            yield pytest.param(shape, check_id, outcome, id=f"{shape}-{check_id}", marks=marks)


@pytest.mark.parametrize(("shape", "check_id", "expected"), list(_cases()))
def test_verdict_on_shape(
    runs: Callable[[str], dict[str, CheckResult]], shape: str, check_id: str, expected: Outcome
) -> None:
    """The whole suite on each emulator with the matching built-in profile gives the framework's real verdicts."""
    _judge(runs(shape), check_id, expected, shape)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_check_speaks_the_shape(runs: Callable[[str], dict[str, CheckResult]], shape: str) -> None:
    """No check ends in ERROR unless a named suite bug explains it, including checks added after these tables."""
    bugs = SHAPES[shape][2]
    results = runs(shape)
    assert set(results) == {c.id for c in load_all_checks().all()}
    unexplained = {i: r for i, r in results.items() if r.outcome is Outcome.ERROR and i not in bugs}
    assert not unexplained, f"checks that could not speak the {shape} shape:\n{describe(unexplained)}\n\n" + describe(
        results
    )


def _variant_cases() -> Iterator[Any]:
    for variant, (_, table) in VARIANTS.items():
        for check_id, (outcome, _regression) in table.items():
            yield pytest.param(variant, check_id, outcome, id=f"{variant}-{check_id}")


@pytest.mark.parametrize(("variant", "check_id", "expected"), list(_variant_cases()))
def test_verdict_on_flask_variant(
    runs: Callable[[str], dict[str, CheckResult]], variant: str, check_id: str, expected: Outcome
) -> None:
    """The right verdicts on flask-jwt-extended apps that do not revoke what the full run's app revokes."""
    _judge(runs(variant), check_id, expected, variant)


def _flask_login(url: str, environ: dict[str, str]) -> dict[str, str]:
    response = requests.post(
        f"{url}/login",
        json={"username": environ["TOKENCONFORM_USERNAME"], "password": environ["TOKENCONFORM_PASSWORD"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {c.name: c.value or "" for c in response.cookies}


def _flask_refresh(url: str, cookies: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{url}/refresh",
        headers={
            "X-CSRF-TOKEN": cookies["csrf_refresh_token"],
            "Cookie": f"refresh_token_cookie={cookies['refresh_token_cookie']}",
        },
        timeout=10,
    )


def test_flask_refresh_token_outlives_logout_and_rotation_when_presented_with_its_csrf_value() -> None:
    """What the xfails above stand on: the emulated app accepts the old refresh token with its own CSRF value.

    A thief of the refresh cookie has that value too: csrf_refresh_token is not HttpOnly, and it is
    the refresh token's own ``csrf`` claim, readable in its payload.
    """
    shape = flask_jwt_extended_shape(rotate=True, blocklist_rotated=False)
    with serve(shape.app) as url:
        first = _flask_login(url, shape.environ)
        assert _flask_refresh(url, first).status_code == 200
        replay = _flask_refresh(url, first)
        assert replay.status_code == 200, "a rotated refresh token is refused by the no-blocklist app"
        logout = requests.post(
            f"{url}/logout",
            headers={
                "X-CSRF-TOKEN": first["csrf_access_token"],
                "Cookie": f"access_token_cookie={first['access_token_cookie']}",
            },
            timeout=10,
        )
        assert logout.status_code == 200
        assert _flask_refresh(url, first).status_code == 200, "logout revoked the refresh token"
        # Without the header the same request is refused for CSRF alone: the rejection the suite counts.
        bare = requests.post(
            f"{url}/refresh", headers={"Cookie": f"refresh_token_cookie={first['refresh_token_cookie']}"}, timeout=10
        )
        assert (bare.status_code, bare.json()) == (401, {"msg": "Missing CSRF token"})


def test_tok12_with_both_secrets_but_no_iss_or_aud_skips_without_asking_for_the_secrets():
    # The seed's tokens carry neither iss nor aud: with both secrets given there is nothing to
    # edit, and telling the user to set the secrets would send them after the wrong cause.
    import secrets as token_secrets

    from tokenconform.checks.tokens import ACCESS_SECRET_ENV, REFRESH_SECRET_ENV

    from .conftest import Shape
    from .seed_express_app import SeedBackend
    from .seed_express_app import create_app as create_seed_app

    access, refresh = token_secrets.token_urlsafe(48), token_secrets.token_urlsafe(48)
    backend = SeedBackend(access_secret=access, refresh_secret=refresh, access_ttl=5, refresh_ttl=12)
    shape = Shape(
        seed_express_shape().profile,
        create_seed_app(backend),
        {ACCESS_SECRET_ENV: access, REFRESH_SECRET_ENV: refresh},
    )
    result = run_shape(shape, ["TOK-12"])["TOK-12"]
    assert result.outcome is Outcome.SKIPPED, result.message
    assert "no probe applies to the access token's claims" in result.message
    assert ACCESS_SECRET_ENV not in result.message
