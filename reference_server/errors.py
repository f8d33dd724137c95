"""The reference server's HTTP errors: each knows its status, its message and its headers.

    ApiError(status, message)          root; app.py renders every one as JSON {"message": ...}
     +-- BadRequest              400
     +-- Unauthorized            401   WWW-Authenticate: Bearer realm="tokenconform"[, error=...]
     +-- NotFound                404
     +-- MethodNotAllowed        405   Allow: ...
     +-- Conflict                409
     +-- PayloadTooLarge         413
     +-- UnprocessableEntity     422   .field names the offending input field
     +-- TooManyRequests         429   Retry-After: seconds

The domain code (sessions.py) raises these; it never sees a request or a response object.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "REALM",
    "ApiError",
    "BadRequest",
    "Conflict",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "bearer_challenge",
]

#: the realm of every Bearer challenge (RFC 6750 §3: "realm" is optional but lets clients tell
#: protection spaces apart).
REALM = "tokenconform"


def _quote(value: str) -> str:
    """Render ``value`` as an RFC 9110 §5.6.4 quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(*, invalid_token: bool = False, error_description: str | None = None) -> str:
    """Build the ``WWW-Authenticate`` value for a 401 on a Bearer-protected resource.

    RFC 6750 §3.1: when the request carried no authentication information the resource server
    "SHOULD NOT include an error code or other error information"; when a token was presented
    and rejected (expired, revoked, malformed, ...) it uses ``error="invalid_token"``.
    """
    parts = [f"realm={_quote(REALM)}"]
    if invalid_token:
        parts.append('error="invalid_token"')
        if error_description:
            parts.append(f"error_description={_quote(error_description)}")
    return "Bearer " + ", ".join(parts)


class ApiError(Exception):
    """An error with an HTTP status, a client-safe message and the headers it must carry."""

    #: the HTTP status code; subclasses fix it
    status: int
    #: what the client reads in ``{"message": ...}``; never a secret, hash or stack trace
    message: str
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        self.message = self.default_message if message is None else message
        super().__init__(self.message)

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers this error requires (none by default)."""
        return {}

    def to_dict(self) -> dict[str, str]:
        """The JSON body, the seed's shape: ``{"message": ...}``."""
        return {"message": self.message}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class BadRequest(ApiError):
    """400: the request could not be read at all (malformed JSON, not an object, ...)."""

    default_message = "Bad request"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(400, message)


class Unauthorized(ApiError):
    """401: missing, invalid, expired, used or revoked credentials.

    RFC 9110 §15.5.2: a 401 response "MUST send a WWW-Authenticate header field containing at
    least one challenge applicable to the target resource".
    """

    default_message = "Unauthorized"

    def __init__(
        self,
        message: str | None = None,
        *,
        invalid_token: bool = False,
        error_description: str | None = None,
        www_authenticate: str | None = None,
    ) -> None:
        super().__init__(401, message)
        #: True when a token was presented and rejected (RFC 6750 §3.1 ``invalid_token``)
        self.invalid_token = invalid_token
        #: the full challenge; built from the flags above unless given explicitly
        self.www_authenticate = www_authenticate or bearer_challenge(
            invalid_token=invalid_token, error_description=error_description
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.www_authenticate}


class NotFound(ApiError):
    """404: no such route."""

    default_message = "Not found"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(404, message)


class MethodNotAllowed(ApiError):
    """405: the route exists but not for this method."""

    default_message = "Method not allowed"

    def __init__(self, message: str | None = None, *, allow: Iterable[str] = ()) -> None:
        super().__init__(405, message)
        #: the methods the route accepts
        self.allow = tuple(allow)

    @property
    def headers(self) -> dict[str, str]:
        # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405".
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class Conflict(ApiError):
    """409: the username or email is already taken."""

    default_message = "Conflict"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(409, message)


class PayloadTooLarge(ApiError):
    """413: the body is over ``settings.max_body_bytes``."""

    default_message = "Payload too large"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(413, message)


class UnprocessableEntity(ApiError):
    """422: well-formed JSON whose content is invalid (missing field, wrong type, bad email...)."""

    default_message = "Invalid input"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(422, message)
        #: the request field at fault, if one is
        self.field = field


class TooManyRequests(ApiError):
    """429: too many failed logins for this account key in the window (ASVS 5.0 §6.3.1)."""

    default_message = "Too many failed login attempts, try again later"

    def __init__(self, message: str | None = None, *, retry_after: float) -> None:
        super().__init__(429, message)
        # RFC 9110 §10.2.3: Retry-After is a non-negative integer number of seconds; round up so
        # a client that waits exactly that long is not refused again, and never say 0.
        #: whole seconds until a new attempt can succeed
        self.retry_after = max(1, math.ceil(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(ApiError):
    """503: the store stayed locked past its retry deadline; the client may retry (RFC 9110 §15.6.4)."""

    default_message = "Service temporarily unavailable, try again"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(503, message)
        #: whole seconds after which a retry is sensible
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
