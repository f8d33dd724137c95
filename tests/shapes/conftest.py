"""Harness for the shape emulators: build each one with short TTLs, serve it, run checks with a built-in profile."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bottle

from tokenconform.context import CheckContext, RunConfig
from tokenconform.engine import run_checks
from tokenconform.profile import load_profile
from tokenconform.registry import load_all_checks
from tokenconform.results import CheckResult
from tokenconform_server.config import Settings
from tokenconform_server.server import ReferenceServer

from .flask_jwt_extended_app import FlaskJWTExtended
from .flask_jwt_extended_app import create_app as create_flask_app
from .oauth2_app import AuthorizationServer
from .oauth2_app import create_app as create_oauth2_app
from .oauth2_opaque_app import OpaqueAuthorizationServer
from .seed_express_app import SeedBackend
from .seed_express_app import create_app as create_seed_app
from .simplejwt_app import SimpleJWT
from .simplejwt_app import create_app as create_simplejwt_app

_HERE = Path(__file__).parent

#: Short lifetimes, so the expiry checks finish within RunConfig(max_wait=15); every built-in
#: profile's max_access_ttl / max_refresh_ttl allows them.
ACCESS_TTL = 2
REFRESH_TTL = 6


@dataclass
class Shape:
    """One emulated deployment: its app, the built-in profile that describes it, and the env the suite reads."""

    profile: str
    app: bottle.Bottle
    environ: dict[str, str] = field(default_factory=dict)


def _accounts() -> tuple[dict[str, str], dict[str, str]]:
    """Two fixed accounts created at app start, and the env vars that hand them to the suite."""
    users = {"tc-alice": f"Alice-{secrets.token_urlsafe(9)}", "tc-bob": f"Bob-{secrets.token_urlsafe(9)}"}
    (first, first_password), (second, second_password) = users.items()
    environ = {
        "TOKENCONFORM_USERNAME": first,
        "TOKENCONFORM_PASSWORD": first_password,
        "TOKENCONFORM_USERNAME_2": second,
        "TOKENCONFORM_PASSWORD_2": second_password,
    }
    return users, environ


def _secret() -> str:
    # 48 random bytes: over PyJWT's 32-byte HS256 minimum, so no InsecureKeyLengthWarning.
    return secrets.token_urlsafe(48)


def simplejwt_shape(**options: Any) -> Shape:
    users, environ = _accounts()
    key = _secret()
    backend = SimpleJWT(signing_key=key, users=users, access_ttl=ACCESS_TTL, refresh_ttl=REFRESH_TTL, **options)
    # TOK-03 re-signs with other HS algorithms only when it knows the key: Django's SECRET_KEY here.
    environ["TOKENCONFORM_ACCESS_SECRET"] = key
    return Shape("simplejwt", create_simplejwt_app(backend), environ)


def flask_jwt_extended_shape(**options: Any) -> Shape:
    users, environ = _accounts()
    key = _secret()
    manager = FlaskJWTExtended(secret_key=key, users=users, access_ttl=ACCESS_TTL, refresh_ttl=REFRESH_TTL, **options)
    environ["TOKENCONFORM_ACCESS_SECRET"] = key
    return Shape("flask-jwt-extended", create_flask_app(manager), environ)


def oauth2_shape(**options: Any) -> Shape:
    users, environ = _accounts()
    client_id, client_secret = "tokenconform-client", secrets.token_urlsafe(24)
    access_key = _secret()
    server = AuthorizationServer(
        users=users,
        clients={client_id: client_secret},
        access_key=access_key,
        refresh_key=_secret(),
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        **options,
    )
    environ.update(
        TOKENCONFORM_CLIENT_ID=client_id,
        TOKENCONFORM_CLIENT_SECRET=client_secret,
        TOKENCONFORM_ACCESS_SECRET=access_key,
    )
    return Shape("oauth2", create_oauth2_app(server), environ)


def oauth2_opaque_shape(**options: Any) -> Shape:
    """An OAuth 2.0 server with opaque tokens and RFC 7009 revocation, under its own profile."""
    users, environ = _accounts()
    client_id, client_secret = "tokenconform-client", secrets.token_urlsafe(24)
    server = OpaqueAuthorizationServer(
        users=users,
        clients={client_id: client_secret},
        access_key=_secret(),
        refresh_key=_secret(),
        access_ttl=ACCESS_TTL,
        refresh_ttl=REFRESH_TTL,
        **options,
    )
    environ.update(TOKENCONFORM_CLIENT_ID=client_id, TOKENCONFORM_CLIENT_SECRET=client_secret)
    return Shape(str(_HERE / "oauth2_opaque.toml"), create_oauth2_app(server), environ)


def seed_express_shape() -> Shape:
    """The seed's Express backend in development: non-Secure cookies over http, no jti."""
    # Identical same-second tokens make the suite space a user's logins a second apart, so this
    # shape gets lifetimes long enough for several spaced steps.
    backend = SeedBackend(access_secret=_secret(), refresh_secret=_secret(), access_ttl=5, refresh_ttl=12)
    return Shape(str(_HERE / "seed_express.toml"), create_seed_app(backend), {})


@contextlib.contextmanager
def serve(app: bottle.Bottle) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:0 with the reference server's waitress wrapper; yields its URL."""
    with ReferenceServer(Settings.for_testing(), app=app) as server:
        yield server.url


def run_shape(
    shape: Shape, ids: Sequence[str] | None = None, *, config: Mapping[str, Any] | None = None
) -> dict[str, CheckResult]:
    """Run ``ids`` (every registered check when None) against ``shape`` with its built-in profile."""
    registry = load_all_checks()
    checks = registry.all() if ids is None else [registry.get(i) for i in ids]
    with serve(shape.app) as url:
        run_config = RunConfig(target=url, timeout=10.0, max_wait=15.0, **dict(config or {}))
        ctx = CheckContext(load_profile(shape.profile), run_config, environ=shape.environ)
        try:
            results = run_checks(checks, ctx)
        finally:
            ctx.close()
    return {r.id: r for r in results}


def describe(results: Mapping[str, CheckResult]) -> str:
    """Every result's id, outcome and message: what an assertion prints so the reason is visible."""
    return "\n".join(f"{r.id:7} {r.outcome.value:9} {r.message}" for r in results.values())
