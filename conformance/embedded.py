"""Start the in-process reference server that ``tokenconform run`` checks when no --target is given.

Short TTLs (2 s access, 6 s refresh) so the expiry checks finish within the default --max-wait,
bcrypt cost 4 so logins are cheap, random secrets and a temporary SQLite database removed at the
end. Login throttling keeps the product default: LGN-07 checks that it exists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["ACCESS_TTL", "BCRYPT_ROUNDS", "REFRESH_TTL", "embedded_server"]

ACCESS_TTL = 2
REFRESH_TTL = 6
BCRYPT_ROUNDS = 4


def embedded_settings(**overrides: Any) -> Any:
    """Settings.for_testing with the embedded run's TTLs and the product's login throttling."""
    from reference_server.config import Settings

    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {
        "access_ttl": ACCESS_TTL,
        "refresh_ttl": REFRESH_TTL,
        "bcrypt_rounds": BCRYPT_ROUNDS,
        # for_testing() makes throttling generous; the run judges the product's (LGN-07).
        "login_max_failures": defaults["login_max_failures"],
        "host": "127.0.0.1",
        "port": 0,
    }
    values.update(overrides)
    return Settings.for_testing(**values)


@contextlib.contextmanager
def embedded_server(**overrides: Any) -> Iterator[str]:
    """Serve the reference API on 127.0.0.1 (ephemeral port) and yield its URL; stop and clean up after."""
    from reference_server.server import ReferenceServer

    from .checks.tokens import ACCESS_SECRET_ENV, REFRESH_SECRET_ENV

    settings = embedded_settings(**overrides)
    server = ReferenceServer(settings)
    # The suite started this server, so it knows both HS256 keys: the checks that mint tokens
    # (TOK-03 algorithm pinning, TOK-12 iss/aud, EXP-05 nbf/exp) run instead of skipping, as they
    # must against a black-box target.
    handed = {ACCESS_SECRET_ENV: settings.access_secret, REFRESH_SECRET_ENV: settings.refresh_secret}
    saved = {name: os.environ.get(name) for name in handed}
    os.environ.update(handed)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        _remove_database(settings.db_path)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _remove_database(db_path: str) -> None:
    """Delete the SQLite files and, if it is left empty, the temporary directory for_testing() made."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(db_path + suffix)
    with contextlib.suppress(OSError):  # not empty, or already gone: leave it
        os.rmdir(os.path.dirname(db_path))
