"""Render a run as the JSON report described by spec/report.schema.json.

A flat list of checks with stable requirement IDs (testssl's ``id``/``severity``/``finding``), so
a CI job can ``jq`` what it needs; every check carries its evidence, whatever its outcome. The
document always has every key (empty strings and lists rather than missing keys), so consumers
need no ``has()`` guards. ``counts`` is true when the result changes the exit code: a failure at
the run's level (or a declared MUST deviation under ``--strict``; with an expected-failures file, a
new failure or a listed requirement that now passes) or an error (exit 2), so
``.checks[] | select(.counts)`` is what broke the build. Like every report, it is redacted unless
the run was made with ``--show-secrets``.

Pure function: the CLI writes the text where ``--json-report`` says.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..results import CheckResult, RunResult
from . import _common

__all__ = ["SCHEMA_VERSION", "render"]

#: bumped on any change a consumer could notice (a renamed or removed key, a new enum value);
#: 2: outcome not_present, strict, declared_must, expected_failures, fatal, interrupted, exit code 130
SCHEMA_VERSION = 2


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
        "strict": run.strict,
        "exit_code": run.exit_code(),
        "fatal": run.fatal,
        "interrupted": run.interrupted,
        "summary": {"total": len(run.results), **summary},
        "declared_must": [r.id for r in _common.ordered(run.declared_musts())],
        "expected_failures": _expected_failures(run),
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
        "counts": run.counts(result),
        "ratchet": _ratchet(run, result),
        "message": _common.message(result),
        "expected": result.expected,
        "actual": result.actual,
        "evidence": list(result.evidence),
        "duration_s": round(result.duration_s, 3),
    }


def _ratchet(run: RunResult, result: CheckResult) -> str:
    status = run.ratchet_status(result)
    return "" if status is None else status.value


def _expected_failures(run: RunResult) -> dict[str, Any] | None:
    judgement = run.judgement()
    if judgement is None:
        return None
    from ..ratchet import Status

    return {"file": judgement.source, **{status.value: judgement.ids(status) for status in Status}}
