"""One HTTP round trip to the target, bounded in time and size, with failures said in plain words.

A hostile or broken target must not stall or exhaust the suite (issue 8):
- ``--timeout`` bounds each socket operation (requests' own timeout), and every round trip also
  has a total deadline of ``DEADLINE_FACTOR`` x ``--timeout``: a target that drips one byte a
  second never trips the per-operation timeout, so the request runs in a worker thread and is
  abandoned at the deadline (the run then ends: the target is treated as unreachable);
- at most ``MAX_BODY_BYTES`` of a response body are read; the rest is never buffered;
- TLS and connection failures name what failed and the option that helps.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from .errors import TargetError, TargetUnreachable

#: The most of a response body the suite reads: login and refresh answers are a few KiB.
MAX_BODY_BYTES = 1024 * 1024
#: A round trip's total deadline, in multiples of --timeout.
DEADLINE_FACTOR = 2.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    #: every raw Set-Cookie header, unjoined
    set_cookies: tuple[str, ...]
    body: bytes
    #: the body was longer than MAX_BODY_BYTES and was cut there
    truncated: bool


def round_trip(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    data: bytes | None,
    timeout: float,
    verify: bool | str,
) -> Answer:
    """Send one request and read its answer, or raise TargetUnreachable / TargetError."""
    outcome: list[Answer | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_exchange(session, method, url, headers, data, timeout, verify))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread below
            outcome.append(exc)

    deadline = timeout * DEADLINE_FACTOR
    worker = threading.Thread(target=work, name="tokenconform-request", daemon=True)
    worker.start()
    worker.join(deadline)
    if not outcome:
        # The worker is left to the socket timeout; the run stops at this answer anyway.
        raise TargetUnreachable(
            url,
            f"no complete answer within {deadline:g} s ({DEADLINE_FACTOR:g} x --timeout {timeout:g}): the target "
            "answers too slowly (or drips its response)",
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        raise explain(result, url, timeout) from None
    return result


def _exchange(
    session: requests.Session,
    method: str,
    url: str,
    headers: Mapping[str, str],
    data: bytes | None,
    timeout: float,
    verify: bool | str,
) -> Answer:
    response = session.request(
        method,
        url,
        headers=dict(headers),
        data=data,
        timeout=timeout,
        verify=verify,
        allow_redirects=False,
        stream=True,
    )
    try:
        set_cookies = tuple(response.raw.headers.getlist("Set-Cookie"))
        body = response.raw.read(MAX_BODY_BYTES + 1, decode_content=True) or b""
    finally:
        response.close()
    return Answer(
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        set_cookies=set_cookies,
        body=body[:MAX_BODY_BYTES],
        truncated=len(body) > MAX_BODY_BYTES,
    )


def explain(exc: BaseException, url: str, timeout: float) -> TargetUnreachable | TargetError:
    """The error a failed round trip becomes, in words a user can act on."""
    if isinstance(exc, requests.exceptions.SSLError):
        return TargetUnreachable(url, _tls_reason(str(exc)))
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
            return TargetUnreachable(url, PLAIN_HTTP_AT_HTTPS)
        return TargetUnreachable(url, f"connection failed: {connection_reason(text)}")
    if isinstance(exc, requests.exceptions.Timeout):
        return TargetUnreachable(url, f"no answer within {timeout:g} s (--timeout)")
    if isinstance(exc, requests.exceptions.RequestException):
        return TargetError(f"{url}: request failed: {_first_line(str(exc))}")
    if isinstance(exc, (OSError, ValueError)):
        return TargetError(f"{url}: the answer could not be read: {type(exc).__name__}: {_first_line(str(exc))}")
    raise exc


PLAIN_HTTP_AT_HTTPS = "the https:// URL points at a port that speaks plain http: use http:// (or the TLS port)"


def speaks_plain_http(url: str, timeout: float) -> bool:
    """Whether an https:// URL's port answers a plain-http request.

    A plain-http server given a TLS ClientHello often waits for a request line that never comes,
    so the TLS attempt would only end at the timeout; asked in plain http, it answers at once.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=min(timeout, 3.0)) as connection:
            connection.sendall(f"HEAD / HTTP/1.0\r\nHost: {parts.hostname}\r\n\r\n".encode("ascii"))
            return connection.recv(5) == b"HTTP/"
    except (OSError, UnicodeError):
        return False


def _tls_reason(text: str) -> str:
    lowered = text.lower()
    if "wrong_version_number" in lowered or "record layer failure" in lowered:
        return PLAIN_HTTP_AT_HTTPS
    if "self-signed" in lowered or "self signed" in lowered:
        return (
            "TLS: the certificate is self-signed, so it is not trusted; pass --ca-bundle FILE with its CA, "
            "or --insecure for a test deployment"
        )
    if "hostname mismatch" in lowered or "doesn't match" in lowered or "not valid for" in lowered:
        return "TLS: the certificate does not name this host (hostname mismatch); use the host name it was issued for"
    if "certificate has expired" in lowered:
        return "TLS: the certificate has expired"
    if "unable to get local issuer" in lowered or "certificate_verify_failed" in lowered:
        return (
            "TLS: the certificate's issuer is not trusted; pass --ca-bundle FILE with its CA, "
            "or --insecure for a test deployment"
        )
    return f"TLS error ({_first_line(text)}); see --ca-bundle / --insecure"


def connection_reason(text: str) -> str:
    for marker in (
        "Connection refused",
        "Name or service not known",
        "nodename nor servname",
        "timed out",
        "No route to host",
        "Network is unreachable",
        "Temporary failure in name resolution",
        "Connection reset by peer",
        "Remote end closed connection",
    ):
        if marker in text:
            return marker.lower() if marker == "Connection refused" else marker
    return _first_line(text)


def _first_line(text: str) -> str:
    text = text.strip()
    return (text.splitlines() or ["(no detail)"])[0][:200]
