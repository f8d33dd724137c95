"""jwt_probes refuses what is not a compact JWS with ValueError, as its docstrings promise."""

from __future__ import annotations

import pytest

from tokenconform import evidence, jwt_probes


def _nested_header_token(depth: int) -> str:
    nested = "[" * depth + "]" * depth
    return f"{jwt_probes.b64url_encode(nested.encode())}.{jwt_probes.encode_json({'sub': 'x'})}.c2ln"


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_split_refuses_a_deeply_nested_header_with_value_error(depth):
    """Regression (issue 10): json.loads raised RecursionError, which callers catching ValueError
    (the broken variants' _jwt.parse, and so the servers built on it) let through as a 500."""
    # Python 3.13's json parses 5,000 levels and split() then refuses the header as no JSON object;
    # earlier versions hit RecursionError, which split() turns into "nested too deeply". Either way
    # the promise is a ValueError.
    with pytest.raises(ValueError):
        jwt_probes.split(_nested_header_token(depth))


def test_split_still_parses_a_modestly_nested_header():
    token = f"{jwt_probes.encode_json({'alg': 'HS256', 'x': [[[[1]]]]})}.{jwt_probes.encode_json({})}.c2ln"
    assert jwt_probes.split(token).header["x"] == [[[[1]]]]


def test_decode_unverified_returns_none_for_a_deeply_nested_header():
    """Regression (issue 10): json.loads raised RecursionError through decode_unverified."""
    assert evidence.decode_unverified(_nested_header_token(5000)) is None
