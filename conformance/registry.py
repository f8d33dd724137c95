"""The check registry: each check is a function tied to exactly one catalogue requirement.

A check has one signature, ``check(ctx: CheckContext) -> None``, and reports by raising
(``RequirementFailed``, ``CheckSkipped``, ``DeviationDeclared``, a ``TokenconformError``) or by
returning normally (passed). A check that must wait on a token's lifetime is written as a
generator that ``yield``s one ``Wait`` (from ``ctx.wait_until``): the engine runs every such
check's first half at the start of the run and its second half after the deadline, so all TTL
waits overlap and the run lasts about as long as the longest one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .catalog import Catalog, Requirement, load_catalog
from .preconditions import Precondition, unmet

if TYPE_CHECKING:
    from .context import CheckContext, RunConfig, Wait
    from .profile import Profile

CheckFunction = Callable[["CheckContext"], None | Generator["Wait", None, None]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Check:
    requirement: Requirement
    function: Callable[..., Any]
    #: the check ends every session of an account: it runs after all others, so with shared
    #: credentials (no [register]) it cannot end another check's sessions
    ends_all_sessions: bool = False
    #: what the profile and the run must provide (conformance/preconditions.py)
    needs: tuple[Precondition, ...] = ()

    def unmet_precondition(self, profile: Profile, config: RunConfig) -> str | None:
        """Why this check will skip before sending anything, or None."""
        return unmet(self.needs, profile, config)

    @property
    def id(self) -> str:
        return self.requirement.id

    @property
    def name(self) -> str:
        return self.function.__name__

    @property
    def timed(self) -> bool:
        """A generator check waits on a deadline between its two halves."""
        return inspect.isgeneratorfunction(self.function)

    @property
    def run_phase(self) -> int:
        """0: untimed, 1: timed (finished after its wait), 2: ends every session (last of all)."""
        if self.ends_all_sessions:
            return 2
        return 1 if self.timed else 0

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.function) or ""


class Registry:
    """Check functions keyed by requirement ID; one check per ID, and only catalogue IDs."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._checks: dict[str, Check] = {}

    def register(
        self,
        requirement_id: str,
        function: Callable[..., Any],
        *,
        ends_all_sessions: bool = False,
        needs: tuple[Precondition, ...] = (),
    ) -> Check:
        if requirement_id not in self.catalog:
            raise ValueError(f"{function.__qualname__}: {requirement_id} is not in spec/requirements.toml")
        requirement = self.catalog.get(requirement_id)
        if not requirement.automated:
            raise ValueError(f"{function.__qualname__}: {requirement_id} is marked automated = false in the catalogue")
        existing = self._checks.get(requirement_id)
        if existing is not None and existing.function is not function:
            raise ValueError(f"{requirement_id} already has a check: {existing.function.__module__}.{existing.name}")
        check = Check(requirement=requirement, function=function, ends_all_sessions=ends_all_sessions, needs=needs)
        self._checks[requirement_id] = check
        return check

    def get(self, requirement_id: str) -> Check:
        return self._checks[requirement_id]

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._checks

    def all(self) -> list[Check]:
        """Every registered check, in catalogue order."""
        order = {r.id: i for i, r in enumerate(self.catalog.requirements)}
        return sorted(self._checks.values(), key=lambda c: order[c.id])

    def select(
        self,
        *,
        only: Iterable[str] = (),
        exclude: Iterable[str] = (),
    ) -> list[Check]:
        """Checks whose ID or category is in ``only`` (all when empty) and not in ``exclude``."""
        only_set = {s for s in only}
        exclude_set = {s for s in exclude}
        return [
            check
            for check in self.all()
            if (not only_set or check.id in only_set or check.requirement.category in only_set)
            and check.id not in exclude_set
            and check.requirement.category not in exclude_set
        ]


REGISTRY = Registry(load_catalog())


def requirement(
    requirement_id: str, *, ends_all_sessions: bool = False, needs: tuple[Precondition, ...] = ()
) -> Callable[[F], F]:
    """Register the decorated function as the check of ``requirement_id``.

    Level, title and references come from the catalogue; an unknown ID fails at import.
    """

    def decorate(function: F) -> F:
        REGISTRY.register(requirement_id, function, ends_all_sessions=ends_all_sessions, needs=needs)
        return function

    return decorate


def load_all_checks() -> Registry:
    """Import every check module (registration happens in one place: checks/__init__.py)."""
    from . import checks  # noqa: F401

    return REGISTRY
