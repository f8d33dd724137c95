"""pytest fixtures for client teams: the mock on a loopback port, or behind ``responses``.

Registered as the ``tokenconform_mock`` pytest11 entry point. Importing it costs nothing: the
mock is imported only when a test asks for a fixture.

    def test_my_client_refreshes_once(tokenconform_mock):
        client = MyClient(tokenconform_mock.url)
        client.login(tokenconform_mock.username, tokenconform_mock.password)
        tokenconform_mock.expire("access")
        client.get_profile()
        assert [e["path"] for e in tokenconform_mock.events()].count("/refresh") == 1
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .mock_transports import MockServer, ResponsesMock


@pytest.fixture
def tokenconform_mock() -> Iterator[MockServer]:
    """The mock API on 127.0.0.1 (ephemeral port): ``.url``, ``.username``, ``.password``,
    ``.advance(s)``, ``.expire(what)``, ``.fail_next(path, status)``, ``.events()``, ..."""
    from .mock_transports import MockServer

    with MockServer() as server:
        yield server


@pytest.fixture
def tokenconform_responses_mock() -> Iterator[ResponsesMock]:
    """The same mock and controls, answered in-process through ``responses`` (no socket)."""
    from .mock_transports import ResponsesMock

    with ResponsesMock() as mock:
        yield mock
