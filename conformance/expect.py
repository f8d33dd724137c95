"""Shared verifiers: each raises RequirementFailed(expected=..., actual=...) with the evidence."""

from __future__ import annotations

from collections.abc import Iterable

from .device import Exchange
from .errors import RequirementFailed


def _actual(exchange: Exchange) -> str:
    body = exchange.text.strip().replace("\n", " ")
    if len(body) > 120:
        body = body[:117] + "..."
    return f"{exchange.status} {body}".strip()


def fail(
    message: str, *, expected: str = "", actual: str = "", exchanges: Iterable[Exchange] = ()
) -> RequirementFailed:
    """Build (not raise) a failure carrying the exchanges as evidence."""
    return RequirementFailed(
        message,
        expected=expected,
        actual=actual,
        evidence=tuple(e.describe() for e in exchanges),
    )


def accepted(exchange: Exchange, *, because: str, statuses: Iterable[int] = ()) -> None:
    """The target must accept: a 2xx (or one of ``statuses``)."""
    allowed = tuple(statuses)
    if (allowed and exchange.status in allowed) or (not allowed and exchange.ok):
        return
    raise fail(
        because,
        expected=f"status in {list(allowed)}" if allowed else "a 2xx acceptance",
        actual=_actual(exchange),
        exchanges=[exchange],
    )


def rejected(exchange: Exchange, *, because: str, statuses: Iterable[int] = ()) -> None:
    """The target must refuse: a 4xx (one of ``statuses`` when given), never 2xx, 3xx or 5xx."""
    allowed = tuple(statuses)
    if allowed:
        if exchange.status in allowed:
            return
        expected = f"rejection with status in {list(allowed)}"
    else:
        if 400 <= exchange.status < 500:
            return
        expected = "a 4xx rejection"
    if exchange.ok:
        message = f"{because}: the target accepted it"
    elif exchange.status >= 500:
        message = f"{because}: the target answered a server error instead of a rejection"
    else:
        message = because
    raise fail(message, expected=expected, actual=_actual(exchange), exchanges=[exchange])


def no_server_error(exchange: Exchange, *, because: str) -> None:
    if exchange.status >= 500:
        raise fail(because, expected="a 4xx answer", actual=_actual(exchange), exchanges=[exchange])


def that(
    condition: bool, message: str, *, expected: str = "", actual: str = "", exchanges: Iterable[Exchange] = ()
) -> None:
    """A general assertion with evidence."""
    if not condition:
        raise fail(message, expected=expected, actual=actual, exchanges=exchanges)
