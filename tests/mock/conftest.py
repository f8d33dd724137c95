"""Both transports of the mock, as one parametrised fixture: every control test runs on each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(params=["server", "responses"])
def mock(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The mock on a loopback port (the ``tokenconform_mock`` fixture) or behind ``responses``
    (``tokenconform_responses_mock``): same controls, same API."""
    yield request.getfixturevalue("tokenconform_mock" if request.param == "server" else "tokenconform_responses_mock")
