"""The only module pytest collects: one test per selected requirement, its ID in the node ID.

PYTEST_DONT_REWRITE (outcomes are raised explicitly; there is no assert to rewrite).

``test_requirement[ROT-01]``, so ``-k ROT-01``, ``-x`` and pytest's own ``--junitxml`` work. Run it with
either of (both checked in tests/conformance/test_plugin.py)::

    pytest --pyargs tokenconform.test_suite --tokenconform-target URL --tokenconform-profile NAME_OR_FILE
    pytest --pyargs conformance --tokenconform-target URL --tokenconform-profile NAME_OR_FILE

(the second finds this file by the default ``python_files``; when a project's ``python_files``
leaves it out, the plugin's ``pytest_collect_file`` collects it anyway). The suite runs in one
process: not under pytest-xdist's ``-n``.

The check itself runs in the ``check_result`` fixture (set-up), so that a check which could not
judge the target is reported by pytest as an *error*, and only a broken requirement as *failed*
(schemathesis's Failure vs SchemathesisError). How each outcome maps:

- passed -> pass;
- failed at a level that counts (``--tokenconform-level``) -> fail, with message, expected, actual;
- failed at a level that does not count (a SHOULD at ``--tokenconform-level must``) -> xfail
  with the message: reported, and pytest's exit status stays 0. Not a warning: many projects
  (this one included) run with ``filterwarnings = error``, which would turn it into a failure;
- declared: a declared MUST deviation under ``--tokenconform-strict`` -> fail; otherwise skip,
  the reason prefixed "declared: ";
- skipped, not checked, not present (a MAY feature the target lacks: information) -> skip, the
  reason prefixed "not checked: " / "not present: ";
- error -> error in set-up.

With ``--tokenconform-expected-failures FILE`` (``conformance/ratchet.py``): a listed requirement
that fails -> xfail naming the file's reason; a listed one that passes -> fail ("now passes:
remove it from the file"), unless the entry is flaky; an unlisted failure -> fail, as above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .plugin import OPT_PROFILE, OPT_TARGET, active_run

if TYPE_CHECKING:
    from .results import CheckResult

INACTIVE_REASON = f"tokenconform: give {OPT_TARGET} URL and {OPT_PROFILE} NAME_OR_FILE to run the conformance suite"


class CheckErrored(Exception):
    """The check could not judge the target: pytest reports an *error*, not a failure."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result

    def __str__(self) -> str:
        return _describe(self.result)


def _describe(result: CheckResult) -> str:
    lines = [f"{result.id} ({result.requirement.level.value}) {result.requirement.title}: {result.message}"]
    if result.expected:
        lines.append(f"expected: {result.expected}")
    if result.actual:
        lines.append(f"actual:   {result.actual}")
    for exchange in result.evidence:
        lines.append("evidence: " + exchange.replace("\n", "\n          "))
    return "\n".join(lines)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "requirement_id" not in metafunc.fixturenames:
        return
    run = active_run(metafunc.config)
    if run is None:
        # Collected without the suite's options (e.g. `pytest conformance/`): one visible skip.
        metafunc.parametrize(
            "requirement_id", [pytest.param("", id="not-configured", marks=pytest.mark.skip(reason=INACTIVE_REASON))]
        )
        return
    ids = run.plan.requirement_ids
    metafunc.parametrize("requirement_id", ids, ids=ids)


@pytest.fixture
def check_result(request: pytest.FixtureRequest, requirement_id: str) -> CheckResult:
    """The requirement's CheckResult; a check that ended in error raises here, so pytest says *error*."""
    __tracebackhide__ = True
    from .results import Outcome

    run = active_run(request.config)
    assert run is not None  # parametrised only when active
    result = run.result_for(requirement_id)
    if result.outcome is Outcome.ERROR:
        raise CheckErrored(result)
    return result


def test_requirement(check_result: CheckResult, request: pytest.FixtureRequest) -> None:
    """One catalogue requirement, judged by its check."""
    from .catalog import Level
    from .errors import RequirementFailed
    from .ratchet import Status
    from .results import Outcome, is_failure

    result = check_result
    run = active_run(request.config)
    assert run is not None
    plan = run.plan
    threshold = Level.SHOULD if plan.level == "should" else Level.MUST
    outcome = result.outcome
    counted = is_failure(result, threshold, strict=plan.strict)
    if plan.expected_failures is not None:
        status = plan.expected_failures.status_of(
            result.id,
            failed=outcome is Outcome.FAILED or counted,
            counted=counted,
            passed=outcome is Outcome.PASSED,
        )
        entry = plan.expected_failures.entries.get(result.id)
        if status is Status.NOW_PASSES:
            raise RequirementFailed(f"{result.id} now passes: remove it from the file {plan.expected_failures.source}")
        if status in (Status.EXPECTED, Status.FLAKY) and outcome is not Outcome.PASSED and entry is not None:
            pytest.xfail(f"expected failure ({plan.expected_failures.source}): {entry.reason}: {result.message}")
    if outcome is Outcome.PASSED:
        return
    if counted:
        raise RequirementFailed(_describe(result))
    if outcome is Outcome.FAILED:
        pytest.xfail(f"{result.requirement.level.value} failure, not counted at level {plan.level}: {result.message}")
    if outcome is Outcome.DECLARED:
        pytest.skip(f"declared: {result.message}")
    if outcome is Outcome.NOT_CHECKED:
        pytest.skip(f"not checked: {result.message}")
    if outcome is Outcome.NOT_PRESENT:
        pytest.skip(f"not present: {result.message}")
    pytest.skip(result.message or "skipped")
