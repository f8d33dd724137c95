"""The catalogue and the registry agree one-to-one, and the self-proof matrix proves every check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.selfproof.matrix import load_matrix
from tokenconform.catalog import load_catalog, parse_catalog
from tokenconform.errors import TokenconformError
from tokenconform.registry import Registry, load_all_checks


def test_every_automated_requirement_has_exactly_one_check_and_no_other():
    catalog = load_catalog()
    registry = load_all_checks()
    # Category "client" (CLI-NN) is judged by `tokenconform client-check`, not by a server check.
    automated = {r.id for r in catalog.requirements if r.automated and r.category != "client"}
    assert {c.id for c in registry.all()} == automated
    assert all(not r.not_automated_reason for r in catalog.requirements if r.automated)


def test_every_check_is_proven_by_a_row_of_the_self_proof_matrix():
    """Each check is seen failing ALONE on some row of tests/selfproof/matrix.toml (its only intended
    failure, and no knock-on), or a row where it is intended says why it cannot be (``inseparable``);
    ``reference`` and ``elsewhere`` rows carry their ``why``.

    test_matrix.py runs those rows for real: the failures are seen, and for variants the
    reference under the same setup passes them.
    """
    rows = load_matrix()
    unproven = {}
    for check in load_all_checks().all():
        alone = [r.key for r in rows if r.kind != "shape" and r.fails == (check.id,) and not r.knock_on]
        explained = [r.key for r in rows if r.kind == "variant" and check.id in r.fails and r.inseparable]
        if not alone and not explained:
            unproven[check.id] = [r.key for r in rows if check.id in r.expected]
    assert not unproven, (
        "checks no matrix row shows failing alone, with no row saying why not (id: rows that fail it):\n"
        + "\n".join(f"  {i}: {where or 'none'}" for i, where in unproven.items())
    )


def test_self_proof_doc_is_generated_from_the_matrix():
    script = Path(__file__).parents[2] / "scripts" / "selfproof_doc.py"
    completed = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr


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
    unautomated = next(r.id for r in load_catalog().requirements if not r.automated)
    with pytest.raises(ValueError, match="automated = false"):
        registry.register(unautomated, two)


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
