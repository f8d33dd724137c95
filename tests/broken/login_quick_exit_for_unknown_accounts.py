"""Login answers at once for unknown accounts, skipping bcrypt (breaks LGN-03).

Run with a realistic bcrypt cost (e.g. 10) so the gap is real, as on a production server.
"""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import INVALID_CREDENTIALS, LoginResult, SessionService

from ._service import app_with


class QuickExit(SessionService):
    def login(self, body: object, *, user_agent: str) -> LoginResult:
        email = body.get("email") if isinstance(body, dict) else None
        if isinstance(email, str) and self.store.get_user_by_email(email.strip()) is None:
            raise Unauthorized(INVALID_CREDENTIALS)  # no bcrypt work: the response is fast
        return super().login(body, user_agent=user_agent)


create_app = app_with(QuickExit)
