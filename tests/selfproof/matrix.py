"""The self-proof matrix (matrix.toml): what each broken variant and shape must fail, and how to run it.

Row kinds, one TOML table each:

``[variant.<module>]``
    ``tests/broken/<module>.py``. ``fails``: the requirement IDs its one defect breaks (the intended
    failures); ``knock_on``: ``{ID = "one-line reason"}`` for every other ID it fails; ``setup``: a
    name from setups.py (default ``embedded``); ``inseparable``: why the knock-ons cannot be split
    off into their own variant, when they cannot. The reference (``setup.reference_app`` or the plain
    reference server) under the same setup must pass every one of those IDs.
``[shape.<name>]``
    An emulated framework from ``tests/shapes``: ``factory`` (a ``*_shape`` function of
    tests/shapes/conftest.py), ``options`` (its keyword arguments), ``fails``, ``knock_on``. Run
    under its built-in profile; there is no reference counterpart to compare with.
``[reference.<name>]``
    The reference server itself under a setup whose declaration it does not meet; ``why`` says why
    no variant can show it. No differential: the subject is the reference.
``[elsewhere.<ID>]``
    A requirement the matrix cannot run at all (e.g. it needs https); ``why`` names the test.

Every row's run compares the exact set of failed IDs (FAILED, or NOT_PRESENT for a MAY) with
``fails`` + ``knock_on``; ``may_fail = {ID = "reason"}`` names failures a race decides (the
check does not force the interleaving), left out of the comparison. ``xfail = "reason"`` marks
a row that cannot hold today for a reason outside the matrix (a strict xfail: it turns red the
day the row holds, and the marker goes).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conformance.conftest import embedded_settings
from tokenconform.checks.tokens import ACCESS_SECRET_ENV, REFRESH_SECRET_ENV
from tokenconform.context import CheckContext, RunConfig
from tokenconform.engine import run_checks
from tokenconform.registry import load_all_checks
from tokenconform.results import CheckResult, Outcome
from tokenconform_server.server import ReferenceServer

from .setups import SETUPS, Setup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MATRIX = Path(__file__).with_name("matrix.toml")
BROKEN = Path(__file__).parents[1] / "broken"
KINDS = ("variant", "shape", "reference", "elsewhere")


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    fails: tuple[str, ...] = ()
    knock_on: Mapping[str, str] = field(default_factory=dict)
    setup: str = "embedded"
    inseparable: str = ""
    why: str = ""
    factory: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    #: ``{ID: reason}``: failures a race decides (the check does not force the interleaving), so
    #: they come and go between runs; excluded from the comparison, still held to the reference
    may_fail: Mapping[str, str] = field(default_factory=dict)
    #: ``{ID: text}``: the failure message must contain ``text``, where failing for another reason
    #: would look the same (e.g. a route that does not exist fails PRO-04 as surely as an open one)
    because: Mapping[str, str] = field(default_factory=dict)
    #: a known reason the row cannot hold today; the test is a strict xfail until it does
    xfail: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}"

    @property
    def expected(self) -> frozenset[str]:
        """Every ID this row's run must fail, and no other."""
        return frozenset(self.fails) | frozenset(self.knock_on)

    @property
    def judged(self) -> frozenset[str]:
        """Every ID the row says anything about: expected, or allowed to fail."""
        return self.expected | frozenset(self.may_fail)

    @property
    def runs(self) -> bool:
        return self.kind != "elsewhere"

    @property
    def differential(self) -> bool:
        """The reference under the same setup must pass what this row fails."""
        return self.kind == "variant"


_FIELDS = {
    "variant": {"fails", "knock_on", "may_fail", "because", "setup", "inseparable", "xfail"},
    "shape": {"fails", "knock_on", "may_fail", "factory", "options", "xfail"},
    "reference": {"fails", "knock_on", "may_fail", "setup", "why", "xfail"},
    "elsewhere": {"fails", "why"},
}


def load_matrix(path: Path = MATRIX) -> list[Row]:
    """Every row of matrix.toml, checked for shape (unknown kinds, fields, setups refuse to load)."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(document) - set(KINDS)
    if unknown:
        raise ValueError(f"{path.name}: unknown row kinds {sorted(unknown)}; use {KINDS}")
    rows = []
    for kind in KINDS:
        for name, table in document.get(kind, {}).items():
            extra = set(table) - _FIELDS[kind]
            if extra:
                raise ValueError(f"{path.name}: [{kind}.{name}] has unknown fields {sorted(extra)}")
            row = Row(
                kind=kind,
                name=name,
                fails=tuple(table.get("fails", ())),
                knock_on=dict(table.get("knock_on", {})),
                setup=table.get("setup", "embedded"),
                inseparable=table.get("inseparable", ""),
                why=table.get("why", ""),
                factory=table.get("factory", ""),
                options=dict(table.get("options", {})),
                may_fail=dict(table.get("may_fail", {})),
                because=dict(table.get("because", {})),
                xfail=table.get("xfail", ""),
            )
            if row.setup not in SETUPS:
                raise ValueError(f"{path.name}: [{row.key}] names unknown setup {row.setup!r}")
            if kind in ("reference", "elsewhere") and not row.why:
                raise ValueError(f"{path.name}: [{row.key}] needs a why: nothing else proves its failures")
            stray = sorted(set(row.because) - row.expected)
            if stray:
                raise ValueError(f"{path.name}: [{row.key}] has a because for {stray}, which it does not fail")
            twice = (set(row.fails) & set(row.knock_on)) | (row.expected & set(row.may_fail))
            if twice:
                raise ValueError(f"{path.name}: [{row.key}] lists {sorted(twice)} twice")
            rows.append(row)
    return rows


def variant_modules() -> list[str]:
    """Every broken variant in tests/broken (helpers start with an underscore)."""
    return sorted(p.stem for p in BROKEN.glob("[!_]*.py"))


# ---------------------------------------------------------------- running


def _run(
    app: Any, setup: Setup, settings: Any, environ: Mapping[str, str], ids: Sequence[str] | None
) -> dict[str, CheckResult]:
    registry = load_all_checks()
    checks = registry.all() if ids is None else [registry.get(i) for i in ids]
    with ReferenceServer(settings, app=app) as server:
        config = RunConfig(target=server.url, timeout=10.0, max_wait=15.0, **dict(setup.config))
        ctx = CheckContext(setup.build_profile(), config, environ=environ)
        try:
            results = run_checks(checks, ctx)
        finally:
            ctx.close()
    return {r.id: r for r in results}


def run_setup(
    setup_name: str, create_app: Callable[..., Any] | None = None, ids: Sequence[str] | None = None
) -> dict[str, CheckResult]:
    """Run ``ids`` (default: every check) against ``create_app`` (default: the setup's reference).

    The suite is handed both HS256 keys, as the embedded run does (so TOK-03 is judged, not
    skipped); a variant that signs with another key (weak_hmac_secret) is then judged by the key it
    leaks to the dictionary, or TOK-03 reports the handed key as wrong.
    """
    setup = SETUPS[setup_name]
    settings = embedded_settings(**dict(setup.settings))
    factory = create_app or setup.reference_app
    app = factory(settings) if factory is not None else None
    environ = {ACCESS_SECRET_ENV: settings.access_secret, REFRESH_SECRET_ENV: settings.refresh_secret}
    return _run(app, setup, settings, environ, ids)


def run_row(row: Row, ids: Sequence[str] | None = None) -> dict[str, CheckResult]:
    """The whole suite (or ``ids``) against the row's subject."""
    if row.kind == "variant":
        return run_setup(row.setup, importlib.import_module(f"tests.broken.{row.name}").create_app, ids)
    if row.kind == "reference":
        return run_setup(row.setup, None, ids)
    if row.kind == "shape":
        from tests.shapes import conftest as shapes

        shape = getattr(shapes, row.factory)(**row.options)
        return shapes.run_shape(shape, ids)
    raise ValueError(f"[{row.key}] is not run here: {row.why}")


#: What a check that raised RequirementFailed reports: FAILED, or NOT_PRESENT for a MAY requirement
#: (an option the target lacks has not failed anything, engine._result).
FAILING = frozenset({Outcome.FAILED, Outcome.NOT_PRESENT})


def failed(results: Mapping[str, CheckResult]) -> frozenset[str]:
    """The IDs whose check found the requirement broken."""
    return frozenset(i for i, r in results.items() if r.outcome in FAILING)


def describe(results: Mapping[str, CheckResult], only: set[str] | frozenset[str] | None = None) -> str:
    return "\n".join(
        f"  {r.id:7} {r.outcome.value:8} {r.message[:160]}" for r in results.values() if only is None or r.id in only
    )
