"""The installed distribution carries only names that belong to this project.

The repository keeps its layout (conformance/, reference_server/, spec/), but a package called
``conformance`` or ``reference_server`` in site-packages would collide with a user's own. Installed,
they are ``tokenconform``, ``tokenconform_server`` and ``tokenconform_spec`` (pyproject's
package-dir), and nothing may import the directory names: under an editable install that would
load a second copy of every module (a second, empty check registry).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("conformance", "reference_server", "tests", "bench", "scripts", "examples")
DIRECTORY_NAMES = {"conformance", "reference_server"}
INSTALLED_NAMES = {"tokenconform", "tokenconform_server", "tokenconform_spec"}


def _python_sources() -> list[Path]:
    files: list[Path] = []
    for name in SOURCE_DIRS:
        files += [p for p in (REPO / name).rglob("*.py") if ".venv" not in p.parts]
    return files


def _imported_top_levels(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_source_imports_a_package_by_its_directory_name() -> None:
    offenders = []
    for path in _python_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found = _imported_top_levels(tree) & DIRECTORY_NAMES
        if found:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(found)}")
    assert offenders == []


def test_the_import_guard_sees_a_directory_name_import() -> None:
    tree = ast.parse("import os\nfrom conformance.cli import main\nfrom .x import y\n")
    assert _imported_top_levels(tree) & DIRECTORY_NAMES == {"conformance"}


@pytest.mark.slow
def test_the_wheel_installs_only_project_names_and_runs_from_them(tmp_path: Path) -> None:
    """Build the wheel from a copy of the tracked tree, unpack it, and run the suite from it."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    source = tmp_path / "src"
    for relative in listed.stdout.splitlines():
        if not (REPO / relative).is_file():
            continue  # deleted in the work tree, not yet committed
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, source / relative)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check", "-w",
         str(wheels), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("tokenconform-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_text = archive.read(entry_points).decode()
        archive.extractall(tmp_path / "site")
    top_levels = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_levels == INSTALLED_NAMES
    assert "tokenconform = tokenconform.cli:main" in entry_text
    assert "tokenconform = tokenconform.plugin" in entry_text
    assert "tokenconform_mock = tokenconform_server.mock_plugin" in entry_text
    assert {"py.typed", "profiles/reference.toml"} <= {
        name.split("/", 1)[1] for name in names if name.startswith("tokenconform/")
    }

    # The unpacked wheel comes first on the path, ahead of the editable install's import hook.
    program = (
        "import sys, tokenconform, tokenconform_server, tokenconform_spec\n"
        "site = sys.argv[1]\n"
        "for module in (tokenconform, tokenconform_server, tokenconform_spec):\n"
        "    assert module.__file__.startswith(site), module.__file__\n"
        "from tokenconform.cli import main\n"
        "sys.exit(main(['run', '--only', 'LGN-01', 'ROT-01', 'REU-01']))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "site")],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed, 0 failed" in done.stdout, done.stdout
