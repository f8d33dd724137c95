"""All conformance checks; importing this package registers every one of them.

One module per catalogue category (h2spec's one file per section); registration happens here,
in one place (schemathesis ``load_all_checks``).
"""

from . import (  # noqa: F401
    concurrency,
    cookies,
    expiry,
    login,
    logout,
    protected,
    reuse,
    robustness,
    rotation,
    tokens,
)
