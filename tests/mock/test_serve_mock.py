"""Issue 9, "done when": with `tokenconform serve --mock --access-ttl 15m` a script logs in,
advances the clock 16 minutes, sees the access token refused and the refresh accepted, injects a
503 on the next refresh and reads the events back."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests

TIMEOUT = 10


@pytest.mark.slow
def test_serve_mock_done_when_script(tmp_path):
    command = [sys.executable, "-m", "tokenconform.cli", "serve", "--mock", "--dev", "--access-ttl", "15m",
               "--port", "0", "--bcrypt-rounds", "4", "--db", str(tmp_path / "unused.db")]  # fmt: skip
    env = dict(os.environ, NO_COLOR="1", COLUMNS="80")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert process.stdout is not None
        url = re.search(r"http://\S+", process.stdout.readline())
        assert url, "no listening line"
        base = url.group(0)
        user = {"username": "demo", "email": "demo@example.com", "password": "correct horse", "fullName": "Demo"}
        assert requests.post(f"{base}/register", json=user, timeout=TIMEOUT).status_code == 201
        login = requests.post(
            f"{base}/login", json={"email": user["email"], "password": user["password"]}, timeout=TIMEOUT
        )
        tokens = login.json()
        bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
        assert requests.get(f"{base}/profile", headers=bearer, timeout=TIMEOUT).status_code == 200
        assert requests.post(f"{base}/_mock/clock", json={"advance": 16 * 60}, timeout=TIMEOUT).status_code == 200
        assert requests.get(f"{base}/profile", headers=bearer, timeout=TIMEOUT).status_code == 401
        renewed = requests.post(f"{base}/refresh", json={"refreshToken": tokens["refreshToken"]}, timeout=TIMEOUT)
        assert renewed.status_code == 200
        fault = {"path": "/refresh", "status": 503, "count": 1}
        assert requests.post(f"{base}/_mock/faults", json=fault, timeout=TIMEOUT).status_code == 201
        failed = requests.post(
            f"{base}/refresh", json={"refreshToken": renewed.json()["refreshToken"]}, timeout=TIMEOUT
        )
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"
        events = requests.get(f"{base}/_mock/events", timeout=TIMEOUT).json()["events"]
        assert [(e["path"], e["status"]) for e in events] == [
            ("/register", 201), ("/login", 200), ("/profile", 200),
            ("/profile", 401), ("/refresh", 200), ("/refresh", 503),
        ]  # fmt: skip
        assert requests.get(f"{base}/docs", timeout=TIMEOUT).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
