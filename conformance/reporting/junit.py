"""Render a run as JUnit XML for CI test reporters (Jenkins, GitHub test-reporter, GitLab).

The shape follows the surefire schema that those parsers are written against: one
``<testsuites>``, one ``<testsuite>`` per category with ``tests``/``failures``/``errors``/
``skipped``/``time``, and one ``<testcase>`` per check whose ``name`` holds the requirement ID
(a missing ``testcase@name`` is what broke Jenkins and test-reporter in h2spec PR #123).

How outcomes map, so that the XML's failure count agrees with the exit code:

- a failure that counts (at the run's level; a declared MUST deviation under ``--strict``; with an
  expected-failures file, a new failure) → ``<failure type="RequirementFailed">``, body
  expected/actual/evidence; a listed requirement that now passes → ``<failure type="NowPasses">``;
- failed, not counting (a SHOULD failure under ``--level must``, or a failure the expected-failures
  file lists) → a passing testcase with a ``WARNING`` or ``EXPECTED FAILURE`` in ``<system-out>``.
  Not ``<failure>``: Jenkins would mark the build unstable while the run exits 0. Not ``<skipped>``
  either: the check ran and found a deviation, and a dashboard reads "skipped" as "not run", which
  would hide it among the opt-in checks;
- error → ``<error type="CheckError">``;
- skipped, not_checked, not_present, declared → ``<skipped message=...>``, prefixed ``not checked:``,
  ``not present:`` or ``declared:``.

Pure function: the CLI writes the text (UTF-8, as the declaration says) where ``--junit-xml`` says.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .. import __version__
from ..results import CheckResult, Outcome, RunResult
from . import _common

__all__ = ["render"]

# XML 1.0 cannot carry most control characters, not even as character references, and a
# target's response body (quoted in evidence) may contain anything: show them escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render(run: RunResult) -> str:
    """The report as a JUnit XML document (with its XML declaration), ending in a newline."""
    root = ET.Element("testsuites", name="tokenconform")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for group, results in _common.by_category(run.results):
        category = group.name
        suite, counts, suite_time = _suite(run, category, results)
        root.append(suite)
        for key in totals:
            totals[key] += counts[key]
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(run.duration_s or total_time))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(run: RunResult, category: str, results: list[CheckResult]) -> tuple[ET.Element, dict[str, int], float]:
    suite = ET.Element("testsuite", name=category)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("tokenconform.version", __version__),
        ("target", run.target),
        ("profile", run.profile),
        ("level", run.level.value.lower()),
        ("started_at", run.started_at),
    ):
        ET.SubElement(properties, "property", name=name, value=_text(value))
    counts = {"tests": len(results), "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        kind = _testcase(suite, run, result)
        if kind:
            counts[kind] += 1
    elapsed = sum(r.duration_s for r in results)
    # Attribute order as in surefire reports; ElementTree keeps insertion order.
    for key in ("tests", "failures", "errors", "skipped"):
        suite.set(key, str(counts[key]))
    # No ``timestamp`` attribute: the Ant schema wants one without a zone, which would drop the
    # offset from started_at; the exact value is in the properties instead.
    suite.set("time", _seconds(elapsed))
    return suite, counts, elapsed


def _testcase(suite: ET.Element, run: RunResult, result: CheckResult) -> str:
    """Append the testcase; return the suite counter it adds to ("" for a pass)."""
    requirement = result.requirement
    case = ET.SubElement(
        suite,
        "testcase",
        name=_text(f"{result.id} {requirement.title}"),
        classname=f"tokenconform.{requirement.category}",
        time=_seconds(result.duration_s),
    )
    message = _text(_common.message(result))
    tag = _common.ratchet_word(run, result)
    if tag == "NOW PASSES":
        source = run.expected_failures.source if run.expected_failures else "the file"
        text = f"{result.id} now passes: remove it from the file {source}"
        ET.SubElement(case, "failure", message=_text(text), type="NowPasses").text = _text(text)
        return "failures"
    if result.outcome is Outcome.ERROR:
        error = ET.SubElement(case, "error", message=message, type="CheckError")
        error.text = _text(_body(result))
        return "errors"
    if run.counts(result):
        failure = ET.SubElement(case, "failure", message=message, type="RequirementFailed")
        failure.text = _text(_body(result))
        return "failures"
    if result.outcome is Outcome.FAILED:
        if tag in ("expected", "flaky"):
            entry = run.expected_failures.entries.get(result.id) if run.expected_failures else None
            source = run.expected_failures.source if run.expected_failures else ""
            note = f"EXPECTED FAILURE ({source}): {entry.reason if entry else ''}\n{_body(result)}"
            ET.SubElement(case, "system-out").text = _text(note)
            return ""
        warning = f"WARNING: {requirement.level.value} requirement not met (does not fail a run at level "
        warning += f"{run.level.value.lower()})\n{_body(result)}"
        ET.SubElement(case, "system-out").text = _text(warning)
        return ""
    prefix = {
        Outcome.DECLARED: "declared: ",
        Outcome.NOT_CHECKED: "not checked: ",
        Outcome.NOT_PRESENT: "not present: ",
    }
    if result.outcome in prefix or result.outcome is Outcome.SKIPPED:
        text = prefix.get(result.outcome, "") + _common.message(result)
        ET.SubElement(case, "skipped", message=_text(text))
        return "skipped"
    return ""


def _body(result: CheckResult) -> str:
    """The text of a failure or error: what the requirement says, what was expected, what came back."""
    requirement = result.requirement
    parts = [
        f"{result.id} ({requirement.level.value}): {requirement.statement}",
        f"references: {', '.join(requirement.references)}",
    ]
    if result.message:
        parts.append(f"message: {result.message}")
    if result.expected:
        parts.append(f"expected: {result.expected}")
    if result.actual:
        parts.append(f"actual: {result.actual}")
    if result.evidence:
        parts.append("evidence:")
        parts.extend("  " + "\n  ".join(exchange.splitlines()) for exchange in result.evidence)
    return "\n".join(parts)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _text(value: str) -> str:
    return _NOT_XML.sub(_escape, value)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
