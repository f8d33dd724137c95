"""Render a run as the JSON report described by spec/report.schema.json.

A flat list of checks with stable requirement IDs (testssl's ``id``/``severity``/``finding``), so
a CI job can ``jq`` what it needs; every check carries its evidence, whatever its outcome. The
document always has every key (empty strings and lists rather than missing keys), so consumers
need no ``has()`` guards. ``counts`` is true when the result changes the exit code: a failure at
the run's level (exit 1) or an error (exit 2), so ``.checks[] | select(.counts)`` is what broke
the build.

Pure function: the CLI writes the text where ``--json-report`` says.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..results import CheckResult, Outcome, RunResult
from . import _common

__all__ = ["SCHEMA_VERSION", "render"]

#: bumped on any change a consumer could notice (a renamed or removed key, a new enum value)
SCHEMA_VERSION = 1


def render(run: RunResult) -> str:
    """The report as pretty-printed JSON (ASCII-safe, so any file encoding reads it), with a final newline."""
    summary = run.summary()
    document: dict[str, Any] = {
        "tool": "tokenconform",
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "target": run.target,
        "profile": run.profile,
        "started_at": run.started_at,
        "duration_s": round(run.duration_s, 3),
        "waited_s": round(run.waited_s, 3),
        "level": run.level.value.lower(),
        "exit_code": run.exit_code(),
        "summary": {"total": len(run.results), **summary},
        "checks": [_check(run, result) for result in _common.ordered(run.results)],
    }
    return json.dumps(document, indent=2) + "\n"


def _check(run: RunResult, result: CheckResult) -> dict[str, Any]:
    requirement = result.requirement
    return {
        "id": result.id,
        "category": requirement.category,
        "level": requirement.level.value,
        "title": requirement.title,
        "statement": requirement.statement,
        "references": list(requirement.references),
        "outcome": result.outcome.value,
        "counts": result.fails_at(run.level) or result.outcome is Outcome.ERROR,
        "message": _common.message(result),
        "expected": result.expected,
        "actual": result.actual,
        "evidence": list(result.evidence),
        "duration_s": round(result.duration_s, 3),
    }
