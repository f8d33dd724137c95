"""The HTML matrix: self-contained, escaped, generic over rows x requirement IDs, and rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tokenconform import cli
from tokenconform.catalog import load_catalog
from tokenconform.reporting import html
from tokenconform.reporting import json as json_report
from tokenconform.results import CheckResult, Outcome, RunResult

OUTCOMES = [Outcome.PASSED, Outcome.PASSED, Outcome.FAILED, Outcome.DECLARED, Outcome.SKIPPED, Outcome.PASSED]


def report(target: str, shift: int) -> dict:
    """A JSON report over the whole catalogue, outcomes varied per target."""
    results = []
    for i, requirement in enumerate(load_catalog().requirements):
        outcome = Outcome.NOT_CHECKED if not requirement.automated else OUTCOMES[(i + shift) % len(OUTCOMES)]
        results.append(
            CheckResult(requirement, outcome, f"note <b>{i}</b>", evidence=(f"POST /refresh -> 401 (#{i})",))
        )
    run = RunResult(target=target, profile=f"profile-{shift}", started_at="2026-01-01T00:00:00+00:00", results=results)
    document: dict = json.loads(json_report.render(run))
    return document


def test_generic_matrix_takes_rows_of_requirement_ids_and_outcomes():
    page = html.render_matrix(
        {"variant-a": {"ROT-01": "passed", "XYZ-01": "mystery"}, "variant-b": {"ROT-01": "failed"}},
        evidence={"variant-b": {"ROT-01": "</script><script>alert(1)</script>"}},
        title="self-proof",
    )
    assert page.count('class="cell ') == 3
    assert ">PASS<" in page and ">FAIL<" in page and ">MYSTERY<" in page and "Other" in page
    assert "<script>alert(1)" not in page  # evidence is data, escaped
    assert "http://" not in page.replace("http://www.w3.org", "")  # no network: nothing to fetch
    assert not re.search(r"<(link|img|iframe)\b|src=", page)


def test_report_command_writes_one_page_for_several_reports(tmp_path: Path):
    paths = []
    for shift in range(3):
        path = tmp_path / f"r{shift}.json"
        path.write_text(json.dumps(report(f"http://target-{shift}.test", shift)), encoding="utf-8")
        paths.append(str(path))
    out = tmp_path / "matrix.html"
    assert cli.main(["report", *paths, "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count('class="row-name"') == 3
    assert page.count('class="cell ') == 3 * len(load_catalog().requirements)
    assert "note &lt;b&gt;" not in page or "<b>" not in page.split("tc-data")[0]
    assert cli.main(["report", str(tmp_path / "missing.json"), "--html", str(out)]) == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/test installs Debian's package)")
def test_headless_chromium_renders_the_matrix(tmp_path: Path):
    paths = []
    for shift in range(3):
        path = tmp_path / f"r{shift}.json"
        path.write_text(json.dumps(report(f"http://target-{shift}.test", shift)), encoding="utf-8")
        paths.append(str(path))
    page = tmp_path / "matrix.html"
    assert cli.main(["report", *paths, "--html", str(page)]) == 0
    profile_dir = tmp_path / "chromium-profile"
    base = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={profile_dir}", "--virtual-time-budget=2000",
    ]  # fmt: skip
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-ready="1"' in dom.stdout  # the inline script ran: no missing resource stopped it
    assert dom.stdout.count('class="cell ') == 3 * len(load_catalog().requirements)
    assert dom.stdout.count(">FAIL<") > 0 and dom.stdout.count(">PASS<") > 0
    shot = tmp_path / "matrix.png"
    done = subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
