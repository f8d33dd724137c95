"""Start the in-process reference server that ``tokenconform run`` checks when no --target is given.

Short TTLs (2 s access, 6 s refresh, sessions capped at 8 s) so the expiry checks, the session cap
(EXP-02) included, are judged by effect within the default --max-wait,
bcrypt cost 4 so logins are cheap, random secrets and a temporary SQLite database removed at the
end. Login throttling keeps the product default: LGN-07 checks that it exists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["ACCESS_TTL", "BCRYPT_ROUNDS", "REFRESH_TTL", "SESSION_MAX_AGE", "EmbeddedTarget", "embedded_server"]

ACCESS_TTL = 2
REFRESH_TTL = 6
#: The absolute session cap: a rotation late in the first refresh token's life shows whether the
#: chain stops at it (EXP-02), within the run's waits.
SESSION_MAX_AGE = 8
BCRYPT_ROUNDS = 4


def embedded_settings(**overrides: Any) -> Any:
    """Settings.for_testing with the embedded run's TTLs and the product's login throttling."""
    from tokenconform_server.config import Settings

    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {
        "access_ttl": ACCESS_TTL,
        "refresh_ttl": REFRESH_TTL,
        "session_max_age": SESSION_MAX_AGE,
        "bcrypt_rounds": BCRYPT_ROUNDS,
        # for_testing() makes throttling generous; the run judges the product's (LGN-07).
        "login_max_failures": defaults["login_max_failures"],
        "host": "127.0.0.1",
        "port": 0,
    }
    values.update(overrides)
    return Settings.for_testing(**values)


@dataclasses.dataclass(frozen=True)
class EmbeddedTarget:
    url: str
    #: the built-in reference profile with this server's session cap declared (EXP-02 judges it)
    profile_path: str


@contextlib.contextmanager
def embedded_server(**overrides: Any) -> Iterator[EmbeddedTarget]:
    """Serve the reference API on 127.0.0.1 (ephemeral port); stop and clean up after."""
    from tokenconform_server.server import ReferenceServer

    from .checks.tokens import ACCESS_SECRET_ENV, REFRESH_SECRET_ENV

    settings = embedded_settings(**overrides)
    server = ReferenceServer(settings)
    # The suite started this server, so it knows both HS256 keys: the checks that mint tokens
    # (TOK-03 algorithm pinning, TOK-12 iss/aud, EXP-05 nbf/exp) run instead of skipping, as they
    # must against a black-box target.
    handed = {ACCESS_SECRET_ENV: settings.access_secret, REFRESH_SECRET_ENV: settings.refresh_secret}
    saved = {name: os.environ.get(name) for name in handed}
    os.environ.update(handed)
    profile_path = os.path.join(os.path.dirname(settings.db_path), "reference.toml")
    try:
        with open(profile_path, "w", encoding="utf-8") as file:
            file.write(_reference_profile(settings.session_max_age))
        server.start()
        yield EmbeddedTarget(server.url, profile_path)
    finally:
        server.stop()
        with contextlib.suppress(FileNotFoundError):
            os.remove(profile_path)
        _remove_database(settings.db_path)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reference_profile(session_max_age: int) -> str:
    """The built-in reference profile, declaring the embedded server's session cap."""
    from .profile import builtin_profile_text

    text = builtin_profile_text("reference")
    declared = "session_max_age = 2592000"
    if declared not in text:  # pragma: no cover - guards the two files against drifting apart
        raise RuntimeError("conformance/profiles/reference.toml no longer declares session_max_age = 2592000")
    return text.replace(declared, f"session_max_age = {session_max_age}")


def _remove_database(db_path: str) -> None:
    """Delete the SQLite files and, if it is left empty, the temporary directory for_testing() made."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(db_path + suffix)
    with contextlib.suppress(OSError):  # not empty, or already gone: leave it
        os.rmdir(os.path.dirname(db_path))
