"""Redaction: the registry and the patterns, and a whole run whose every output is scanned for secrets."""

from __future__ import annotations

import importlib.resources
import json
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.broken.no_reuse_detection import create_app as create_app_without_reuse_detection
from tokenconform.embedded import embedded_settings
from tokenconform.evidence import clip, shorten
from tokenconform.redact import REDACTED, Secrets, fingerprint, scrub_patterns
from tokenconform_server.server import ReferenceServer

from .test_cli import tokenconform

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


def test_fingerprint_is_a_short_prefix_and_a_stable_hash():
    first, again, other = fingerprint(JWT), fingerprint(JWT), fingerprint(JWT + "x")
    assert first == again != other
    assert first.startswith("eyJhbGciOi…") and len(first) == 10 + 1 + 8
    assert JWT not in first and shorten(JWT) == first


def test_registered_opaque_tokens_and_passwords_are_scrubbed_everywhere():
    secrets = Secrets()
    secrets.add_token("opaque-8f3a9c2d71b64e0f")
    secrets.add_password('p@ss "word" 1')
    text = 'token opaque-8f3a9c2d71b64e0f was accepted; body {"pw": "p@ss \\"word\\" 1"}; form pw=p%40ss+%22word%22+1'
    scrubbed = secrets.scrub(text)
    assert "opaque-8f3a9c2d71b64e0f" not in scrubbed and fingerprint("opaque-8f3a9c2d71b64e0f") in scrubbed
    assert "p@ss" not in scrubbed and "p%40ss" not in scrubbed and scrubbed.count(REDACTED) == 2
    assert secrets.scrub(scrubbed) == scrubbed  # idempotent


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"GET /x [Bearer {JWT}] -> 200", JWT),
        ('request body: {"email": "a@b", "password": "hunter2hunter2"}', "hunter2hunter2"),
        ("request body: grant_type=password&username=u&password=hunter2hunter2&client_secret=s3cr3t-s3cr3t", "s3cr3t"),
        ('body: {"access_token": "0paqu3-t0ken-v4lue", "token_type": "Bearer"}', "0paqu3-t0ken-v4lue"),
        ("  set-cookie: sessionid=abc123def456ghi; Path=/; HttpOnly", "abc123def456ghi"),
        ("Authorization: Basic Y2xpZW50OnMzY3IzdC1zM2NyM3Q=", "Y2xpZW50OnMzY3IzdC1zM2NyM3Q="),
        ("target http://admin:hunter2hunter2@example.test/api", "hunter2hunter2"),
    ],
)
def test_patterns_catch_what_no_registry_knows(text, gone):
    scrubbed = scrub_patterns(text)
    assert gone not in scrubbed, scrubbed
    assert scrub_patterns(scrubbed) == scrubbed


def test_patterns_leave_ordinary_words_alone():
    text = 'WWW-Authenticate: Bearer realm="api", error="invalid_token"; "token_type": "Bearer"; Basic realm="x"'
    assert scrub_patterns(text) == text


def test_clip_never_cuts_a_token():
    body = '{"note": "' + "x " * 100 + '", "refresh_token": "' + JWT + '", "more": "' + "y" * 200 + '"}'
    clipped = clip(body, body.index(JWT) + 20)
    assert JWT in clipped and clipped.endswith("…")


# ---------------------------------------------------------------- a whole run, every output scanned


class TokenRecorder:
    """WSGI middleware: every token the server issues (JWTs in bodies, cookie values), recorded."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tokens: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def recording_start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            with self.lock:
                for name, value in headers:
                    if name.lower() == "set-cookie":
                        cookie = value.split(";", 1)[0].partition("=")[2]
                        if len(cookie) >= 16:
                            self.tokens.add(cookie)
            return start_response(status, headers, *args)

        chunks = list(self.app(environ, recording_start))
        with self.lock:
            for chunk in chunks:
                self.tokens.update(
                    re.findall(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", chunk.decode("utf-8", "replace"))
                )
        return chunks


@pytest.fixture
def recorded_server() -> Iterator[tuple[str, TokenRecorder]]:
    settings = embedded_settings()
    # A target with a defect, so that -v prints the evidence of a failure (REU-02 and kin).
    recorder = TokenRecorder(create_app_without_reuse_detection(settings))
    with ReferenceServer(settings, app=recorder) as server:
        yield server.url, recorder


def profile_without_register(tmp_path: Path) -> Path:
    """The reference profile with credentials from the environment instead of registration."""
    text = importlib.resources.files("tokenconform").joinpath("profiles/reference.toml").read_text(encoding="utf-8")
    text = re.sub(r"\[register\].*?(?=\n\[tokens)", "", text, flags=re.S)
    text = text.replace('name = "reference"', 'name = "env-credentials"')
    path = tmp_path / "env.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_no_report_and_no_output_line_contains_a_password_or_a_full_token(
    tmp_path: Path, recorded_server: tuple[str, TokenRecorder]
) -> None:
    url, recorder = recorded_server
    password, client_secret = "Sw0rdfish-Correct-Horse-1", "client-s3cret-value-42"
    for number in (1, 2):
        email = f"redact{number}@example.test"
        body = {"username": f"redact{number}", "email": email, "password": password, "fullName": "R"}
        assert requests.post(f"{url}/register", json=body, timeout=10).status_code == 201
    env = {
        "TOKENCONFORM_USERNAME": "redact1@example.test",
        "TOKENCONFORM_PASSWORD": password,
        "TOKENCONFORM_USERNAME_2": "redact2@example.test",
        "TOKENCONFORM_PASSWORD_2": password,
        "TOKENCONFORM_CLIENT_ID": "tc",
        "TOKENCONFORM_CLIENT_SECRET": client_secret,
    }
    reports = {name: tmp_path / name for name in ("r.json", "r.xml", "r.md", "r.html")}
    done = tokenconform(
        "run", "--target", url, "--profile", str(profile_without_register(tmp_path)), "-v",
        "--only", "login", "rotation", "reuse", "logout", "robustness",
        "--json-report", str(reports["r.json"]), "--junit-xml", str(reports["r.xml"]),
        "--markdown-report", str(reports["r.md"]), "--html-report", str(reports["r.html"]),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert len(recorder.tokens) > 20  # the run really did log in, refresh and present tokens
    outputs = {"stdout": done.stdout, "stderr": done.stderr}
    outputs.update({name: path.read_text(encoding="utf-8") for name, path in reports.items()})
    assert "evidence:" in done.stdout  # -v printed evidence, so there was something to redact
    for name, text in outputs.items():
        assert password not in text, name
        assert client_secret not in text, name
        leaked = [token for token in recorder.tokens if token in text]
        assert not leaked, f"{name}: {len(leaked)} full tokens, e.g. {leaked[0][:20]}…"
    # Tokens are still told apart: fingerprints, not one placeholder.
    evidence = "\n".join(e for check in json.loads(outputs["r.json"])["checks"] for e in check["evidence"])
    assert len(set(re.findall(r"eyJhbGciOi…[0-9a-f]{8}", evidence))) > 5

    shown = tokenconform(
        "run", "--target", url, "--profile", str(profile_without_register(tmp_path)), "--only", "ROT-01",
        "--show-secrets", "--json-report", str(reports["r.json"]), cwd=tmp_path, env=env,
    )  # fmt: skip
    assert "warning: --show-secrets" in shown.stderr
    assert any(token in reports["r.json"].read_text(encoding="utf-8") for token in recorder.tokens)
