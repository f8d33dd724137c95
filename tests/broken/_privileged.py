"""A privileged route over the reference API, for PRO-04: done right, or with its one defect.

The reference API has no privileged route, so PRO-04 cannot be judged on it. ``with_privileged_route``
adds ``/admin``: authentication as for ``/profile``, then a rights check. No user of the reference
holds the admin role, so done right every authenticated caller gets 403 with
``error="insufficient_scope"`` (RFC 6750 §3.1); the broken variant skips the rights check only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Closing

#: the route a profile names in policy.privileged_path
PRIVILEGED_PATH = "/admin"
#: RFC 6750 §3.1: "The request requires higher privileges than provided by the access token."
_CHALLENGE = 'Bearer realm="tokenconform", error="insufficient_scope"'


def with_privileged_route(*, check_role: bool) -> Callable[..., Any]:
    """A ``create_app`` serving the reference plus ``/admin``; ``check_role=False`` is the defect."""

    def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
        app = reference_app(settings, store, clock=clock)

        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != PRIVILEGED_PATH:
                return app(environ, start_response)  # type: ignore[no-any-return]
            # Authentication exactly as /profile does it (401s and their challenges included).
            captured: list[tuple[str, list[tuple[str, str]]]] = []

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
                captured.append((status, list(headers)))
                return lambda data: None

            body = b"".join(app(dict(environ, PATH_INFO="/profile"), capture))
            status, headers = captured[0]
            if status.startswith("200") and check_role:
                body = b'{"message": "Forbidden"}'
                status = "403 Forbidden"
                headers = [("Content-Type", "application/json"), ("WWW-Authenticate", _CHALLENGE)]
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            start_response(status, [*headers, ("Content-Length", str(len(body)))])
            return [body]

        return Closing(serve, app)

    return create_app
