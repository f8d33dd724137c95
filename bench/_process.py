"""A `tokenconform serve` subprocess for the bench scripts: start on port 0, read its URL, stop.

Not a benchmark itself. Fixed secrets (so a restarted server verifies the tokens of the one
before), bcrypt cost 4 unless told otherwise, loopback only.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

from tokenconform_server.config import generate_secret

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server subprocess: fresh secrets, cost 4, unbuffered output."""
    env = dict(os.environ)
    env.update(
        {
            "ACCESS_TOKEN_SECRET": generate_secret(),
            "REFRESH_TOKEN_SECRET": generate_secret(),
            "BCRYPT_ROUNDS": "4",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class ServerProcess:
    """``python -m tokenconform_server --port 0 --db DB ARGS...``; stderr (the request log) is discarded."""

    def __init__(self, db_path: Path, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tokenconform_server", "--port", "0", "--db", str(db_path), *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT):
                self.proc.kill()
                raise RuntimeError(f"server printed nothing in {START_TIMEOUT} s")
        line = self.proc.stdout.readline()
        if "http://" not in line:
            self.proc.kill()
            raise RuntimeError(f"no URL on stdout: {line!r}")
        #: http://127.0.0.1:PORT
        self.url = line.strip().rsplit(" ", 1)[-1]
        host, _, port = self.url.removeprefix("http://").rpartition(":")
        self.host, self.port = host, int(port)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)
        self._close()

    def stop(self) -> int:
        """SIGTERM and wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._close()
        return code

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
