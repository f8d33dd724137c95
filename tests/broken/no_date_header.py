"""Responses carry no usable Date header (breaks EXP-08).

waitress adds a Date header to every response whose application sets none, so a missing header
cannot be produced behind it; the variant sends a blank one instead, which a client can read no
more than an absent one.
"""

from __future__ import annotations

from typing import Any

from tokenconform_server.app import create_app as reference_app

from ._wsgi import Headers, replace_header, rewrite


def _blank_date(environ: dict[str, Any], status: str, headers: Headers, body: bytes) -> tuple[str, Headers, bytes]:
    # The defect: no date the client can use.
    return status, replace_header(headers, "Date", " "), body


def create_app(settings: Any, store: Any = None, *, clock: Any = None) -> Any:
    return rewrite(reference_app(settings, store, clock=clock), _blank_date)
