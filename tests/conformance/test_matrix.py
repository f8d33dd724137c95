"""The self-proof, run for real: every variant and shape through every check, against tests/selfproof/matrix.toml.

For each row the exact set of FAILED requirement IDs must equal what the row declares (its
intended failures and its knock-ons), and the reference server under the same setup must pass every
one of them: a failure the reference shares proves nothing. Rows are independent, so
``-n 2`` spreads them; the reference runs once per setup and worker.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial

import pytest

from tests.selfproof.matrix import BROKEN, Row, describe, failed, load_matrix, run_row, run_setup, variant_modules
from tests.selfproof.setups import SETUPS
from tokenconform.registry import load_all_checks
from tokenconform.results import CheckResult, Outcome

ROWS = load_matrix()


#: Rows run this many at a time, each in its own process: a whole run is ~10 s of mostly TTL waits
#: and ~2.5 s of CPU, so overlapping them is what makes every variant x every check affordable.
#: Processes, not threads: runs sharing one GIL slow each other's requests enough to push the
#: 2 s access tokens past their exp mid-check (those checks then skip, and the row flips).
JOBS = int(os.environ.get("TOKENCONFORM_MATRIX_JOBS", "6"))


def _cost_first(row: Row) -> tuple[int, int]:
    """Long runs first, so the pool's tail is short: the timing setup (bcrypt cost 10 on every login),
    shapes (some space same-second logins a second apart), then the rest in file order."""
    return (0 if row.setup == "timing" else 1 if row.kind == "shape" else 2, ROWS.index(row))


class _Runs:
    """Row runs and reference runs in a process pool; each test waits for its own row's run.

    When this process runs every selected row of the file (no xdist, or ``--dist loadfile`` as
    scripts/test runs), all of them and their reference runs are submitted at once, longest first.
    Under another xdist distribution a worker does not know which rows it will get: a test then
    prefetches the next JOBS rows in collection order (xdist hands out contiguous chunks), and a
    row another worker took is run twice, which costs time but not correctness.
    """

    def __init__(self, rows: list[Row], *, all_here: bool) -> None:
        self.rows = rows
        self.all_here = all_here
        # spawn, not fork: the pytest process has threads (xdist's, servers'), and forking those
        # is unsafe (Python 3.12 warns, which filterwarnings = error makes fatal).
        self.pool = ProcessPoolExecutor(max_workers=JOBS, mp_context=multiprocessing.get_context("spawn"))
        self.futures: dict[str, Future[dict[str, CheckResult]]] = {}
        self.lock = threading.Lock()
        if all_here:
            for row in sorted(rows, key=_cost_first):
                self._submit(row.key, partial(run_row, row))
            for setup in sorted({r.setup for r in rows if r.differential}):
                self._submit(f"reference under {setup}", partial(run_setup, setup))

    def _submit(self, key: str, function: Callable[[], dict[str, CheckResult]]) -> Future[dict[str, CheckResult]]:
        with self.lock:
            if key not in self.futures:
                self.futures[key] = self.pool.submit(function)
            return self.futures[key]

    def row(self, row: Row) -> dict[str, CheckResult]:
        if not self.all_here and row in self.rows:
            index = self.rows.index(row)
            for ahead in self.rows[index : index + JOBS]:
                self._submit(ahead.key, partial(run_row, ahead))
        return self._submit(row.key, partial(run_row, row)).result()

    def reference(self, setup: str) -> dict[str, CheckResult]:
        return self._submit(f"reference under {setup}", partial(run_setup, setup)).result()


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest) -> Iterator[_Runs]:
    selected = [
        item.callspec.params["row"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec") and "row" in item.callspec.params
    ]
    distribution = request.config.getoption("dist", default="no")
    runner = _Runs(selected, all_here=distribution in ("no", "loadfile"))
    yield runner
    runner.pool.shutdown(wait=True, cancel_futures=True)


def _params() -> list[object]:
    marked = []
    for row in ROWS:
        if row.runs:
            marks = [pytest.mark.xfail(strict=True, reason=row.xfail)] if row.xfail else []
            marked.append(pytest.param(row, id=row.key, marks=marks))
    return marked


@pytest.mark.parametrize("row", _params())
def test_row_fails_exactly_what_it_declares(row, runs):
    results = runs.row(row)
    got = failed(results) - frozenset(row.may_fail)
    missing, unexpected = row.expected - got, got - row.expected
    assert not missing and not unexpected, (
        f"[{row.key}] (setup {row.setup}) failed {sorted(got)}, the matrix declares {sorted(row.expected)}\n"
        f"declared but not failed: {sorted(missing)}\n{describe(results, missing)}\n"
        f"failed but not declared (add to fails or knock_on, with a reason): {sorted(unexpected)}\n"
        f"{describe(results, unexpected)}"
    )
    wrong = {i: text for i, text in row.because.items() if text not in results[i].message}
    assert not wrong, f"[{row.key}] failed for another reason than declared (because):\n" + "\n".join(
        f"  {i}: expected {text!r} in {results[i].message!r}" for i, text in wrong.items()
    )
    if row.differential:
        reference = runs.reference(row.setup)
        shared = {i for i in row.judged if reference[i].outcome is not Outcome.PASSED}
        assert not shared, (
            f"[{row.key}]: the reference under setup {row.setup} does not pass {sorted(shared)}, so failing them "
            f"proves nothing about the variant:\n{describe(reference, shared)}"
        )


def test_every_variant_has_exactly_one_row():
    rows = {r.name for r in ROWS if r.kind == "variant"}
    modules = set(variant_modules())
    unlisted = sorted(modules - rows)
    assert not unlisted, f"variants without a matrix row (add [variant.<name>] to matrix.toml): {unlisted}"
    assert not rows - modules, f"matrix rows without a tests/broken module: {sorted(rows - modules)}"


def test_every_shape_factory_has_a_row():
    tree = ast.parse((BROKEN.parent / "shapes" / "conftest.py").read_text())
    factories = {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and isinstance(n.returns, ast.Name) and n.returns.id == "Shape"
    }
    named = {r.factory for r in ROWS if r.kind == "shape"}
    assert factories <= named, f"shape factories without a [shape.*] row: {sorted(factories - named)}"


def test_rows_name_automated_catalogue_ids_and_have_reasons():
    checks = {c.id for c in load_all_checks().all()}
    for row in ROWS:
        assert row.judged <= checks, f"[{row.key}] names {sorted(row.judged - checks)}: no check has that ID"
        assert row.kind == "shape" or row.fails, f"[{row.key}] declares no intended failure"
        for requirement_id, reason in {**row.knock_on, **row.may_fail}.items():
            assert reason.strip(), f"[{row.key}] knock-on {requirement_id} has no reason"


def test_every_setup_is_used_and_explained():
    used = {r.setup for r in ROWS}
    assert set(SETUPS) == used | {"embedded"}, f"setups no row uses: {sorted(set(SETUPS) - used - {'embedded'})}"
    assert all(s.why for s in SETUPS.values())
