"""The request fields the session rules accept: their types and their length limits.

Every string a client sends is bounded before any work is done on it (issue 8: a 60 KB email
per failed login grew the database by megabytes), and each refusal names the field, for a 422.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import UnprocessableEntity

__all__ = [
    "MAX_EMAIL_CHARS",
    "MAX_FULL_NAME_CHARS",
    "MAX_LOGIN_PASSWORD_CHARS",
    "MAX_PASSWORD_BYTES",
    "MAX_USERNAME_CHARS",
    "MAX_USER_AGENT_CHARS",
    "MIN_PASSWORD_CHARS",
    "json_object",
    "required_string",
]

#: bcrypt hashes only the first 72 bytes and bcrypt 5 raises beyond them.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8
#: RFC 5321 §4.5.3.1.3 limits a path to 256 octets, so an address to 254 characters.
MAX_EMAIL_CHARS = 254
MAX_USERNAME_CHARS = 64
MAX_FULL_NAME_CHARS = 128
MAX_USER_AGENT_CHARS = 512
#: A login password longer than this is refused with 422 before anything else happens. Longer
#: than any registrable one (72 bytes) so that a slightly long password still gets the same 401
#: as any wrong one, but bounded, so it cannot be used to make work (issue 8).
MAX_LOGIN_PASSWORD_CHARS = 1024


def json_object(body: object) -> Mapping[str, object]:
    if not isinstance(body, dict):
        raise UnprocessableEntity("Request body must be a JSON object")
    return body


def required_string(body: Mapping[str, object], name: str, *, max_chars: int | None = None) -> str:
    value = body.get(name)
    if value is None:
        raise UnprocessableEntity(f"{name} is required", field=name)
    if not isinstance(value, str):
        raise UnprocessableEntity(f"{name} must be a string", field=name)
    if not value.strip():
        raise UnprocessableEntity(f"{name} is required", field=name)
    if max_chars is not None and len(value) > max_chars:
        raise UnprocessableEntity(f"{name} must be at most {max_chars} characters", field=name)
    return value
