"""Set-Cookie parsing: the suite reads every raw header itself (RFC 6265bis §5.7, leniently).

requests joins several ``Set-Cookie`` headers with ", " although ``Expires`` contains a comma,
and will not send a ``Secure`` cookie over plain http (STYLE.md), so cookies never go through
its jar: the device keeps its own and this module parses what arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class SetCookie:
    """One raw Set-Cookie header, parsed (RFC 6265bis §5.7, leniently)."""

    name: str
    value: str
    #: attribute names lower-cased -> value ("" for flags such as HttpOnly); the last one wins
    attributes: dict[str, str]
    #: attribute names lower-cased, in order, duplicates kept (CKE-08 looks for repeats)
    attribute_names: tuple[str, ...]
    raw: str

    @property
    def secure(self) -> bool:
        return "secure" in self.attributes

    @property
    def httponly(self) -> bool:
        return "httponly" in self.attributes

    @property
    def samesite(self) -> str | None:
        return self.attributes.get("samesite")

    @property
    def path(self) -> str | None:
        return self.attributes.get("path")

    @property
    def domain(self) -> str | None:
        return self.attributes.get("domain")

    @property
    def max_age(self) -> int | None:
        raw = self.attributes.get("max-age")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None

    @property
    def expires(self) -> float | None:
        """Expires as an epoch timestamp, or None when absent or unparseable."""
        raw = self.attributes.get("expires")
        if not raw:
            return None
        try:
            return parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None

    def lifetime(self, date: float) -> float | None:
        """Seconds the cookie lives from ``date``: Max-Age wins over Expires (RFC 6265bis §5.6.2)."""
        if self.max_age is not None:
            return float(self.max_age)
        expires = self.expires
        return None if expires is None else expires - date

    def deletes(self, date: float) -> bool:
        """True when this Set-Cookie removes the cookie (Max-Age <= 0 or Expires in the past)."""
        lifetime = self.lifetime(date)
        return lifetime is not None and lifetime <= 0


def parse_set_cookie(raw: str) -> SetCookie:
    name_value, *attribute_parts = raw.split(";")
    name, _, value = name_value.partition("=")
    attributes: dict[str, str] = {}
    names: list[str] = []
    for part in attribute_parts:
        key, _, attr_value = part.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        names.append(key)
        attributes[key] = attr_value.strip()
    return SetCookie(
        name=name.strip(),
        value=value.strip().strip('"'),
        attributes=attributes,
        attribute_names=tuple(names),
        raw=raw,
    )
