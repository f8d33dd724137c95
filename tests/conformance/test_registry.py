"""The catalogue and the registry agree one-to-one, and every check has a defect that fails it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conformance.catalog import load_catalog, parse_catalog
from conformance.errors import TokenconformError
from conformance.registry import Registry, load_all_checks

BROKEN = Path(__file__).parents[1] / "broken"

#: Checks whose failing side needs no broken server: the reference server fails them under a
#: profile or setting that declares otherwise. Each names the test that shows the failure.
FAILED_WITHOUT_A_VARIANT = {
    "CKE-09": "test_cookies.py::test_tokens_in_body_fail_a_declared_cookie_only_delivery",
    "EXP-07": "test_expiry.py (declared_idle_timeout against the reference server)",
    "LGN-04": "test_login.py::test_registration_disclosure_fails_when_not_declared",
    "LGN-07": "test_login.py::test_unthrottled_logins_fail",
    "RBS-04": "test_robustness.py (canned https answers without HSTS, through responses)",
    "REU-03": "test_reuse.py (reuse_rejected_without_family_revocation, docstring says REU-02..05)",
    "TOK-14": "test_tokens.py (long_lived_access_token, named for EXP-01)",
}


def test_every_automated_requirement_has_exactly_one_check_and_no_other():
    catalog = load_catalog()
    registry = load_all_checks()
    # Category "client" (CLI-NN) is judged by `tokenconform client-check`, not by a server check.
    automated = {r.id for r in catalog.requirements if r.automated and r.category != "client"}
    assert {c.id for c in registry.all()} == automated
    assert all(not r.not_automated_reason for r in catalog.requirements if r.automated)


def _variants_by_requirement() -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for path in sorted(BROKEN.glob("[!_]*.py")):
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        ids = set(re.findall(r"\b[A-Z]{3}-\d\d\b", docstring))
        assert ids, f"{path.name}: the docstring must name the requirement the defect breaks"
        for requirement_id in ids:
            named.setdefault(requirement_id, []).append(path.name)
    return named


def test_every_check_has_a_defect_that_fails_it():
    named = _variants_by_requirement()
    catalogue = load_catalog()
    for requirement_id, variants in named.items():
        assert requirement_id in catalogue, f"{variants} name {requirement_id}, which is not in the catalogue"
    missing = {c.id for c in load_all_checks().all()} - set(named) - set(FAILED_WITHOUT_A_VARIANT)
    assert not missing, f"checks never seen failing on a defect: {sorted(missing)}"


def test_registry_refuses_unknown_duplicate_and_unautomated_ids():
    registry = Registry(load_catalog())

    def one(ctx):
        return None

    def two(ctx):
        return None

    registry.register("ROT-01", one)
    with pytest.raises(ValueError, match="already has a check"):
        registry.register("ROT-01", two)
    with pytest.raises(ValueError, match="not in spec/requirements.toml"):
        registry.register("ROT-99", two)
    with pytest.raises(ValueError, match="automated = false"):
        registry.register("TOK-12", two)


def test_catalogue_refuses_duplicates_and_misfiled_ids():
    categories = {"rotation": {"prefix": "ROT", "title": "Rotation"}}
    entry = {
        "id": "ROT-01",
        "category": "rotation",
        "level": "MUST",
        "title": "t",
        "statement": "s",
        "references": ["RFC 9700 §4.14.2"],
        "basis": "rfc",
    }
    with pytest.raises(TokenconformError, match="duplicate id ROT-01"):
        parse_catalog({"categories": categories, "requirement": [entry, dict(entry)]})
    with pytest.raises(TokenconformError, match="prefix does not match"):
        parse_catalog({"categories": categories, "requirement": [dict(entry, id="TOK-01")]})
    with pytest.raises(TokenconformError, match="needs not_automated_reason"):
        parse_catalog({"categories": categories, "requirement": [dict(entry, automated=False)]})
