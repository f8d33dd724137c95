"""What every report writer shares: catalogue order, grouping by category, the note of a result."""

from __future__ import annotations

from collections.abc import Iterable

from ..catalog import Category, load_catalog
from ..results import CheckResult, Outcome


def ordered(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Catalogue order, whatever order the engine finished them in."""
    rank = {r.id: i for i, r in enumerate(load_catalog().requirements)}
    return sorted(results, key=lambda r: (rank.get(r.id, len(rank)), r.id))


def by_category(results: Iterable[CheckResult]) -> list[tuple[Category, list[CheckResult]]]:
    """Results grouped by category, categories and requirements in catalogue order."""
    catalog = load_catalog()
    categories = {c.name: c for c in catalog.categories}
    rank = {c.name: i for i, c in enumerate(catalog.categories)}
    groups: dict[str, list[CheckResult]] = {}
    for result in ordered(results):
        groups.setdefault(result.requirement.category, []).append(result)
    return [
        (categories.get(name, Category(name=name, prefix="", title=name)), groups[name])
        for name in sorted(groups, key=lambda n: (rank.get(n, len(rank)), n))
    ]


def message(result: CheckResult) -> str:
    """The result's message; for a requirement that is not checked and says nothing, why not."""
    if result.message or result.outcome is not Outcome.NOT_CHECKED:
        return result.message
    if result.requirement.opt_in:
        return f"opt-in: enable with --{result.requirement.opt_in}"
    return result.requirement.not_automated_reason
