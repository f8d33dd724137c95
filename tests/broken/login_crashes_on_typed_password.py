"""Login crashes (500) on a password that is not a string, once it has found the account (breaks RBS-05).

The seed's shape: ``const user = await User.findOne({ email })`` answers an unknown email with 400
before the password is looked at; for a registered one, ``bcrypt.compare(password, user.password)``
throws "data and hash must be strings" on a number, an array, an object, null or a missing
password. Express 5 answers that 500 (Express 4 lets the unhandled rejection end the process).
Every probe that uses an unknown account is refused as before.
"""

from __future__ import annotations

from tokenconform_server.sessions import LoginResult, SessionService

from ._service import app_with


class ComparesBeforeTypeCheck(SessionService):
    def login(self, body: object, *, user_agent: str) -> LoginResult:
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        known = isinstance(email, str) and self.store.get_user_by_email(email.strip()) is not None
        if known and not isinstance(password, str):
            # The defect: the hash comparison gets whatever the JSON held; an uncaught error is a 500.
            raise TypeError("data and hash must be strings")
        return super().login(body, user_agent=user_agent)


create_app = app_with(ComparesBeforeTypeCheck)
