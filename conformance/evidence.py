"""Exchanges (one request and its response) kept as evidence, and the JWT decoding they need.

Evidence is what reports show. :meth:`Exchange.describe` never cuts a token (or any other
unbroken run of token characters) in half, so that redaction (``conformance/redact.py``) can
still recognise every secret in it; the run redacts each result before any report sees it.
:func:`shorten` is the fingerprint redaction uses, so a presented token reads the same in the
``presented`` label and in a redacted body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from .cookies import SetCookie
from .redact import fingerprint

#: characters that make up tokens (base64url, base64, JWT dots, opaque-token punctuation)
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9._~+/=-]")


def shorten(token: str) -> str:
    """Which token, not the token: the redaction fingerprint (first characters + SHA-256 prefix)."""
    return fingerprint(token)


def clip(text: str, limit: int) -> str:
    """``text`` cut after about ``limit`` characters, but never inside a token: the cut moves on to
    the end of the run of token characters it would split, so redaction sees every token whole."""
    if len(text) <= limit:
        return text
    end = limit
    while end < len(text) and _TOKEN_CHAR.match(text[end]) and _TOKEN_CHAR.match(text[end - 1]):
        end += 1
    if end < len(text) and text[end] == '"':  # keep a JSON string whole, for the field patterns
        end += 1
    if len(text) - end <= 20:  # "…" would save nothing
        return text
    return text[:end] + ("…" if end < len(text) else "")


def decode_segment(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, payload) of a compact JWT, without verification; None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = decode_segment(parts[0])
        payload = decode_segment(parts[1])
    except (ValueError, UnicodeDecodeError, binascii.Error, RecursionError):
        # RecursionError: a header nested thousands of levels deep is the target's hostile
        # content, not a JWT the suite can read; never a crash of every check (issue 8).
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return header, payload


@dataclass(frozen=True)
class Exchange:
    """One request and its response, kept as evidence."""

    method: str
    url: str
    #: how the request presented its credentials, e.g. "Bearer <eyJhbGci…>" / "cookie refreshToken"
    presented: str
    request_body: str
    status: int
    headers: Mapping[str, str]
    set_cookies: tuple[SetCookie, ...]
    body: bytes
    #: local clock when the request was sent and when the response arrived
    sent_at: float
    received_at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # not JSON, or hostile nesting: not a body to read
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookie(self, name: str) -> SetCookie | None:
        """The last Set-Cookie for ``name`` in this response."""
        found = None
        for cookie in self.set_cookies:
            if cookie.name == name:
                found = cookie
        return found

    @property
    def server_date(self) -> float | None:
        raw = self.header("date")
        if not raw:
            return None
        try:
            return parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None

    def describe(self, body_chars: int = 200) -> str:
        """A one-paragraph account of the exchange, bodies clipped (never inside a token), not yet redacted."""
        body = clip(self.text, body_chars)
        interesting = [
            f"{name}: {value}"
            for name, value in self.headers.items()
            if name in ("www-authenticate", "cache-control", "content-type", "location", "retry-after")
        ]
        cookies = [c.raw for c in self.set_cookies]
        lines = [f"{self.method} {self.url} [{self.presented or 'no credentials'}] -> {self.status}"]
        if self.request_body:
            lines.append(f"  request body: {clip(self.request_body, body_chars)}")
        lines.extend(f"  {h}" for h in interesting)
        lines.extend(f"  set-cookie: {c}" for c in cookies)
        if body:
            lines.append(f"  body: {body}")
        return "\n".join(lines)
