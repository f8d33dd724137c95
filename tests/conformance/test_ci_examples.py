"""docs/examples: the CI files parse as YAML, and every tokenconform command and option they run exists."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenconform import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def scripts(document: Any) -> list[str]:
    """Every shell line of a GitHub workflow (steps' run) or a GitLab job (script, after_script)."""
    found: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "run" and isinstance(value, str):
                found.append(value)
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                found.extend(str(line) for line in value)
            else:
                found.extend(scripts(value))
    elif isinstance(document, list):
        for value in document:
            found.extend(scripts(value))
    return found


def tokenconform_commands(text: str) -> list[list[str]]:
    """The argv of each ``tokenconform`` invocation in a shell script (continuations joined)."""
    joined = text.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words and words[0] == "tokenconform":
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("name", ["github-workflow.yml", "gitlab-ci.yml"])
def test_example_parses_and_runs_real_commands(name: str) -> None:
    document = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    commands = [argv for script in scripts(document) for argv in tokenconform_commands(script)]
    assert any(argv[0] == "run" and "--expected-failures" in argv and "--markdown-report" in argv for argv in commands)
    parser = cli.build_parser()
    for argv in commands:
        namespace, rest = parser.parse_known_args(argv)
        assert not rest, f"{name}: tokenconform {' '.join(argv)}: unknown {rest}"
        assert namespace.command in ("run", "profile", "baseline", "report")
