"""Exchanges (one request and its response) kept as evidence, and the JWT decoding they need.

Evidence is what reports show; tokens in it are shortened so a reader sees which token, not
the token.
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


def shorten(token: str, keep: int = 12) -> str:
    """Tokens in evidence are shortened so reports show which token, not the token."""
    return token if len(token) <= 2 * keep + 3 else f"{token[:keep]}…{token[-6:]}"


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
    except (ValueError, UnicodeDecodeError, binascii.Error):
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
        except ValueError:
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
        """A one-paragraph account of the exchange with tokens shortened."""
        body = _shorten_tokens(self.text[:body_chars])
        interesting = [
            f"{name}: {_shorten_tokens(value)}"
            for name, value in self.headers.items()
            if name in ("www-authenticate", "cache-control", "content-type", "location", "retry-after")
        ]
        cookies = [_shorten_tokens(c.raw) for c in self.set_cookies]
        lines = [f"{self.method} {self.url} [{self.presented or 'no credentials'}] -> {self.status}"]
        if self.request_body:
            lines.append(f"  request body: {_shorten_tokens(self.request_body[:body_chars])}")
        lines.extend(f"  {h}" for h in interesting)
        lines.extend(f"  set-cookie: {c}" for c in cookies)
        if body:
            lines.append(f"  body: {body}")
        return "\n".join(lines)


def _shorten_tokens(text: str) -> str:
    return re.sub(r"[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*", lambda m: shorten(m.group(0)), text)
