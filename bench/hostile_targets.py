"""The suite against hostile targets: wall time and peak memory of `tokenconform run` (issue 8).

    python bench/hostile_targets.py

Three targets on 127.0.0.1, each checked by a `tokenconform run` subprocess with --timeout 2:
- drip: answers every request one byte every 50 ms (never trips a per-read timeout);
- padded: the reference server with every JSON answer padded to 10 MB;
- nested: the reference server issuing access tokens whose JOSE header nests 50,000 levels deep.
For each it prints the exit code, the wall time and the peak RSS of the run (from wait4's
rusage), and the first line the run printed on stderr. Goals: exit 2 (or failures, exit 1),
within --timeout-derived bounds, peak RSS under 200 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conformance.conftest import embedded_settings  # noqa: E402
from tests.conformance.test_hostile_targets import (  # noqa: E402
    _issues_nested_access_tokens,
    _padded,
    dripping_target,
)
from tokenconform_server.app import create_app  # noqa: E402
from tokenconform_server.server import ReferenceServer  # noqa: E402


def run_suite(url: str) -> tuple[int, float, float, str]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tokenconform.cli",
                "run",
                "--target",
                url,
                "--profile",
                "reference",
                "--timeout",
                "2",
            ],
            cwd=scratch,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
        )
        _, status, usage = os.wait4(process.pid, 0)
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return code, time.monotonic() - started, usage.ru_maxrss / 1024, (stderr.strip().splitlines() or [""])[0]


def main() -> None:
    rows = []
    with dripping_target() as url:
        rows.append(("drip", *run_suite(url)))
    for name, wrap in (
        ("padded", lambda app: _padded(app, 10 * 1024 * 1024)),
        ("nested", _issues_nested_access_tokens),
    ):
        settings = embedded_settings()
        with ReferenceServer(settings, app=wrap(create_app(settings))) as server:
            rows.append((name, *run_suite(server.url)))
    print(f"{'target':8} {'exit':>4} {'wall s':>7} {'peak MB':>8}  first stderr line")
    for name, code, wall, peak, line in rows:
        print(f"{name:8} {code:>4} {wall:>7.1f} {peak:>8.1f}  {line[:100]}")


if __name__ == "__main__":
    main()
