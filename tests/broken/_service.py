"""Helpers for broken variants whose one defect is in the session rules.

``app_with(ServiceSubclass)`` gives a ``create_app`` that runs the reference routes over a
SessionService subclass overriding exactly one rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tokenconform_server.app import create_app as reference_app
from tokenconform_server.sessions import IssuedTokens, SessionService
from tokenconform_server.store import SqliteStore
from tokenconform_server.tokens import new_jti

from ._wsgi import Closing


def app_with(service_class: type[SessionService]) -> Callable[..., Any]:
    def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
        owned = store is None
        store = store if store is not None else SqliteStore(settings.db_path)
        service = service_class(settings, store, clock=clock or time.time)
        app = reference_app(settings, service=service)
        return Closing(app, app, store) if owned else Closing(app, app)

    return create_app


def new_branch(service: SessionService, user_id: str, absolute: float) -> IssuedTokens:
    """Tokens of a brand-new session for ``user_id``: a second live branch, the defect several
    reuse variants share (a replay answered with fresh tokens instead of a refusal)."""
    user = service.store.get_user(user_id)
    assert user is not None
    now, jti = service.clock(), new_jti()
    session = service.store.create_session(
        user_id=user_id, user_agent="replay", jti=jti, now=now, absolute_expires_at=absolute
    )
    return service._issue(user, session.id, jti, now=now, not_after=int(absolute))
