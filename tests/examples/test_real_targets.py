"""The real example targets (examples/targets/*): apps on the real libraries from PyPI, judged by the CLI.

Each target is started as a subprocess from its own venv (``bash examples/targets/setup.sh``)
on 127.0.0.1:0, the suite runs against it once through ``tokenconform run`` with its profile, and
the target is stopped with SIGTERM. The failures that count must be exactly those listed in the
target's ``expected-failures.toml`` (entries marked ``flaky`` may pass), apart from the suite's
own false alarms named in FALSE_ALARMS below: each of those is an xfail(strict=True) that turns
into a failure the day the suite stops raising it, so the entry has to go.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tokenconform.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "targets"))

import launch  # noqa: E402  (examples/targets/launch.py)

NAMES = list(launch.TARGETS)
#: false alarms that depend on timing: their xfail is not strict
FLAKY_FALSE_ALARMS: set[tuple[str, str]] = set()

#: Failures the suite raises on a real target that behaves legitimately: suite bugs for the lead,
#: not behaviours of the library, so they are not in the expected-failures files. Empty today; the
#: ones these targets found are fixed, with regression tests of their own: LGO-09 on simplejwt (a
#: logout with an expired refresh token), TOK-11, REU-06 and CKE-10 on flask-jwt-extended (a
#: refresh that issues no new refresh token).
FALSE_ALARMS: dict[str, dict[str, str]] = {"simplejwt": {}, "flask-jwt-extended": {}}


@dataclass
class Run:
    """One target started, judged and stopped."""

    name: str
    report: dict[str, Any]
    exit_code: int
    output: str
    stop_status: int
    leftovers: set[str]
    ratchet: bool

    def failed(self) -> set[str]:
        return launch.failed_ids(self.report)

    def describe(self, ids: set[str] | None = None) -> str:
        checks = [c for c in self.report["checks"] if ids is None or c["id"] in ids]
        return "\n".join(f"{c['id']:7} {c['level']:6} {c['outcome']:9} {c['message'][:300]}" for c in checks)


def _temp_dirs(target: launch.Target) -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{target.temp_prefix}*")}


@functools.cache
def _cli_has_expected_failures() -> bool:
    command = [*launch.tokenconform_command(), "run", "--help"]
    return "--expected-failures" in subprocess.run(command, capture_output=True, text=True, check=False).stdout


def _run(name: str, directory: Path) -> Run:
    target = launch.TARGETS[name]
    environ = launch.environ_for(target)
    before = _temp_dirs(target)
    ratchet = _cli_has_expected_failures()
    extra = ["--expected-failures", str(target.expected_failures_file)] if ratchet else []
    report_path = directory / "report.json"
    with launch.started(target, environ) as process:
        result = launch.run_suite(target, process.url, environ, report_path, extra)
    assert report_path.exists(), f"no JSON report from tokenconform (exit {result.returncode}):\n{result.stderr}"
    return Run(
        name=name,
        report=launch.load_report(report_path),
        exit_code=result.returncode,
        output=result.stdout[-4000:] + result.stderr[-4000:],
        stop_status=process.process.returncode,
        leftovers=_temp_dirs(target) - before,
        ratchet=ratchet,
    )


@pytest.fixture(scope="module")
def runs() -> Iterator[Callable[[str], Run]]:
    """Each target's run, made once and shared by the tests of the module; its reports are removed after."""
    cache: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="tokenconform-examples-") as scratch:

        def get(name: str) -> Run:
            if name not in cache:
                directory = Path(scratch, name)
                directory.mkdir()
                cache[name] = _run(name, directory)
            return cache[name]

        yield get


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_failures_are_exactly_the_expected_ones(runs: Callable[[str], Run], name: str) -> None:
    """The counted failures, minus the suite's known false alarms, are the file's entries (flaky ones may pass)."""
    run = runs(name)
    expected = launch.load_expected_failures(launch.TARGETS[name].expected_failures_file)
    failed = run.failed() - set(FALSE_ALARMS.get(name, {}))
    new = failed - expected.stable - expected.flaky
    now_passing = expected.stable - failed
    assert not new and not now_passing, (
        f"{name}: new failures {sorted(new)}; listed but now passing (remove from the file) {sorted(now_passing)}\n"
        f"{run.describe(new | now_passing)}\n\nevery result:\n{run.describe()}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_check_is_judged(runs: Callable[[str], Run], name: str) -> None:
    """No check ends in error on a real target: the profile and the target's set-up speak to each other."""
    run = runs(name)
    errors = launch.outcome_ids(run.report, "error")
    assert not errors, f"{name}: checks in error:\n{run.describe(errors)}\n\n{run.output}"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_ratchet_exit_code(runs: Callable[[str], Run], name: str) -> None:
    """With --expected-failures, the run exits 0 unless a suite false alarm is still raised."""
    run = runs(name)
    if not run.ratchet:
        pytest.skip("tokenconform run has no --expected-failures option yet (the file's IDs are compared above)")
    false_alarms = run.failed() & set(FALSE_ALARMS.get(name, {}))
    assert run.exit_code == (1 if false_alarms else 0), run.output


def _false_alarm_cases() -> Iterator[Any]:
    for name, alarms in FALSE_ALARMS.items():
        for check_id, bug in alarms.items():
            strict = (name, check_id) not in FLAKY_FALSE_ALARMS
            mark = pytest.mark.xfail(reason=f"suite false alarm: {bug}", strict=strict)
            yield pytest.param(name, check_id, id=f"{name}-{check_id}", marks=[pytest.mark.slow, mark])


@pytest.mark.parametrize(("name", "check_id"), list(_false_alarm_cases()))
def test_suite_raises_no_false_alarm(runs: Callable[[str], Run], name: str, check_id: str) -> None:
    """A legitimate behaviour of a real library is not failed (xfail while the suite bug stands)."""
    run = runs(name)
    assert check_id not in run.failed(), run.describe({check_id})


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_target_stops_cleanly(runs: Callable[[str], Run], name: str) -> None:
    """SIGTERM ends the app with status 0 and it removes its temporary directory (SQLite database)."""
    run = runs(name)
    assert run.stop_status == 0, run.output
    assert not run.leftovers, f"{name} left {sorted(run.leftovers)} in {tempfile.gettempdir()}"


@pytest.mark.parametrize("name", NAMES)
def test_expected_failures_file_is_well_formed(name: str) -> None:
    """Each entry names a catalogue ID once, with a one-line reason; a race entry is measured."""
    entries = launch.load_expected_failures(launch.TARGETS[name].expected_failures_file).entries
    catalog = load_catalog()
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids)), f"duplicate IDs in {name}: {ids}"
    for entry in entries:
        assert entry.id in catalog, f"{name}: {entry.id} is not in spec/requirements.toml"
        assert entry.reason.strip() and "\n" not in entry.reason, f"{name} {entry.id}: the reason is one line"
        assert entry.id not in FALSE_ALARMS.get(name, {}), f"{name} {entry.id}: a suite false alarm is not expected"
        if entry.id.startswith("CON-"):
            # A race entry must be stable over 10 runs, or flaky with the observed rate.
            assert re.search(r"\b\d+ of 10\b", entry.reason), f"{name} {entry.id}: record the rate over 10 runs"
