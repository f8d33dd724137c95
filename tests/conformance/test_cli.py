"""``tokenconform run``: the embedded run, reports, exit codes 0/1/2 and one-line errors, --list, isolation.

Runs that reach pytest go through a subprocess with NO_COLOR=1 COLUMNS=80 (schemathesis,
pytest-django); errors raised before any request are checked in-process, where they are fast.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tokenconform import cli, runner
from tokenconform.embedded import embedded_settings
from tokenconform.profile_commands import template_text
from tokenconform_server.server import ReferenceServer

ROOT = Path(__file__).resolve().parents[2]
ROTATION = ["ROT-01", "ROT-02", "ROT-03", "ROT-04", "ROT-05"]


def tokenconform(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **(env or {})}
    environ.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "tokenconform.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("tokenconform: error: ")
    return lines[0]


@pytest.fixture
def broken_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """``tests/broken/<defect>.py`` served on 127.0.0.1:0 (the defect comes from indirect parametrisation)."""
    settings = embedded_settings()
    app = importlib.import_module(f"tests.broken.{request.param}").create_app(settings)
    with ReferenceServer(settings, app=app) as server:
        yield server.url


# ---------------------------------------------------------------- runs through pytest


@pytest.mark.slow
def test_embedded_rotation_run_passes_and_writes_every_report(tmp_path: Path) -> None:
    paths = {name: tmp_path / name for name in ("report.json", "report.xml", "report.md")}
    done = tokenconform(
        "run",
        "--only",
        "rotation",
        "--json-report",
        str(paths["report.json"]),
        "--junit-xml",
        str(paths["report.xml"]),
        "--markdown-report",
        str(paths["report.md"]),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for requirement_id in ROTATION:
        assert any(line.split()[:3] == [requirement_id, "MUST", "PASS"] for line in done.stdout.splitlines())
    assert "exit code 0" in done.stdout
    # The report is ours: no pytest output, no traceback, stderr only the one announcement.
    assert "passed in" not in done.stdout and "=====" not in done.stdout
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "embedded reference server" in done.stderr

    document = json.loads(paths["report.json"].read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "spec" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)
    assert [c["id"] for c in document["checks"]] == ROTATION
    assert {c["outcome"] for c in document["checks"]} == {"passed"}
    assert document["profile"] == "reference" and document["target"].startswith("http://127.0.0.1:")

    testcases = ET.parse(paths["report.xml"]).getroot().iter("testcase")
    names = [case.get("name", "") for case in testcases]
    assert len(names) == 5 and all(any(i in name for i in ROTATION) for name in names)
    assert all(requirement_id in paths["report.md"].read_text(encoding="utf-8") for requirement_id in ROTATION)


@pytest.mark.slow
@pytest.mark.parametrize("broken_server", ["refresh_returns_presented_token"], indirect=True)
def test_failure_on_a_broken_target_exits_1(tmp_path: Path, broken_server: str) -> None:
    done = tokenconform("run", "--target", broken_server, "--profile", "reference", "--only", "ROT-01", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if "ROT-01" in line)
    assert line.split()[:3] == ["ROT-01", "MUST", "FAIL"]
    assert "exit code 1" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("broken_server", ["logout_ends_every_session"], indirect=True)
def test_should_failure_is_a_warning_at_level_must_and_fails_at_level_should(
    tmp_path: Path, broken_server: str
) -> None:
    args = ("run", "--target", broken_server, "--profile", "reference", "--only", "LGO-05")
    at_must = tokenconform(*args, cwd=tmp_path)
    assert at_must.returncode == 0, at_must.stdout + at_must.stderr
    assert "WARN" in next(line for line in at_must.stdout.splitlines() if "LGO-05" in line)
    at_should = tokenconform(*args, "--level", "should", cwd=tmp_path)
    assert at_should.returncode == 1, at_should.stdout + at_should.stderr
    assert "FAIL" in next(line for line in at_should.stdout.splitlines() if "LGO-05" in line)


@pytest.mark.slow
def test_failed_calibration_is_one_fatal_line_and_exit_2(tmp_path: Path) -> None:
    """A protected route that refuses valid tokens is a broken oracle: no verdicts, one line, exit 2."""
    profile = tmp_path / "profile.toml"
    profile.write_text(template_text().replace('path = "/profile"', 'path = "/no-such-route"'), encoding="utf-8")
    settings = embedded_settings()
    with ReferenceServer(settings) as server:
        done = tokenconform(
            "run", "--target", server.url, "--profile", str(profile), "--only", "rotation", cwd=tmp_path
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""  # no per-check ERROR lines, no summary
    announcement, fatal = done.stderr.strip().splitlines()
    assert "checking" in announcement
    assert fatal.startswith("tokenconform: error: calibration") and "(404)" in fatal
    assert "…" not in fatal  # the reason in full


@pytest.mark.slow
def test_run_ignores_the_users_pytest_configuration(tmp_path: Path) -> None:
    """A conftest that explodes, an ini with a bogus option and PYTEST_ADDOPTS do not reach the suite."""
    (tmp_path / "conftest.py").write_text("raise RuntimeError('user conftest was imported')\n", encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n", encoding="utf-8")
    done = tokenconform("run", "--only", "ROT-01", cwd=tmp_path, env={"PYTEST_ADDOPTS": "--also-bogus"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / ".pytest_cache").exists()


# ---------------------------------------------------------------- usage errors (in-process: no request is sent)


def test_unknown_profile_key_names_the_key_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "typo.toml"
    profile.write_text(template_text().replace("max_leeway = 60", "max_leewy = 60"), encoding="utf-8")
    status = cli.main(["run", "--target", f"http://127.0.0.1:{closed_port()}", "--profile", str(profile)])
    assert status == 2
    line = one_line_error(capsys.readouterr().err)
    assert "policy.max_leewy" in line and str(profile) in line and "max_leeway" in line


def test_missing_profile_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert cli.main(["run", "--target", "http://127.0.0.1:9", "--profile", str(missing)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert str(missing) in line and "no such file" in line


def test_closed_port_exits_2_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert cli.main(["run", "--target", url, "--profile", "reference"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert url in line and "connection refused" in line


@pytest.mark.parametrize("option", ["--only", "--exclude"])
def test_unknown_category_is_a_usage_error(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", option, "rotaton", "--list"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"{option} 'rotaton'" in line and "rotation" in line


def test_target_needs_a_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--target", "http://127.0.0.1:9"]) == 2
    assert "--profile" in one_line_error(capsys.readouterr().err)


def test_report_into_a_missing_directory_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "no-such-dir" / "report.json"
    assert (
        cli.main(["run", "--target", "http://127.0.0.1:9", "--profile", "reference", "--json-report", str(path)]) == 2
    )
    assert "--json-report" in one_line_error(capsys.readouterr().err)


def test_bad_header_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--header", "no-colon-here", "--list"]) == 2
    assert "--header 'no-colon-here'" in one_line_error(capsys.readouterr().err)


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--level", "may"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# ---------------------------------------------------------------- --list, --version


def test_list_prints_checks_and_the_requirements_not_checked(capsys: pytest.CaptureFixture[str]) -> None:
    # A closed port as target: --list must not send a single request.
    assert cli.main(["run", "--list", "--target", f"http://127.0.0.1:{closed_port()}", "--profile", "reference"]) == 0
    out = capsys.readouterr().out
    listed, _, not_checked = out.partition("Not checked:")
    for requirement_id in ROTATION + ["EXP-03", "CON-01"]:
        assert f"{requirement_id}  " in listed
    assert "[waits on token lifetimes]" in next(line for line in listed.splitlines() if "EXP-03" in line)
    # LGN-03 is opt-in (--timing): listed as not checked, with how to enable it.
    assert "LGN-03" in not_checked and "--timing" in not_checked
    assert "LGN-03" not in listed


def test_list_with_timing_moves_the_opt_in_check_to_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--list", "--timing", "--only", "login"]) == 0
    listed, _, not_checked = capsys.readouterr().out.partition("Not checked:")
    assert "LGN-03" in listed and "LGN-03" not in not_checked


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "tokenconform 0.1.0"


def test_pytest_argv_is_isolated() -> None:
    namespace = cli.build_parser().parse_args(["run", "--only", "rotation", "--header", "X-Key: 1"])
    argv = runner.pytest_argv(namespace, "http://127.0.0.1:8000", "reference", "/tmp/w")
    for flag in ("--noconftest", "tokenconform.plugin", "no:cacheprovider", "tokenconform.test_suite"):
        assert flag in argv
    assert argv[argv.index("-c") + 1] == os.path.join("/tmp/w", "pytest.ini")
    assert argv[argv.index("--rootdir") + 1] == "/tmp/w"
    assert argv[argv.index("--tokenconform-header") + 1] == "X-Key: 1"


# ---------------------------------------------------------------- usage as a user meets it


def test_unknown_top_level_flag_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--bogus"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and "required" not in err


def test_unknown_run_flag_shows_runs_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("usage: tokenconform run ") and "tokenconform run: error: unrecognized arguments: --bogus" in err
    )


@pytest.mark.parametrize("header", ["Authorization: Bearer abc", "authorization:Basic eA==", "Cookie: a=b"])
def test_a_header_the_suite_sets_itself_is_refused(header: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--header", header, "--list"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "refused" in line and "another header" in line


def test_engine_turns_a_failed_may_into_not_present() -> None:
    from tokenconform.catalog import load_catalog
    from tokenconform.engine import start
    from tokenconform.errors import RequirementFailed
    from tokenconform.registry import Check

    may = next(r for r in load_catalog().requirements if r.level.value == "MAY")

    def absent(ctx: object) -> None:
        raise RequirementFailed("no revocation at password change")

    class Ctx:
        def release_connections(self) -> None: ...

        def take_evidence(self) -> list[object]:
            return []

    check = Check(requirement=may, function=absent)
    result = start(check, Ctx())  # type: ignore[arg-type]
    assert result.outcome.value == "not_present"  # type: ignore[union-attr]
    assert "no revocation at password change" in result.message  # type: ignore[union-attr]


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    import signal

    # Its own TMPDIR: an interrupt that lands while a temporary directory is being removed may
    # leave it behind, and it then goes with tmp_path.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    environ = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", "TMPDIR": str(scratch)}
    environ.pop("PYTEST_ADDOPTS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "tokenconform.cli", "run", "--json-report", str(tmp_path / "r.json")],
        cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    announcement = process.stderr.readline()  # the suite has started once this is out
    assert "checking" in announcement
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "PASSED" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenconform: interrupted; partial results"), err
    if (tmp_path / "r.json").exists():  # written when the interrupt came after the suite had begun
        report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert report["interrupted"] is True and report["exit_code"] == 130
