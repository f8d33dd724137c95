"""Planning a run: everything the CLI and the pytest plugin decide before the first request.

Both front ends call :func:`build_plan` with their option values and get a :class:`Plan` (the
profile, the selection, the ``RunConfig``, the report paths, the ratchet file) or a one-line
``TokenconformError`` naming their own spelling of the option at fault. Also here: whether the
embedded reference server is started (:func:`embedded_wanted`), the one probe of the target
(:func:`probe_target`), ``--list`` (:func:`render_list`) and writing the report files
(:func:`write_reports`). The exit code itself is decided in ``results.RunResult.exit_code``.

Imports flow one way: cli -> runner -> plugin -> planning -> (context, profile, registry, reporting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TargetError, TargetUnreachable, UsageError

if TYPE_CHECKING:
    from .catalog import Requirement
    from .context import RunConfig
    from .profile import Profile
    from .ratchet import ExpectedFailures
    from .registry import Check
    from .results import RunResult

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LEVEL",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_ROUNDS",
    "DEFAULT_TIMEOUT",
    "REPORTS",
    "Plan",
    "build_plan",
    "check_report_paths",
    "embedded_wanted",
    "parse_headers",
    "probe_target",
    "render_list",
    "write_reports",
]

#: defaults shared by the CLI and the plugin, so ``tokenconform run`` and pytest agree
DEFAULT_LEVEL = "must"
DEFAULT_MAX_WAIT = 30.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_CONCURRENCY = 16
DEFAULT_ROUNDS = 3

#: report kinds: the key in ``Plan.reports`` and its writer, tokenconform.reporting.<module>.render(run)
REPORTS = ("json", "junit", "markdown", "html")

#: request headers the suite sets itself to present (or withhold) tokens: a fixed value would
#: override the token under test in every request and void every verdict
_OWN_HEADERS = {
    "authorization": "the suite presents its own access and refresh tokens in Authorization",
    "cookie": "the suite sends each device's own cookies (and none, when a check presents nothing)",
}

#: the options' names in error messages, keyed by parameter; each front end passes its spelling
_DEFAULT_NAMES = {
    "target": "--target",
    "only": "--only",
    "exclude": "--exclude",
    "header": "--header",
    "ca_bundle": "--ca-bundle",
    "max_wait": "--max-wait",
    "timeout": "--timeout",
    "concurrency": "--concurrency",
    "rounds": "--rounds",
    "level": "--level",
    "expected_failures": "--expected-failures",
    "json": "--json-report",
    "junit": "--junit-xml",
    "markdown": "--markdown-report",
    "html": "--html-report",
}


@dataclass(frozen=True)
class Plan:
    """What a run will do, validated before any request is sent."""

    profile: Profile
    config: RunConfig
    #: "must" or "should"
    level: str
    #: the selected catalogue requirements, in catalogue order (checked and not checked)
    requirements: tuple[Requirement, ...]
    #: requirement ID -> its check, for the requirements that will be checked
    checks: Mapping[str, Check]
    #: requirement ID -> why it is not checked (not automated, or opt-in and not enabled)
    not_checked: Mapping[str, str] = field(default_factory=dict)
    #: --strict: declared MUST deviations count as failures
    strict: bool = False
    #: --expected-failures, parsed
    expected_failures: ExpectedFailures | None = None
    #: --show-secrets: reports and output unredacted
    show_secrets: bool = False
    #: report kind (REPORTS) -> path to write it to
    reports: Mapping[str, str] = field(default_factory=dict)
    #: report kind -> the option that asked for it (for error messages)
    report_options: Mapping[str, str] = field(default_factory=dict)

    @property
    def requirement_ids(self) -> list[str]:
        return [r.id for r in self.requirements]


def embedded_wanted(target: str | None, profile: str | None, *, listing: bool = False) -> bool:
    """True when the run checks the embedded reference server (no --target); refuses half a pair.

    Raises:
        UsageError: --target without --profile, or a profile other than 'reference' without --target.
    """
    from .profile import BUILTIN_PROFILES

    if target is not None and profile is None:
        raise UsageError(
            f"--target needs --profile NAME_OR_FILE: a built-in profile ({', '.join(BUILTIN_PROFILES)}) or a TOML "
            "file (write one with `tokenconform profile init`)"
        )
    if target is None and profile not in (None, "reference") and not listing:
        raise UsageError(
            "--profile needs --target URL: without --target the embedded reference server is checked with "
            "the built-in 'reference' profile"
        )
    return target is None


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _normalise_selection(values: Sequence[str], option: str) -> list[str]:
    """IDs upper-cased, categories lower-cased; anything else is a usage error naming the option."""
    from .catalog import load_catalog

    catalog = load_catalog()
    categories = catalog.category_names()
    chosen = []
    for value in _split(values):
        if value.upper() in catalog:
            chosen.append(value.upper())
        elif value.lower() in categories:
            chosen.append(value.lower())
        else:
            raise UsageError(
                f"{option} {value!r}: not a requirement ID or category (categories: {', '.join(categories)}; "
                "IDs such as ROT-01: see tokenconform run --list)"
            )
    return chosen


def parse_headers(values: Sequence[str], option: str = "--header") -> dict[str, str]:
    """NAME:VALUE pairs; a header the suite sets itself (Authorization, Cookie) is refused."""
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            raise UsageError(f"{option} {value!r}: expected NAME:VALUE, e.g. 'X-Api-Key: abc123'")
        why = _OWN_HEADERS.get(name.lower())
        if why is not None:
            raise UsageError(
                f"{option} {name}: refused: {why}, so a fixed {name} would replace the token under test in every "
                "request; put a gateway credential in another header (e.g. X-Api-Key)"
            )
        headers[name] = content.strip()
    return headers


def _report_paths(reports: Mapping[str, str | None], names: Mapping[str, str]) -> dict[str, str]:
    """Report kind -> path; a report that cannot be written is refused before the run, not lost after it."""
    chosen: dict[str, str] = {}
    for kind, path in reports.items():
        if kind not in REPORTS:
            raise ValueError(f"unknown report kind {kind!r}")
        if not path:
            continue
        option = names[kind]
        if Path(path).is_dir():
            raise UsageError(f"{option} {path}: is a directory")
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise UsageError(f"{option} {path}: directory {parent} does not exist")
        chosen[kind] = str(Path(path).resolve())
    return chosen


def check_report_paths(reports: Mapping[str, str | None], option_names: Mapping[str, str] | None = None) -> None:
    """Refuse report paths that cannot be written (a directory, a missing parent), naming the option."""
    _report_paths(reports, {**_DEFAULT_NAMES, **(option_names or {})})


def build_plan(
    *,
    target: str,
    profile: str,
    level: str = DEFAULT_LEVEL,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_wait: float = DEFAULT_MAX_WAIT,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Sequence[str] = (),
    insecure: bool = False,
    ca_bundle: str | None = None,
    timing: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    rounds: int = DEFAULT_ROUNDS,
    strict: bool = False,
    expected_failures: str | None = None,
    show_secrets: bool = False,
    reports: Mapping[str, str | None] | None = None,
    option_names: Mapping[str, str] | None = None,
) -> Plan:
    """Validate everything about a run (profile, selection, options, files) before any request.

    ``option_names`` maps "only", "exclude", "json", ... to the spelling of the caller's options, so an
    error names ``--only`` in the CLI and ``--tokenconform-only`` under pytest.

    Raises:
        ProfileError: the profile is invalid (naming the key path) or missing.
        UsageError: an option value cannot be used.
    """
    from urllib.parse import urlsplit

    from .context import RunConfig
    from .profile import load_profile
    from .registry import load_all_checks

    names = {**_DEFAULT_NAMES, **(option_names or {})}
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{names['target']} {target!r}: expected an http:// or https:// URL")
    if level not in ("must", "should"):
        raise UsageError(f"{names['level']} {level!r}: expected must or should")
    for key, value, least in (("max_wait", max_wait, 0.0), ("timeout", timeout, 0.001)):
        if not value >= least:
            raise UsageError(f"{names[key]} {value}: must be at least {least:g} seconds")
    if rounds < 1:
        raise UsageError(f"{names['rounds']} {rounds}: must be at least 1")
    if concurrency < 2:
        raise UsageError(f"{names['concurrency']} {concurrency}: a race needs at least 2 concurrent requests")
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise UsageError(f"{names['ca_bundle']} {ca_bundle}: no such file")
    header_map = parse_headers(headers, names["header"])
    only_ids = _normalise_selection(only, names["only"])
    exclude_ids = _normalise_selection(exclude, names["exclude"])
    report_paths = _report_paths(reports or {}, names)
    ratchet = None
    if expected_failures is not None:
        from . import ratchet as ratchet_module

        try:
            ratchet = ratchet_module.load(expected_failures)
        except UsageError as exc:  # name the caller's option, not the CLI's
            raise UsageError(str(exc).replace("--expected-failures", names["expected_failures"], 1)) from None

    loaded = load_profile(profile)
    registry = load_all_checks()
    opt_in = frozenset({"timing"} if timing else set())
    config = RunConfig(
        target=target.rstrip("/"),
        timeout=timeout,
        headers=header_map,
        verify=False if insecure else (ca_bundle or True),
        max_wait=max_wait,
        concurrency=concurrency,
        rounds=rounds,
        opt_in=opt_in,
    )

    def selected(requirement: Requirement) -> bool:
        if requirement.category == "client":
            return False  # client requirements are judged by `tokenconform client-check`
        keys = {requirement.id, requirement.category}
        return (not only_ids or bool(keys & set(only_ids))) and not keys & set(exclude_ids)

    requirements = tuple(r for r in registry.catalog.requirements if selected(r))
    if not requirements:
        raise UsageError(f"nothing to run: {names['exclude']} leaves out every requirement selected")
    checks: dict[str, Check] = {}
    not_checked: dict[str, str] = {}
    for requirement in requirements:
        if not requirement.automated:
            not_checked[requirement.id] = requirement.not_automated_reason
        elif requirement.opt_in and requirement.opt_in not in opt_in:
            not_checked[requirement.id] = f"opt-in: enable with --{requirement.opt_in}"
        elif requirement.id not in registry:
            not_checked[requirement.id] = "no check is registered for this requirement yet"
        else:
            checks[requirement.id] = registry.get(requirement.id)
    return Plan(
        profile=loaded,
        config=config,
        level=level,
        requirements=requirements,
        checks=checks,
        not_checked=not_checked,
        strict=strict,
        expected_failures=ratchet,
        show_secrets=show_secrets,
        reports=report_paths,
        report_options={kind: names[kind] for kind in report_paths},
    )


# ---------------------------------------------------------------- the probe


def probe_target(config: RunConfig) -> None:
    """One request to the target's base URL: any HTTP answer will do, no answer is TargetUnreachable.

    Made before the suite so a dead target ends the run at once with one clear line, instead of
    every check timing out on its own. It has the same total deadline as every request.
    """
    import warnings

    import requests
    from urllib3.exceptions import InsecureRequestWarning

    from .transport import PLAIN_HTTP_AT_HTTPS, round_trip, speaks_plain_http

    if speaks_plain_http(config.target, config.timeout):
        raise TargetUnreachable(config.target, PLAIN_HTTP_AT_HTTPS)
    with requests.Session() as session, warnings.catch_warnings():
        if config.verify is False:  # --insecure: the user asked for it, once is enough
            warnings.simplefilter("ignore", InsecureRequestWarning)
        try:
            round_trip(
                session, "GET", config.target, headers=dict(config.headers), data=None,
                timeout=config.timeout, verify=config.verify,
            )  # fmt: skip
        except TargetError as exc:
            raise UsageError(f"target {config.target!r}: {exc.message}") from None


# ---------------------------------------------------------------- --list and the reports


def render_list(plan: Plan) -> str:
    """``--list``: the checks to run, grouped by category, then the requirements not checked and why."""
    from .catalog import load_catalog

    titles = {c.name: c.title for c in load_catalog().categories}
    skips = {
        rid: reason
        for rid, check in plan.checks.items()
        if (reason := check.unmet_precondition(plan.profile, plan.config)) is not None
    }
    lines = [
        f"Checks enabled by profile {plan.profile.name!r} ({plan.profile.source}): {len(plan.checks)}, "
        f"of which {len(skips)} will skip"
    ]
    category = ""
    for requirement in plan.requirements:
        if requirement.id not in plan.checks:
            continue
        if requirement.category != category:
            category = requirement.category
            lines.append(f"  {titles.get(category, category)}")
        timed = "  [waits on token lifetimes]" if plan.checks[requirement.id].timed else ""
        lines.append(f"    {requirement.id}  {requirement.level.value:<6}  {requirement.title}{timed}")
        if requirement.id in skips:
            lines.append(f"              will skip: {skips[requirement.id]}")
    lines.append("")
    lines.append(f"Not checked: {len(plan.not_checked)}")
    for requirement in plan.requirements:
        reason = plan.not_checked.get(requirement.id)
        if reason is not None:
            lines.append(f"    {requirement.id}  {requirement.level.value:<6}  {requirement.title} — {reason}")
    return "\n".join(lines) + "\n"


def write_reports(run: RunResult, plan: Plan) -> list[str]:
    """Write every report the plan asks for; returns the paths written.

    Raises:
        UsageError: a report file cannot be written (naming the option and the path).
    """
    import importlib

    written = []
    for kind, path in plan.reports.items():
        module = importlib.import_module(f"tokenconform.reporting.{kind}")
        text: str = module.render(run)
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as exc:
            option = plan.report_options.get(kind, kind)
            raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
        written.append(path)
    return written
