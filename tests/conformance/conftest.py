"""Fixtures to run conformance checks against the reference server and its broken variants."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from tokenconform.context import CheckContext, RunConfig
from tokenconform.engine import run_checks
from tokenconform.profile import Profile, load_profile
from tokenconform.registry import load_all_checks
from tokenconform.results import CheckResult, Outcome
from tokenconform_server.config import Settings
from tokenconform_server.server import ReferenceServer

#: TTLs of the embedded run: short enough that expiry checks finish in seconds.
ACCESS_TTL = 2
REFRESH_TTL = 6


def embedded_settings(**overrides: Any) -> Settings:
    # The product default throttling (LGN-07 checks it), not for_testing()'s generous one.
    values: dict[str, Any] = {"access_ttl": ACCESS_TTL, "refresh_ttl": REFRESH_TTL, "login_max_failures": 20}
    values.update(overrides)
    return Settings.for_testing(**values)


def run_against(
    ids: Sequence[str],
    *,
    defect: str | None = None,
    app_factory: Callable[..., Any] | None = None,
    profile: Profile | str = "reference",
    settings: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, CheckResult]:
    """Start the reference server (or ``tests/broken/<defect>.py``), run ``ids``, stop it."""
    registry = load_all_checks()
    server_settings = embedded_settings(**dict(settings or {}))
    if defect is not None:
        app_factory = importlib.import_module(f"tests.broken.{defect}").create_app
    app = app_factory(server_settings) if app_factory is not None else None
    chosen = profile if isinstance(profile, Profile) else load_profile(profile)
    with ReferenceServer(server_settings, app=app) as server:
        run_config = RunConfig(target=server.url, timeout=10.0, max_wait=15.0, **dict(config or {}))
        ctx = CheckContext(chosen, run_config)
        try:
            results = run_checks([registry.get(i) for i in ids], ctx)
        finally:
            ctx.close()
    return {r.id: r for r in results}


def assert_outcome(result: CheckResult, outcome: Outcome) -> None:
    assert result.outcome is outcome, (
        f"{result.id}: expected {outcome.value}, got {result.outcome.value}: {result.message}\n"
        + "\n".join(result.evidence)
    )


@pytest.fixture(scope="session")
def reference_results() -> Iterator[dict[str, CheckResult]]:
    """Every registered check, run once against the reference server (shared by all pass tests)."""
    registry = load_all_checks()
    yield run_against([c.id for c in registry.all()])
