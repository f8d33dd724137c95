"""Login throttling: failures counted per account and per client, each in a sliding window.

ASVS 5.0 V6.3.1 asks for controls against credential stuffing and password brute force. The
per-account limit (``login_max_failures``) stops guessing one account's password; it cannot
see password spraying, one password tried across many accounts (issue 8: 300 emails, never
throttled). The per-client limit (``login_max_client_failures``) counts every failed login of
one client, whatever the account.

What a "client" is (:func:`client_address`): the TCP peer address, or, behind reverse proxies
the operator declares with ``trusted_proxy_hops`` [TRUSTED_PROXY_HOPS], the address the
outermost trusted proxy saw, read from ``X-Forwarded-For``. The header is never read unless so
configured: any client can send it, so trusting it by default would let each request claim a
fresh address. IPv6 clients are counted per /64: a host chooses its own 64-bit interface
identifier inside its subnet (RFC 4291 §2.5.1, RFC 8981), so it could otherwise rotate through
2^64 addresses.

Failures are stored hashed and purged once outside the window (``store.record_login_failure``),
so neither a long key nor many distinct keys make the store grow beyond the window's worth.
A store that cannot record a failure raises ``StoreUnavailable``, which becomes a 503: the
throttle fails closed.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from .errors import TooManyRequests

if TYPE_CHECKING:
    from .store import Store

__all__ = ["LoginThrottle", "account_key", "client_address", "client_key"]


def account_key(email: str) -> str:
    """The throttling key of an account: its normalised email, known account or not."""
    return "account:" + email


def client_key(address: str) -> str:
    """The throttling key of a client address (see :func:`client_address`)."""
    return "client:" + address


def _prefix(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address.strip()[:64]  # not an IP (a Unix socket, a garbled header): as it is, bounded
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(remote_addr: str, forwarded_for: str | None, *, trusted_hops: int) -> str:
    """Who is logging in, for the per-client limit.

    Args:
        remote_addr: the TCP peer (``REMOTE_ADDR``).
        forwarded_for: the ``X-Forwarded-For`` header, or ``None``.
        trusted_hops: how many reverse proxies in front of the server append to
            ``X-Forwarded-For``; 0 (the default) ignores the header.

    Each proxy appends the address it received the request from, so with N trusted proxies the
    N-th entry from the right is the one the outermost trusted proxy saw; everything left of it
    was written by the client and proves nothing (RFC 7239 §8.1 on forged forwarding headers).
    """
    if trusted_hops > 0 and forwarded_for:
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if entries:
            return _prefix(entries[-trusted_hops] if len(entries) >= trusted_hops else entries[0])
    return _prefix(remote_addr or "unknown")


class LoginThrottle:
    """Counts failures for one kind of key and refuses with 429 at ``limit`` in ``window``."""

    def __init__(self, store: Store, *, limit: int, window: int) -> None:
        self.store = store
        #: failures allowed in the window; the next attempt gets 429
        self.limit = limit
        #: seconds
        self.window = window

    def check(self, key: str, now: float) -> None:
        """Raise :class:`TooManyRequests` if ``key`` has ``limit`` failures in the window."""
        failures = self.store.login_failure_times(key, since=now - self.window)
        if len(failures) >= self.limit:
            # Admission returns once enough failures have left the window that fewer than
            # `limit` remain: when the (len - limit)-th oldest one (0-based) expires.
            retry_after = failures[len(failures) - self.limit] + self.window - now
            raise TooManyRequests(retry_after=retry_after)

    def record(self, key: str, now: float) -> None:
        self.store.record_login_failure(key, now=now, window=self.window)

    def clear(self, key: str) -> None:
        self.store.clear_login_failures(key)
