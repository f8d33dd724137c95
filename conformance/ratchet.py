"""The expected-failures ratchet: known failures do not break a build, new ones and fixed ones do.

The file is TOML, one table per entry; this shape is the documented contract (README, docs/ci.md)::

    [[failure]]
    id = "REU-02"
    reason = "simplejwt blacklists the used token but keeps the family alive"
    flaky = false        # optional: a flaky entry may pass or fail

Judging a run against it (:meth:`ExpectedFailures.judge`):

- a listed requirement that fails is *expected*: it no longer changes the exit code;
- a failure that counts and is not listed is *new*: exit 1;
- a listed requirement that passes *now passes*: exit 1, so the file is tightened as soon as a fix
  lands (the ratchet only turns one way); a ``flaky`` entry may pass or fail;
- a listed requirement that was not judged in this run (not selected, skipped, error) is only noted.

This module knows requirement IDs, not results: ``results.RunResult`` hands it the sets of IDs
that failed and passed, so both the CLI and the pytest plugin judge a run the same way.
``tokenconform baseline REPORT.json -o FILE`` writes such a file from a JSON report (:func:`baseline`).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from .errors import UsageError

__all__ = ["ExpectedFailure", "ExpectedFailures", "Judgement", "Status", "baseline", "load"]

#: the keys an entry may have; any other key is a typo (``flakey``) and refused
_KEYS = {"id": str, "reason": str, "flaky": bool}
_REQUIRED = ("id", "reason")


@dataclass(frozen=True)
class ExpectedFailure:
    """One ``[[failure]]`` entry."""

    id: str
    reason: str
    flaky: bool = False


class Status(enum.Enum):
    """How a requirement stands against the file."""

    #: failed, and listed
    EXPECTED = "expected"
    #: failed in a way that counts, and not listed
    NEW = "new"
    #: listed (not flaky), and passed
    NOW_PASSES = "now_passes"
    #: listed as flaky: passed or failed, either is accepted
    FLAKY = "flaky"
    #: listed, but neither failed nor passed in this run (not selected, skipped, error)
    NOT_JUDGED = "not_judged"


@dataclass(frozen=True)
class Judgement:
    """A run measured against the file."""

    source: str
    statuses: Mapping[str, Status] = field(default_factory=dict)
    #: listed flaky entries that failed in this run (the rest of the flaky ones passed)
    flaky_failed: frozenset[str] = frozenset()

    def ids(self, status: Status) -> list[str]:
        return [rid for rid, s in self.statuses.items() if s is status]

    @property
    def exit_code(self) -> int:
        """1 when the run and the file disagree (a new failure, or a listed requirement now passes)."""
        return 1 if self.ids(Status.NEW) or self.ids(Status.NOW_PASSES) else 0

    def lines(self) -> list[str]:
        """What the summary says, one line per kind, most urgent first."""
        lines = []
        if new := self.ids(Status.NEW):
            lines.append(f"new failures, not in {self.source}: {', '.join(new)}")
        for rid in self.ids(Status.NOW_PASSES):
            lines.append(f"{rid} now passes: remove it from the file {self.source}")
        if expected := self.ids(Status.EXPECTED):
            lines.append(f"failing as expected: {', '.join(expected)}")
        if flaky := self.ids(Status.FLAKY):
            described = [f"{rid} ({'failed' if rid in self.flaky_failed else 'passed'})" for rid in flaky]
            lines.append(f"flaky, may pass or fail: {', '.join(described)}")
        if not_judged := self.ids(Status.NOT_JUDGED):
            lines.append(f"listed but not judged in this run: {', '.join(not_judged)}")
        return lines


@dataclass(frozen=True)
class ExpectedFailures:
    """The parsed file: requirement ID -> its entry, in file order."""

    entries: Mapping[str, ExpectedFailure]
    source: str = "expected failures"

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self.entries

    def judge(self, *, failed: Iterable[str], counted: Iterable[str], passed: Iterable[str]) -> Judgement:
        """Measure a run: ``failed`` every ID that failed, ``counted`` those that would fail the run
        without the file, ``passed`` every ID that passed."""
        failed, counted, passed = set(failed), set(counted), set(passed)
        statuses: dict[str, Status] = {}
        for rid in [*self.entries, *sorted(counted - set(self.entries))]:
            status = self.status_of(rid, failed=rid in failed, counted=rid in counted, passed=rid in passed)
            if status is not None:
                statuses[rid] = status
        flaky_failed = frozenset(rid for rid, e in self.entries.items() if e.flaky and rid in failed)
        return Judgement(source=self.source, statuses=statuses, flaky_failed=flaky_failed)

    def status_of(self, requirement_id: str, *, failed: bool, counted: bool, passed: bool) -> Status | None:
        """One requirement's standing: ``failed`` it failed, ``counted`` the failure would fail the run
        without the file, ``passed`` it passed. None: not listed and nothing to say."""
        entry = self.entries.get(requirement_id)
        if entry is None:
            return Status.NEW if counted else None
        if entry.flaky and (failed or passed):
            return Status.FLAKY
        if failed:
            return Status.EXPECTED
        if passed:
            return Status.NOW_PASSES
        return Status.NOT_JUDGED


def load(path: str | Path) -> ExpectedFailures:
    """Read and validate an expected-failures file.

    Raises:
        UsageError: the file is missing, not TOML, or an entry is malformed or names an unknown ID;
            the message names the file and the entry.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--expected-failures {source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"--expected-failures {source}: cannot read: {reason}") from None
    return parse(text, source)


def parse(text: str, source: str = "expected failures") -> ExpectedFailures:
    """Parse the file's text (see :func:`load`)."""
    from .catalog import load_catalog

    where = f"--expected-failures {source}"
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"failure"})
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; entries are [[failure]] tables")
    raw = document.get("failure", [])
    if not isinstance(raw, list):
        raise UsageError(f"{where}: 'failure' must be an array of tables ([[failure]])")
    catalog = load_catalog()
    entries: dict[str, ExpectedFailure] = {}
    for index, item in enumerate(raw):
        at = f"{where}: failure[{index}]"
        if not isinstance(item, dict):
            raise UsageError(f"{at}: expected a table with id and reason")
        for key in item:
            if key not in _KEYS:
                raise UsageError(f"{at}: unknown key {key!r} (allowed: {', '.join(_KEYS)})")
        for key in _REQUIRED:
            if key not in item:
                raise UsageError(f"{at}: missing {key!r}")
        for key, value in item.items():
            if not isinstance(value, _KEYS[key]):
                raise UsageError(f"{at}.{key}: expected a {_KEYS[key].__name__}, got {value!r}")
        rid = str(item["id"]).strip().upper()
        if rid not in catalog:
            raise UsageError(
                f"{at}.id: {item['id']!r} is not a requirement ID of the catalogue (see tokenconform run --list)"
            )
        if rid in entries:
            raise UsageError(f"{at}.id: {rid} is listed twice")
        entries[rid] = ExpectedFailure(id=rid, reason=str(item["reason"]), flaky=bool(item.get("flaky", False)))
    return ExpectedFailures(entries=entries, source=source)


# ---------------------------------------------------------------- baseline


def baseline(report: Mapping[str, Any], *, source: str = "report") -> str:
    """An expected-failures file listing what fails in a JSON report (``spec/report.schema.json``).

    Listed: every failure that would fail the run without a file (at the report's level), and, when the
    report was made with ``--strict``, every declared MUST deviation. The failure's message is the reason.

    Raises:
        UsageError: the document is not a tokenconform JSON report.
    """
    if report.get("tool") != "tokenconform" or not isinstance(report.get("checks"), list):
        raise UsageError(f"{source}: not a tokenconform JSON report (written by tokenconform run --json-report)")
    rank = {"MUST": 0, "SHOULD": 1, "MAY": 2}
    threshold = rank.get(str(report.get("level", "must")).upper(), 0)
    strict = bool(report.get("strict", False))
    lines = [
        "# Expected failures: tokenconform run --expected-failures FILE",
        f"# Written by `tokenconform baseline` from {source}",
        f"# (target {report.get('target', '?')}, profile {report.get('profile', '?')}, "
        f"started {report.get('started_at', '?')}).",
        "# A failure not listed here fails the run, and so does a listed requirement that passes:",
        "# then remove its entry. Mark an entry `flaky = true` when it passes in some runs only.",
    ]
    listed = 0
    for check in report["checks"]:
        if not isinstance(check, dict):
            continue
        outcome, level = check.get("outcome"), str(check.get("level", ""))
        failing = outcome == "failed" and rank.get(level, 9) <= threshold
        declared = outcome == "declared" and strict and level == "MUST"
        if not (failing or declared):
            continue
        listed += 1
        reason = str(check.get("message") or f"{outcome} in {source}")
        lines += [
            "",
            f"# {check.get('id')} ({level}) {check.get('title', '')}".rstrip(),
            "[[failure]]",
            f"id = {_toml_string(str(check.get('id', '')))}",
            f"reason = {_toml_string(' '.join(reason.split()))}",
            "flaky = false",
        ]
    if not listed:
        lines += ["", "# Nothing failed in that report: every requirement is expected to pass."]
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    """A TOML basic string; JSON's escapes (\\uXXXX, \\", \\\\, \\n) are valid TOML escapes."""
    return json.dumps(value, ensure_ascii=True)
