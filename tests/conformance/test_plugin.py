"""The pytest11 plugin: inert by default, and the suite as pytest items when its options are given.

Suite runs go through ``python -m pytest`` in a subprocess, in an empty directory (no ini, no
conftest of ours), with NO_COLOR=1 COLUMNS=80.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenconform import plugin
from tokenconform.embedded import embedded_settings
from tokenconform.registry import load_all_checks
from tokenconform_server.server import ReferenceServer


def run_pytest(
    *args: str, cwd: Path, env: dict[str, str] | None = None, autoload: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS``; without ``autoload``, only our plugin is loaded (the others cost seconds)."""
    environ = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **(env or {})}
    environ.pop("PYTEST_ADDOPTS", None)
    plugins = [] if autoload else ["-p", "tokenconform.plugin"]
    if not autoload:
        environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugins, *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with ReferenceServer(embedded_settings()) as server:
        yield server.url


def junit_names(path: Path) -> list[str]:
    return [case.get("name", "") for case in ET.parse(path).getroot().iter("testcase")]


# ---------------------------------------------------------------- inert unless asked


def test_plugin_is_loaded_but_inactive_in_this_very_run(request: pytest.FixtureRequest) -> None:
    """Our own test session loads the plugin (pytest11) and it registers nothing else."""
    assert request.config.pluginmanager.has_plugin("tokenconform")
    assert plugin.active_run(request.config) is None
    assert request.config.pluginmanager.get_plugin("tokenconform-run") is None


def test_importing_the_plugin_is_cheap() -> None:
    code = textwrap.dedent(
        """
        import sys
        import tokenconform.plugin
        heavy = [m for m in ("requests", "tokenconform.registry", "tokenconform.catalog", "tokenconform_server")
                 if m in sys.modules]
        print(heavy)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.slow
def test_plain_pytest_run_is_untouched(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_one():\n    pass\n", encoding="utf-8")
    # Loaded the way every pytest run loads it: through the pytest11 entry point.
    done = run_pytest("-q", cwd=tmp_path, autoload=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "tokenconform" not in done.stdout
    help_text = run_pytest("--help", cwd=tmp_path, autoload=True).stdout
    for option in (plugin.OPT_TARGET, plugin.OPT_PROFILE, plugin.OPT_LEVEL, plugin.OPT_TIMING, plugin.OPT_ROUNDS):
        assert option in help_text


@pytest.mark.slow
@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ((plugin.OPT_TARGET, "http://127.0.0.1:9"), plugin.OPT_PROFILE),
        ((plugin.OPT_PROFILE, "reference"), plugin.OPT_TARGET),
    ],
)
def test_one_option_without_the_other_is_a_usage_error(tmp_path: Path, given: tuple[str, str], missing: str) -> None:
    done = run_pytest("--pyargs", "tokenconform.test_suite", *given, cwd=tmp_path)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"{missing} is missing" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_invalid_profile_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text('name = "x"\n[login]\npath = "login"\n', encoding="utf-8")
    done = run_pytest(
        "--pyargs", "tokenconform.test_suite",
        plugin.OPT_TARGET, "http://127.0.0.1:9", plugin.OPT_PROFILE, str(profile),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "login.path" in done.stderr


# ---------------------------------------------------------------- the suite as items


@pytest.mark.slow
def test_k_selects_exactly_one_item_and_pytest_junitxml_names_it(tmp_path: Path, target: str) -> None:
    junit = tmp_path / "junit.xml"
    done = run_pytest(
        "--pyargs", "tokenconform.test_suite", plugin.OPT_TARGET, target, plugin.OPT_PROFILE, "reference",
        "-k", "ROT-01", f"--junitxml={junit}",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert junit_names(junit) == ["test_requirement[ROT-01]"]


@pytest.mark.slow
def test_pyargs_conformance_collects_the_suite_in_catalogue_order_timed_last(tmp_path: Path) -> None:
    # --collect-only sends no request, so a closed port will do.
    done = run_pytest(
        "--pyargs", "tokenconform", "--collect-only", "-q",
        plugin.OPT_TARGET, f"http://127.0.0.1:{closed_port()}", plugin.OPT_PROFILE, "reference",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line.split("[", 1)[1].rstrip("]") for line in done.stdout.splitlines() if "test_requirement[" in line]
    registry = load_all_checks()
    # Client requirements are judged by `tokenconform client-check`, not by a server run.
    catalogue = [r.id for r in registry.catalog.requirements if r.category != "client"]
    assert sorted(ids) == sorted(catalogue)
    phase = {c.id: c.run_phase for c in registry.all()}
    # Untimed first, timed next, checks that end every session of an account last.
    assert [phase.get(rid, 0) for rid in ids] == sorted(phase.get(rid, 0) for rid in ids), ids
    untimed = [rid for rid in ids if phase.get(rid, 0) == 0]
    assert untimed == [rid for rid in catalogue if phase.get(rid, 0) == 0]


@pytest.mark.slow
def test_suite_module_without_options_is_one_visible_skip(tmp_path: Path) -> None:
    done = run_pytest("--pyargs", "tokenconform.test_suite", "-rs", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and plugin.OPT_TARGET in done.stdout


@pytest.mark.slow
def test_dead_target_stops_the_session_with_one_line(tmp_path: Path) -> None:
    done = run_pytest(
        "--pyargs", "tokenconform.test_suite", plugin.OPT_TARGET, f"http://127.0.0.1:{closed_port()}",
        plugin.OPT_PROFILE, "reference", "-k", "rotation or ROT", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    # Nothing can be judged: pytest stops with one line, not one error per check.
    assert done.returncode == 2, done.stdout
    assert not re.search(r"\d+ (failed|errors?|passed)", done.stdout), done.stdout
    assert done.stdout.count("connection refused") == 1, done.stdout


@pytest.mark.slow
def test_outcomes_map_to_pytest(tmp_path: Path) -> None:
    """SHOULD failure: xfail at level must (exit 0), failed at level should (exit 1); declared, not checked: skip."""
    from tests.broken.logout_ends_every_session import create_app
    from tokenconform.catalog import load_catalog

    not_automated = next(r.id for r in load_catalog().requirements if not r.automated)
    settings = embedded_settings()
    with ReferenceServer(settings, app=create_app(settings)) as server:
        args = (
            "--pyargs", "tokenconform.test_suite", plugin.OPT_TARGET, server.url, plugin.OPT_PROFILE, "reference",
            "-k", f"LGO-05 or CKE-09 or {not_automated}", "-rsx",
        )  # fmt: skip
        at_must = run_pytest(*args, cwd=tmp_path)
        at_should = run_pytest(*args, plugin.OPT_LEVEL, "should", cwd=tmp_path)
    assert at_must.returncode == 0, at_must.stdout + at_must.stderr
    assert "1 xfailed" in at_must.stdout and "2 skipped" in at_must.stdout
    assert "declared: " in at_must.stdout and "not checked: " in at_must.stdout
    assert at_should.returncode == 1, at_should.stdout
    assert "1 failed" in at_should.stdout and "test_requirement[LGO-05]" in at_should.stdout


RECORDER = '''
"""Records, in order, when each timed check is started and when each suite item is set up."""
import tokenconform.engine as engine

EVENTS = []
_start = engine.start


def _recording_start(check, ctx):
    EVENTS.append("start " + check.id)
    return _start(check, ctx)


engine.start = _recording_start


def pytest_runtest_setup(item):
    EVENTS.append("setup " + item.callspec.params["requirement_id"])


def pytest_tokenconform_finished(run):
    with open("events.txt", "w") as handle:
        handle.write("\\n".join(EVENTS))
'''


@pytest.mark.slow
def test_timed_checks_start_after_the_untimed_items_and_all_finish_together(tmp_path: Path, target: str) -> None:
    """Issue 6.3: started before the first item, a timed check's second half waited behind every
    untimed check, and against a slow target its tokens had expired by then."""
    (tmp_path / "recorder.py").write_text(RECORDER, encoding="utf-8")
    done = run_pytest(
        "-p", "recorder", "--pyargs", "tokenconform.test_suite",
        plugin.OPT_TARGET, target, plugin.OPT_PROFILE, "reference", "-k", "EXP-03 or EXP-04 or ROT-01",
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    events = (tmp_path / "events.txt").read_text(encoding="utf-8").splitlines()
    assert events[:2] == ["setup ROT-01", "start ROT-01"], events
    # The first timed item starts every timed check; their waits overlap each other.
    assert events[2] == "setup EXP-03" or events[2] == "setup EXP-04", events
    assert set(events[3:5]) == {"start EXP-03", "start EXP-04"}, events
    assert sorted(events[2:]) == ["setup EXP-03", "setup EXP-04", "start EXP-03", "start EXP-04"], events


@pytest.mark.slow
def test_pyargs_conformance_collects_the_suite_even_when_python_files_excludes_it(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = check_*.py\n", encoding="utf-8")
    done = run_pytest(
        "--pyargs", "tokenconform", "--collect-only", "-q",
        plugin.OPT_TARGET, f"http://127.0.0.1:{closed_port()}", plugin.OPT_PROFILE, "reference",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "test_requirement[" in line]
    server_requirements = [r for r in load_all_checks().catalog.requirements if r.category != "client"]
    assert len(collected) == len(server_requirements)


@pytest.mark.slow
def test_x_stops_at_the_first_failure_and_abandons_started_timed_checks(tmp_path: Path) -> None:
    from tests.broken.refresh_returns_presented_token import create_app

    settings = embedded_settings()
    with ReferenceServer(settings, app=create_app(settings)) as server:
        done = run_pytest(
            "--pyargs", "tokenconform.test_suite", plugin.OPT_TARGET, server.url, plugin.OPT_PROFILE, "reference",
            "-k", "ROT-01 or EXP-06", "-x",
            cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout and "passed" not in done.stdout.splitlines()[-1]
    assert "test_requirement[ROT-01]" in done.stdout


@pytest.mark.slow
def test_plugin_writes_the_cli_reports_and_takes_the_expected_failures_file(tmp_path: Path, target: str) -> None:
    known = tmp_path / "known.toml"
    known.write_text('[[failure]]\nid = "ROT-01"\nreason = "believed broken"\n', encoding="utf-8")
    reports = {option: tmp_path / name for option, name in (
        (plugin.OPT_JSON_REPORT, "r.json"), (plugin.OPT_JUNIT_XML, "r.xml"),
        (plugin.OPT_MARKDOWN_REPORT, "r.md"), (plugin.OPT_HTML_REPORT, "r.html"),
    )}  # fmt: skip
    args = [str(a) for pair in reports.items() for a in pair]
    done = run_pytest(
        "--pyargs", "tokenconform.test_suite", plugin.OPT_TARGET, target, plugin.OPT_PROFILE, "reference",
        "-k", "ROT-01 or ROT-02", plugin.OPT_EXPECTED_FAILURES, str(known), *args,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert "ROT-01 now passes: remove it from the file" in done.stdout
    assert all(path.exists() for path in reports.values())
    document = json.loads(reports[plugin.OPT_JSON_REPORT].read_text(encoding="utf-8"))
    assert document["expected_failures"]["now_passes"] == ["ROT-01"] and document["exit_code"] == 1
    assert "now passes" in reports[plugin.OPT_MARKDOWN_REPORT].read_text(encoding="utf-8")
