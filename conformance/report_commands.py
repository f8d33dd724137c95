"""``tokenconform baseline`` (an expected-failures file from a JSON report) and ``tokenconform report``
(JSON reports of several runs as one HTML matrix).

Both read JSON reports (``spec/report.schema.json``) and raise ``UsageError`` for the CLI to print
on one line (exit 2); neither sends a request.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import UsageError

__all__ = ["baseline", "html", "read_report"]


def read_report(path: str) -> dict[str, Any]:
    """A JSON report, or UsageError naming the file and what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("tool") != "tokenconform":
        raise UsageError(f"{path}: not a tokenconform JSON report (written by tokenconform run --json-report)")
    if not isinstance(document.get("checks"), list):
        raise UsageError(f"{path}: the report has no 'checks' list")
    return document


def baseline(report_path: str, output: str = "-", *, force: bool = False, out: TextIO | None = None) -> int:
    """Write the expected-failures file listing the report's failures to ``output`` ("-": stdout)."""
    from .ratchet import baseline as render

    text = render(read_report(report_path), source=report_path)
    _write(text, output, force=force, what="baseline", out=out)
    return 0


def html(report_paths: Sequence[str], output: str, *, title: str = "tokenconform results") -> int:
    """Write the HTML matrix of the reports (one column each) to ``output``."""
    from .reporting.html import render_reports

    documents = [(path, read_report(path)) for path in report_paths]
    page = render_reports(_named(documents), title=title)
    _write(page, output, force=True, what="report --html")
    return 0


def _named(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, Mapping[str, Any]]]:
    """Column names: the report's profile, or the file name when two reports share a profile."""
    profiles = [str(document.get("profile", "")) for _, document in documents]
    named = []
    for (path, document), profile in zip(documents, profiles, strict=True):
        name = profile if profile and profiles.count(profile) == 1 else Path(path).stem
        named.append((name, document))
    names = [name for name, _ in named]
    return [
        (f"{name} ({path})" if names.count(name) > 1 else name, doc)
        for (name, doc), (path, _) in zip(named, documents, strict=True)
    ]


def _write(text: str, output: str, *, force: bool, what: str, out: TextIO | None = None) -> None:
    if output == "-":
        (out or sys.stdout).write(text)
        return
    target = Path(output)
    if target.is_dir():
        raise UsageError(f"{what} {output}: is a directory")
    try:
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(f"{what} {output}: file exists; use --force to overwrite it") from None
    except OSError as exc:
        raise UsageError(f"{what} {output}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {output}", file=sys.stderr)
