"""Preconditions: a check that cannot judge the target under its profile skips before any request,
with the same reason `--list` shows (issue 6.25)."""

from __future__ import annotations

import dataclasses
import socket

from tokenconform.context import CheckContext, RunConfig
from tokenconform.engine import start
from tokenconform.planning import build_plan, render_list
from tokenconform.profile import load_profile
from tokenconform.registry import load_all_checks
from tokenconform.results import Outcome


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unmet_preconditions_skip_before_any_request():
    profile = dataclasses.replace(load_profile("reference"), logout=None, logout_all=None)
    # A closed port: any request would end in "target unreachable", so a skip proves none was sent.
    ctx = CheckContext(profile, RunConfig(target=f"http://127.0.0.1:{_closed_port()}"))
    registry = load_all_checks()
    for requirement_id in ("LGO-01", "LGO-06", "LGO-09", "CON-02", "PRO-04", "RBS-04", "EXP-07", "REU-07"):
        result = start(registry.get(requirement_id), ctx)
        assert result.outcome is Outcome.SKIPPED, (requirement_id, result)


def test_list_says_which_enabled_checks_will_skip_and_why():
    plan = build_plan(target=f"http://127.0.0.1:{_closed_port()}", profile="oauth2")
    listing = render_list(plan)
    assert "will skip: the profile declares no [logout_all] endpoint" in listing
    assert "will skip: needs a [register] endpoint: hammering a configured account" in listing
    lines = listing.splitlines()
    lgo06 = next(i for i, line in enumerate(lines) if line.strip().startswith("LGO-06"))
    assert lines[lgo06 + 1].strip().startswith("will skip:")
    # A check the profile does enable has no skip line under it.
    rot01 = next(i for i, line in enumerate(lines) if line.strip().startswith("ROT-01"))
    assert not lines[rot01 + 1].strip().startswith("will skip:")
