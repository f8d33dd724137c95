"""The README's promise, run as written: `tokenconform serve --dev --access-ttl 3s --refresh-ttl 8s`
(bcrypt at its production cost, 12) checked with `tokenconform run --target URL --profile reference`
exits 0 (issue 6.3: it took a minute and ended in exit 2 when timed checks resumed after the
untimed ones had let their tokens expire)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_readme_serve_then_run_exits_0(tmp_path: Path) -> None:
    environ = {**os.environ, "NO_COLOR": "1", "DATABASE_PATH": str(tmp_path / "readme.db")}
    server = subprocess.Popen(
        [sys.executable, "-m", "tokenconform.cli", "serve", "--dev", "--access-ttl", "3s", "--refresh-ttl", "8s",
         "--port", "0"],
        cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        url = None
        assert server.stdout is not None
        for line in server.stdout:
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if found:
                url = found.group(0)
                break
        assert url, "serve printed no URL"
        done = subprocess.run(
            [sys.executable, "-m", "tokenconform.cli", "run", "--target", url, "--profile", "reference"],
            cwd=tmp_path, env={**environ, "COLUMNS": "120"}, capture_output=True, text=True, timeout=500,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    verdicts = [line for line in done.stdout.splitlines() if re.search(r"\b(FAIL|ERROR)\b|exit code|checks ", line)]
    assert done.returncode == 0, "\n".join(verdicts) + done.stderr
    assert "0 failed" in done.stdout and "0 errors" in done.stdout
