"""The only reader of spec/requirements.toml: requirement ID -> level, title, references."""

from __future__ import annotations

import enum
import functools
import importlib.resources
import sys
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from .errors import TokenconformError


class Level(enum.Enum):
    """Requirement levels (RFC 2119), ordered from strictest to loosest."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"

    @property
    def rank(self) -> int:
        return {"MUST": 0, "SHOULD": 1, "MAY": 2}[self.value]


@dataclass(frozen=True)
class Requirement:
    """One catalogue entry."""

    id: str
    category: str
    level: Level
    title: str
    statement: str
    references: tuple[str, ...]
    basis: str
    #: False for a requirement kept in the catalogue but not (yet) checked
    automated: bool = True
    not_automated_reason: str = ""
    #: the CLI switch that enables the check (e.g. "timing"), or "" when it always runs
    opt_in: str = ""
    quote: str = ""
    quote_source: str = ""


@dataclass(frozen=True)
class Category:
    name: str
    prefix: str
    title: str


@dataclass(frozen=True)
class Catalog:
    categories: tuple[Category, ...]
    requirements: tuple[Requirement, ...]

    def get(self, requirement_id: str) -> Requirement:
        for requirement in self.requirements:
            if requirement.id == requirement_id:
                return requirement
        raise KeyError(requirement_id)

    def __contains__(self, requirement_id: object) -> bool:
        return any(r.id == requirement_id for r in self.requirements)

    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)


_REQUIRED = ("id", "category", "level", "title", "statement", "references", "basis")
_OPTIONAL = ("automated", "not_automated_reason", "opt_in", "quote", "quote_source")


def parse_catalog(document: dict[str, Any]) -> Catalog:
    """Build a Catalog from the TOML document, refusing anything inconsistent."""
    categories = tuple(
        Category(name=name, prefix=spec["prefix"], title=spec["title"]) for name, spec in document["categories"].items()
    )
    prefixes = {c.name: c.prefix for c in categories}
    seen: set[str] = set()
    requirements = []
    for index, entry in enumerate(document["requirement"]):
        where = f"requirement[{index}]"
        unknown = set(entry) - set(_REQUIRED) - set(_OPTIONAL)
        if unknown:
            raise TokenconformError(f"spec/requirements.toml: {where}: unknown keys {sorted(unknown)}")
        missing = [key for key in _REQUIRED if key not in entry]
        if missing:
            raise TokenconformError(f"spec/requirements.toml: {where}: missing {missing}")
        req_id = entry["id"]
        category = entry["category"]
        if category not in prefixes:
            raise TokenconformError(f"spec/requirements.toml: {req_id}: unknown category {category!r}")
        if not req_id.startswith(prefixes[category] + "-"):
            raise TokenconformError(f"spec/requirements.toml: {req_id}: prefix does not match category {category!r}")
        if req_id in seen:
            raise TokenconformError(f"spec/requirements.toml: duplicate id {req_id}")
        seen.add(req_id)
        automated = bool(entry.get("automated", True))
        if not automated and not entry.get("not_automated_reason"):
            raise TokenconformError(f"spec/requirements.toml: {req_id}: automated = false needs not_automated_reason")
        requirements.append(
            Requirement(
                id=req_id,
                category=category,
                level=Level(entry["level"]),
                title=entry["title"],
                statement=entry["statement"],
                references=tuple(entry["references"]),
                basis=entry["basis"],
                automated=automated,
                not_automated_reason=entry.get("not_automated_reason", ""),
                opt_in=entry.get("opt_in", ""),
                quote=entry.get("quote", ""),
                quote_source=entry.get("quote_source", ""),
            )
        )
    return Catalog(categories=categories, requirements=tuple(requirements))


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The catalogue shipped with this installation (spec/ is packaged as tokenconform_spec)."""
    text = importlib.resources.files("tokenconform_spec").joinpath("requirements.toml").read_text(encoding="utf-8")
    return parse_catalog(tomllib.loads(text))
