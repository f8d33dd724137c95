"""An /admin route that lets any authenticated user in (breaks PRO-04 when the profile declares it).

The reference API has no privileged route; tests/broken/_privileged.py adds one. Done right it
answers 403 insufficient_scope to every user (none holds the admin role); this variant's one
defect is that it checks authentication only, not rights: any valid access token gets 200.
"""

from __future__ import annotations

from ._privileged import PRIVILEGED_PATH, with_privileged_route

__all__ = ["PRIVILEGED_PATH", "create_app"]

create_app = with_privileged_route(check_role=False)
