"""Login says "No account with this email" for unknown accounts (breaks LGN-01)."""

from __future__ import annotations

from reference_server.errors import Unauthorized
from reference_server.sessions import LoginResult, SessionService

from ._service import app_with


class RevealsUnknownAccounts(SessionService):
    def login(self, body: object, *, user_agent: str) -> LoginResult:
        email = body.get("email") if isinstance(body, dict) else None
        if isinstance(email, str) and self.store.get_user_by_email(email.strip()) is None:
            raise Unauthorized("No account with this email")
        return super().login(body, user_agent=user_agent)


create_app = app_with(RevealsUnknownAccounts)
