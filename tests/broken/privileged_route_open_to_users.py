"""An /admin route that lets any authenticated user in (breaks PRO-04 when the profile declares it).

The reference API has no privileged route; this variant adds one, with the defect that it checks
authentication only, not rights: any valid access token gets 200.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from reference_server.app import create_app as reference_app

from ._wsgi import Closing

#: the route a profile must name in policy.privileged_path
PRIVILEGED_PATH = "/admin"


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    app = reference_app(settings, store, clock=clock)

    def admin_is_profile(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PRIVILEGED_PATH:
            environ = dict(environ, PATH_INFO="/profile")  # authenticated, never authorised
        return app(environ, start_response)  # type: ignore[no-any-return]

    return Closing(admin_is_profile, app)
