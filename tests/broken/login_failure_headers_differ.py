"""Login failures for unknown accounts carry their own challenge (breaks LGN-02, not LGN-01).

Status and body are identical to a wrong password's; only the WWW-Authenticate header differs.
"""

from __future__ import annotations

from tokenconform_server.errors import Unauthorized
from tokenconform_server.sessions import INVALID_CREDENTIALS, LoginResult, SessionService

from ._service import app_with


class ChallengeRevealsUnknownAccounts(SessionService):
    def login(self, body: object, *, user_agent: str) -> LoginResult:
        email = body.get("email") if isinstance(body, dict) else None
        if isinstance(email, str) and self.store.get_user_by_email(email.strip()) is None:
            raise Unauthorized(INVALID_CREDENTIALS, www_authenticate='Bearer realm="unknown-account"')
        return super().login(body, user_agent=user_agent)


create_app = app_with(ChallengeRevealsUnknownAccounts)
