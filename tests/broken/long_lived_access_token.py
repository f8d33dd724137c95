"""Access tokens live two hours whatever the configuration says (breaks EXP-01)."""

from __future__ import annotations

from typing import Any

from tokenconform_server.sessions import SessionService

from ._service import app_with

#: Two hours: over RFC 6750 §5.3's one hour and the reference profile's max_access_ttl (900 s).
LONG_ACCESS_TTL = 7200


class LongLivedAccessTokens(SessionService):
    def __init__(self, settings: Any, *args: Any, **kwargs: Any) -> None:
        # The defect: the access token lifetime is hard-coded instead of read from the settings.
        super().__init__(settings.replace(access_ttl=LONG_ACCESS_TTL), *args, **kwargs)


create_app = app_with(LongLivedAccessTokens)
