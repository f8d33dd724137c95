"""Forge hostile variants of a captured JWT: re-encoded headers, alg none, tampering, HMAC re-signing.

Everything here works on the compact serialization with the standard library only. Re-signing uses
``hmac`` directly, not ``jwt.encode``: a deliberately weak key would raise PyJWT's
``InsecureKeyLengthWarning``, which is an error under ``filterwarnings = ["error"]`` (STYLE.md).
Nothing here sends a request; checks decide where each forged token goes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import importlib.resources
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALG_NONE_SPELLINGS",
    "HS_ALGORITHMS",
    "Parts",
    "b64url_decode",
    "b64url_encode",
    "common_secrets",
    "crack_hs",
    "encode_json",
    "is_hs",
    "normalise_typ",
    "reencode",
    "sign_hs",
    "split",
    "verify_hs",
]

#: RFC 8725bis §2 ("not defensively written"): verifiers have accepted "none" in any case.
ALG_NONE_SPELLINGS = ("none", "None", "NONE", "nOnE")

#: RFC 7518 §3.2: the HMAC algorithms and their hash functions.
HS_ALGORITHMS: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}


def b64url_encode(data: bytes) -> str:
    """RFC 7515 §2 base64url: URL-safe alphabet, trailing '=' omitted."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises ValueError on anything that is not base64url."""
    if any(c not in _B64URL for c in segment):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encode_json(document: Any) -> str:
    """A JSON object as a base64url segment (compact separators, as JWT libraries write it)."""
    return b64url_encode(json.dumps(document, separators=(",", ":")).encode("utf-8"))


@dataclass(frozen=True)
class Parts:
    """A compact JWS split into its decoded header and payload and its raw segments."""

    header: dict[str, Any]
    payload: dict[str, Any]
    header_segment: str
    payload_segment: str
    signature_segment: str

    @property
    def signing_input(self) -> bytes:
        return f"{self.header_segment}.{self.payload_segment}".encode("ascii")

    @property
    def alg(self) -> str:
        value = self.header.get("alg")
        return value if isinstance(value, str) else ""


def _json_segment(segment: str) -> Any:
    """A base64url segment decoded as JSON; ValueError for anything that is not.

    The json module recurses once per nesting level, so a header of a few thousand ``[`` raises
    RecursionError, which is not a ValueError: callers that catch ValueError (as this module's
    docstrings promise they may) would crash on it. It is turned into the ValueError promised.
    """
    text = b64url_decode(segment)
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def split(token: str) -> Parts:
    """Parse a compact JWS; ValueError when it is not three base64url segments of JSON objects."""
    segments = token.split(".")
    if len(segments) != 3:
        raise ValueError(f"{len(segments)} segments, not 3")
    header = _json_segment(segments[0])
    payload = _json_segment(segments[1])
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("header or payload is not a JSON object")
    return Parts(header, payload, segments[0], segments[1], segments[2])


def reencode(
    token: str,
    *,
    header: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
    signature: str | None = None,
) -> str:
    """``token`` with its header, payload or signature segment replaced (others kept byte for byte)."""
    parts = split(token)
    return ".".join(
        (
            parts.header_segment if header is None else encode_json(dict(header)),
            parts.payload_segment if payload is None else encode_json(dict(payload)),
            parts.signature_segment if signature is None else signature,
        )
    )


def _mac(alg: str, key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, HS_ALGORITHMS[alg]).digest()


def sign_hs(header: Mapping[str, Any], payload: Mapping[str, Any], key: bytes, alg: str | None = None) -> str:
    """A compact JWS signed with HMAC; ``alg`` (default: the header's) is written into the header."""
    alg = alg or str(header.get("alg", "HS256"))
    full_header = {**header, "alg": alg}
    signing_input = f"{encode_json(full_header)}.{encode_json(dict(payload))}"
    return f"{signing_input}.{b64url_encode(_mac(alg, key, signing_input.encode('ascii')))}"


def verify_hs(parts: Parts, key: bytes, alg: str | None = None) -> bool:
    """True when ``parts`` carries a valid HMAC under ``key`` with ``alg`` (default: the header's)."""
    alg = alg or parts.alg
    if alg not in HS_ALGORITHMS:
        return False
    try:
        signature = b64url_decode(parts.signature_segment)
    except ValueError:
        return False
    return hmac.compare_digest(_mac(alg, key, parts.signing_input), signature)


def is_hs(token: str) -> bool:
    """True for a compact JWS whose header names an HMAC algorithm."""
    try:
        return split(token).alg in HS_ALGORITHMS
    except ValueError:
        return False


def crack_hs(token: str, candidates: Iterable[str]) -> str | None:
    """The first candidate that is the HMAC key of ``token`` (an offline dictionary attack), or None."""
    parts = split(token)
    if parts.alg not in HS_ALGORITHMS:
        return None
    try:
        signature = b64url_decode(parts.signature_segment)
    except ValueError:
        return None
    digest = HS_ALGORITHMS[parts.alg]
    signing_input = parts.signing_input
    for candidate in candidates:
        if hmac.compare_digest(hmac.new(candidate.encode("utf-8"), signing_input, digest).digest(), signature):
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def common_secrets() -> tuple[str, ...]:
    """The bundled list of common and default HMAC secrets (wordlists/common-jwt-secrets.txt)."""
    text = (
        importlib.resources.files("tokenconform")
        .joinpath("wordlists/common-jwt-secrets.txt")
        .read_text(encoding="utf-8")
    )
    # One secret per line, taken verbatim (a secret may contain '#' or spaces); only lines that
    # start with '#' are comments.
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def normalise_typ(value: object) -> str:
    """RFC 7515 §4.1.9: typ is case-insensitive and "application/" may be omitted."""
    if not isinstance(value, str):
        return ""
    value = value.strip().lower()
    return value[len("application/") :] if value.startswith("application/") else value
