"""``tokenconform profile init`` (write the commented template) and ``profile check`` (validate one).

Both raise ``TokenconformError`` subclasses for the CLI to print on one line (exit 2); neither
sends a request.
"""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path
from typing import TextIO

from .errors import UsageError
from .profile import Profile, load_profile

__all__ = ["check", "init", "summary", "template_text"]

TEMPLATE = "profiles/template.toml"


def template_text() -> str:
    """The commented profile template shipped with the package."""
    return importlib.resources.files("tokenconform").joinpath(TEMPLATE).read_text(encoding="utf-8")


def init(path: str, *, force: bool = False, out: TextIO | None = None) -> int:
    """Write the template to ``path`` ("-" for stdout); an existing file is kept unless ``force``."""
    out = out or sys.stdout
    text = template_text()
    if path == "-":
        out.write(text)
        return 0
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"profile init {path}: is a directory; give a file name such as {target / 'profile.toml'}")
    try:
        # "x" refuses to replace a file that appeared after any check we could make first.
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(f"profile init {path}: file exists; use --force to overwrite it") from None
    except OSError as exc:
        raise UsageError(f"profile init {path}: cannot write: {exc.strerror or exc}") from None
    out.write(f"wrote {path}: edit it, then run `tokenconform profile check {path}`\n")
    return 0


def check(name_or_path: str, *, out: TextIO | None = None) -> int:
    """Validate a profile (file or built-in name) and print a one-line summary; ProfileError if invalid."""
    profile = load_profile(name_or_path)
    (out or sys.stdout).write(f"OK {summary(profile)}\n")
    return 0


def summary(profile: Profile) -> str:
    """One line: where the profile came from and what it describes."""
    parts = [
        f"login {profile.login.endpoint.method} {profile.login.endpoint.path}",
        f"refresh {profile.refresh.endpoint.method} {profile.refresh.endpoint.path} "
        f"({', '.join(profile.refresh.present)})",
        f"protected {profile.protected.endpoint.method} {profile.protected.endpoint.path} "
        f"({', '.join(profile.protected.present)})",
    ]
    optional = [
        name
        for name, present in (
            ("register", profile.register),
            ("logout", profile.logout),
            ("logout-all", profile.logout_all),
            ("csrf", profile.csrf),
        )
        if present is not None
    ]
    if optional:
        parts.append("with " + ", ".join(optional))
    parts.append(f"delivery {profile.policy.delivery}")
    return f"{profile.source}: profile {profile.name!r}: " + "; ".join(parts)
