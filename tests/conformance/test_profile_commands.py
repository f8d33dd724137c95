"""``tokenconform profile init`` / ``profile check``, and the commented template they rely on."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenconform import cli
from tokenconform.profile import parse_profile
from tokenconform.profile_commands import template_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
#: an optional setting shown commented out: `#key = value` or `#[section]` (no space after the #)
DISABLED = re.compile(r"(?m)^#(?=[\[\w])")


def schema_keys(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted key path of spec/profile.schema.json, the published profile format."""
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from schema_keys(child, path)


def template_keys(text: str) -> set[str]:
    """Dotted key paths the template sets, counting the commented-out optional ones."""
    keys: set[str] = set()
    section = ""
    for raw in DISABLED.sub("", text).splitlines():
        line = raw.strip()
        if header := re.fullmatch(r"\[([\w.]+)\]", line):
            section = header.group(1)
            keys.update(".".join(section.split(".")[: i + 1]) for i in range(section.count(".") + 1))
        elif assignment := re.match(r"(\w+) =", line):
            keys.add(f"{section}.{assignment.group(1)}" if section else assignment.group(1))
    return keys


def test_template_parses_as_written_and_with_its_optional_settings_enabled() -> None:
    text = template_text()
    profile = parse_profile(tomllib.loads(text), source="template")
    assert profile.csrf is None
    enabled = parse_profile(tomllib.loads(DISABLED.sub("", text)), source="template")
    assert enabled.csrf is not None and enabled.csrf.header


def test_template_has_every_key_of_the_published_format() -> None:
    schema = json.loads((ROOT / "spec" / "profile.schema.json").read_text(encoding="utf-8"))
    missing = sorted(set(schema_keys(schema)) - template_keys(template_text()))
    assert missing == []


def test_every_key_of_the_template_has_a_comment_above_it() -> None:
    lines = DISABLED.sub("", template_text()).splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\w+ =", line):
            assert lines[number - 1].startswith("# "), f"line {number + 1}: {line!r} has no comment"


def test_init_writes_the_template_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "profile.toml"
    assert cli.main(["profile", "init", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == template_text()
    capsys.readouterr()

    path.write_text("# mine\n", encoding="utf-8")
    assert cli.main(["profile", "init", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err and str(path) in err
    assert path.read_text(encoding="utf-8") == "# mine\n"

    assert cli.main(["profile", "init", str(path), "--force"]) == 0
    assert path.read_text(encoding="utf-8") == template_text()


def test_init_dash_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "init", "-"]) == 0
    assert capsys.readouterr().out == template_text()


def test_init_into_a_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "init", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_check_prints_one_ok_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(template_text(), encoding="utf-8")
    assert cli.main(["profile", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"OK {path}: profile 'my-api'")


@pytest.mark.parametrize("name", ["reference", "simplejwt", "flask-jwt-extended", "oauth2"])
def test_check_accepts_the_built_in_profiles(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "check", name]) == 0
    assert capsys.readouterr().out.startswith(f"OK builtin:{name}: ")


@pytest.mark.parametrize(
    ("edit", "key_path"),
    [
        (("max_leeway = 60", "max_leeway = 60\nmax_leewy = 60"), "policy.max_leewy"),
        (('path = "/refresh"', 'path = "refresh"'), "refresh.path"),
        (("max_access_ttl = 900", 'max_access_ttl = "15m"'), "policy.max_access_ttl"),
        (('present = ["cookie", "body"]', 'present = ["cookie", "header"]'), "refresh.present[1]"),
    ],
)
def test_check_names_the_key_path_at_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], key_path: str
) -> None:
    path = tmp_path / "profile.toml"
    text = template_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    assert cli.main(["profile", "check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tokenconform: error: {path}: {key_path}: "), captured.err


def test_check_of_invalid_toml_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = \n", encoding="utf-8")
    assert cli.main(["profile", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid TOML" in err
