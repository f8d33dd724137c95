"""Loads examples/clients/python-helper.py, so each broken variant runs the same app on its
one-defect subclass of TokenSession."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

HELPER = Path(__file__).resolve().parents[3] / "examples" / "clients" / "python-helper.py"


def app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_helper", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
