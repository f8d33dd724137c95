"""Start a real example target, run tokenconform against it, stop it: shared by the tests and scripts/example_matrix.py.

Each target lives in ``examples/targets/<name>/``: ``app.py`` (one command, prints
``listening on URL``), ``requirements.txt`` (pinned), its own ``.venv`` made by ``setup.sh``, the
profile it is judged with and ``expected-failures.toml``. This module only uses the standard
library, so it runs under any interpreter that can start ``tokenconform``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only (tokenconform depends on tomli there)
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@dataclass(frozen=True)
class Target:
    """One real example target and how the suite is pointed at it."""

    #: directory name under examples/targets/, also the report's label
    name: str
    #: a built-in profile name, or a path relative to the target's directory
    profile: str
    #: the protected path probed until the target answers (any HTTP status means "up")
    health_path: str
    #: env var through which the app takes its HMAC signing key (None: asymmetric keys)
    secret_env: str | None = None
    #: whether the suite authenticates as an OAuth 2.0 client
    oauth_client: bool = False

    @property
    def directory(self) -> Path:
        return HERE / self.name

    @property
    def python(self) -> Path:
        return self.directory / ".venv" / "bin" / "python"

    @property
    def profile_argument(self) -> str:
        local = self.directory / self.profile
        return str(local) if local.suffix == ".toml" else self.profile

    @property
    def expected_failures_file(self) -> Path:
        return self.directory / "expected-failures.toml"

    @property
    def temp_prefix(self) -> str:
        """Prefix of the temporary directory the app creates (and must remove at exit)."""
        return f"tokenconform-{self.name}-"


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("simplejwt", "simplejwt", "/api/me/", secret_env="DJANGO_SECRET_KEY"),
        Target("flask-jwt-extended", "profile.toml", "/protected", secret_env="JWT_SECRET_KEY"),
        Target("authlib", "oauth2", "/userinfo", oauth_client=True),
    )
}

#: Default suite options for the examples: SHOULD failures count too, so the ratchet covers them.
SUITE_OPTIONS = ("--level", "should", "--no-color")


def environ_for(target: Target) -> dict[str, str]:
    """Fresh credentials (and signing key) for one run, shared by the app and the suite."""
    env = {
        "TOKENCONFORM_USERNAME": "alice",
        "TOKENCONFORM_PASSWORD": f"Alice-{secrets.token_urlsafe(12)}",
        "TOKENCONFORM_USERNAME_2": "bob",
        "TOKENCONFORM_PASSWORD_2": f"Bob-{secrets.token_urlsafe(12)}",
    }
    if target.oauth_client:
        env["TOKENCONFORM_CLIENT_ID"] = "tokenconform-client"
        env["TOKENCONFORM_CLIENT_SECRET"] = secrets.token_urlsafe(24)
    if target.secret_env:
        # The app signs both tokens with this key; given it, the suite re-signs probes with it
        # (TOK-03's other HMAC algorithms, TOK-12's edited iss/aud, EXP-05's missing exp).
        key = secrets.token_urlsafe(48)
        env[target.secret_env] = env["TOKENCONFORM_ACCESS_SECRET"] = env["TOKENCONFORM_REFRESH_SECRET"] = key
    return env


class TargetProcess:
    """A started target: its URL, its process, and how it ended."""

    def __init__(self, target: Target, process: subprocess.Popen[str]) -> None:
        self.target = target
        self.process = process
        self.url = ""
        self.output: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            if line.startswith("listening on ") and not self.url:
                self.url = line.split()[-1]
                self._listening.set()
        self._listening.set()

    def wait_ready(self, timeout: float) -> str:
        """Block until the app printed its URL and answers HTTP; raise RuntimeError otherwise."""
        deadline = time.monotonic() + timeout
        self._listening.wait(timeout)
        if not self.url:
            raise RuntimeError(f"{self.target.name} did not start:\n" + "\n".join(self.output[-30:]))
        while True:
            try:
                urllib.request.urlopen(self.url + self.target.health_path, timeout=5).close()
                return self.url
            except urllib.error.HTTPError:
                return self.url  # 401 from the protected route: the app is up
            except OSError as exc:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"{self.target.name} is not answering at {self.url}: {exc}") from exc
                time.sleep(0.2)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait; returns the exit status (SIGKILL after ``timeout``, reported as -9)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


@contextlib.contextmanager
def started(target: Target, environ: Mapping[str, str], *, timeout: float = 90) -> Iterator[TargetProcess]:
    """Run ``target``'s app on 127.0.0.1:0 with ``environ``; stopped (SIGTERM) when the block ends."""
    if not target.python.exists():
        raise RuntimeError(f"{target.python} is missing: run `bash examples/targets/setup.sh` first")
    env = {**os.environ, **environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [str(target.python), "app.py", "--host", "127.0.0.1", "--port", "0"],
        cwd=target.directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = TargetProcess(target, process)
    try:
        running.wait_ready(timeout)
        yield running
    finally:
        running.stop()


def tokenconform_command() -> list[str]:
    """The tokenconform CLI of the interpreter running this module (the repository's .venv)."""
    script = Path(sys.executable).parent / "tokenconform"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from tokenconform.cli import main; main()"]


def run_suite(
    target: Target,
    url: str,
    environ: Mapping[str, str],
    json_report: Path,
    extra: Sequence[str] = (),
    *,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``tokenconform run`` against ``url`` with the target's profile; the JSON report goes to ``json_report``."""
    command = [
        *tokenconform_command(),
        "run",
        "--target",
        url,
        "--profile",
        target.profile_argument,
        *SUITE_OPTIONS,
        "--json-report",
        str(json_report),
        *extra,
    ]
    env = {**os.environ, **environ, "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------- reading reports and expected failures


#: the requirement levels whose failures fail a run at each --level
COUNTED_LEVELS = {"must": {"MUST"}, "should": {"MUST", "SHOULD"}}


def failed_ids(report: Mapping[str, Any]) -> set[str]:
    """IDs of the failures at a level the run counts (a MAY failure is only a warning).

    Judged from each check's level, not its ``counts`` flag: with --expected-failures an expected
    failure no longer counts against the run, but it is still a failure of the target.
    """
    levels = COUNTED_LEVELS[str(report.get("level", "must"))]
    return {c["id"] for c in report["checks"] if c["outcome"] == "failed" and c["level"] in levels}


def outcome_ids(report: Mapping[str, Any], outcome: str) -> set[str]:
    return {c["id"] for c in report["checks"] if c["outcome"] == outcome}


@dataclass(frozen=True)
class ExpectedFailure:
    id: str
    reason: str
    flaky: bool = False


@dataclass(frozen=True)
class ExpectedFailures:
    entries: tuple[ExpectedFailure, ...] = field(default_factory=tuple)

    @property
    def stable(self) -> set[str]:
        return {e.id for e in self.entries if not e.flaky}

    @property
    def flaky(self) -> set[str]:
        return {e.id for e in self.entries if e.flaky}


def load_expected_failures(path: Path) -> ExpectedFailures:
    """Read an expected-failures file: ``[[failure]]`` tables with id, reason and optional flaky."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    entries = tuple(
        ExpectedFailure(id=e["id"], reason=e["reason"], flaky=bool(e.get("flaky", False)))
        for e in data.get("failure", [])
    )
    return ExpectedFailures(entries)


def load_report(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        result: dict[str, Any] = json.load(handle)
    return result
