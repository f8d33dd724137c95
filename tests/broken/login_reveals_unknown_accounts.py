"""Login says "Email not signed up" for unknown accounts (breaks LGN-01).

The message has the length of the reference's "Invalid credentials", so the two failures differ in
their body only, not in Content-Length: LGN-02 (headers) has nothing to see.
"""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import INVALID_CREDENTIALS, LoginResult, SessionService

from ._service import app_with

#: as long as INVALID_CREDENTIALS, so only the body's words give the account away
UNKNOWN_ACCOUNT = "Email not signed up"
assert len(UNKNOWN_ACCOUNT) == len(INVALID_CREDENTIALS)


class RevealsUnknownAccounts(SessionService):
    def login(self, body: object, *, user_agent: str) -> LoginResult:
        email = body.get("email") if isinstance(body, dict) else None
        if isinstance(email, str) and self.store.get_user_by_email(email.strip().lower()) is None:
            raise Unauthorized(UNKNOWN_ACCOUNT)
        return super().login(body, user_agent=user_agent)


create_app = app_with(RevealsUnknownAccounts)
