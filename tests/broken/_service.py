"""Helpers for broken variants whose one defect is in the session rules.

``app_with(ServiceSubclass)`` gives a ``create_app`` that runs the reference routes over a
SessionService subclass overriding exactly one rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from reference_server.app import create_app as reference_app
from reference_server.sessions import SessionService
from reference_server.store import SqliteStore

from ._wsgi import Closing


def app_with(service_class: type[SessionService]) -> Callable[..., Any]:
    def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
        owned = store is None
        store = store if store is not None else SqliteStore(settings.db_path)
        service = service_class(settings, store, clock=clock or time.time)
        app = reference_app(settings, service=service)
        return Closing(app, app, store) if owned else Closing(app, app)

    return create_app
