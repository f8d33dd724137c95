"""Secrets out of everything a run shows: passwords removed, tokens and cookie values fingerprinted.

Reports are pasted into pull requests and kept as CI artifacts, so every report and the ``-v``
output are redacted unless ``--show-secrets`` is given. Two layers, because a pattern cannot know
an opaque token and a registry cannot know a value it was never told about:

1. **The registry** (:class:`Secrets`, one per run, ``CheckContext.secrets``): every secret the run
   sent or received, matched literally wherever it appears (a message, an expected/actual value,
   evidence). The device sees every token issued and every password it sends, so it tells the
   registry; :meth:`Secrets.observe` also harvests each recorded exchange (Set-Cookie values,
   response-body fields named like tokens, request-body fields named like passwords).
2. **Patterns** (:func:`scrub_patterns`), the fallback: compact JWTs, ``Bearer``/``Basic``
   credentials, JSON and form fields named like secrets (``"password": …``, ``refresh_token=…``),
   ``Set-Cookie``/``Cookie`` values and passwords in URLs.

A token is shown as its first 10 characters, an ellipsis and the first 8 hex digits of its SHA-256
(:func:`fingerprint`): the same token always reads the same, so a reader can still tell two tokens
apart and follow one through the evidence. Passwords and client secrets become ``[redacted]``:
a hash of a guessable password could be brute-forced.

The API, for the device and the context (``conformance/device.py``, ``conformance/context.py``)::

    ctx.secrets.add_token(token)          # every token received or presented (opaque ones too)
    ctx.secrets.add_password(password)    # every password / client secret / API key sent
    ctx.secrets.observe(exchange)         # CheckContext.record() calls this for every exchange
    ctx.secrets.scrub(text) -> str        # what the reporters get (via redact_result)

Redaction is idempotent: a fingerprint or ``[redacted]`` is never redacted again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus

if TYPE_CHECKING:
    from .evidence import Exchange
    from .results import CheckResult, RunResult

__all__ = ["REDACTED", "Secrets", "fingerprint", "redact_result", "redact_run", "scrub_patterns"]

#: what a password or client secret becomes
REDACTED = "[redacted]"
#: characters of a token kept in front of its fingerprint
PREFIX = 10
#: the marker between prefix and hash: a value containing it is a fingerprint already
ELLIPSIS = "…"
#: registered values shorter than this are matched only as whole words (a 3-letter password
#: would otherwise be cut out of every word that contains it)
_SHORT = 6


def fingerprint(token: str) -> str:
    """``eyJhbGciOi…3fa09c1e``: a short prefix and a SHA-256 prefix; the same token always reads the same."""
    digest = hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]
    keep = min(PREFIX, len(token) // 3)
    return f"{token[:keep]}{ELLIPSIS}{digest}"


def _redacted_already(value: str) -> bool:
    return ELLIPSIS in value or value.startswith(REDACTED) or not value


# ---------------------------------------------------------------- which field names are secret

#: names whose value is a password-like secret: removed entirely
_PASSWORD_NAME = re.compile(r"pass(word|wd|phrase)?|pwd|secret|api[-_]?key|private[-_]?key|credential", re.I)
#: names whose value is a token-like secret: fingerprinted
_TOKEN_NAME = re.compile(r"token|session|sid$|csrf|xsrf|jwt|^auth(orization)?$|assertion", re.I)
#: token-ish names whose value is not secret (token_type: "Bearer", token_type_hint, expires_in)
_NOT_SECRET_NAME = re.compile(r"(type|hint|expires?(_in|_at)?|exp|iat|nbf|ttl|scope|uri|url|method)$", re.I)


def _kind(name: str) -> str | None:
    """ "password", "token" or None for a field/cookie/header name."""
    if _NOT_SECRET_NAME.search(name):
        return None
    if _PASSWORD_NAME.search(name):
        return "password"
    if _TOKEN_NAME.search(name):
        return "token"
    return None


def _replacement(kind: str, value: str) -> str:
    if _redacted_already(value):
        return value
    return REDACTED if kind == "password" else fingerprint(value)


def _looks_secret(value: str) -> bool:
    """Long enough and not a plain word: "deleted", "Bearer" or "realm" are not credentials."""
    return len(value) >= 8 and not (value.isalpha() and len(value) < 16)


def _credential(kind: str, match: re.Match[str]) -> str:
    """A scheme and its credential ("Bearer eyJ…", "Basic Y2xp…"), unless the "credential" is a word."""
    value = match.group(3)
    if value.isalpha() and len(value) < 16:
        return match.group(0)
    return match.group(1) + match.group(2) + _replacement(kind, value)


# ---------------------------------------------------------------- patterns (the fallback)

_JWT = re.compile(r"\b[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_AUTH_SCHEME = re.compile(r"\b(Bearer|Token|JWT|DPoP|MAC)(\s+)([A-Za-z0-9._~+/=-]{8,})", re.I)
_BASIC = re.compile(r"\b(Basic)(\s+)([A-Za-z0-9+/_-]{4,}={0,2})(?![A-Za-z0-9+/=\"_-])", re.I)
# "name": "value" in JSON (escaped quotes inside the value allowed)
_JSON_FIELD = re.compile(r'"([A-Za-z0-9_.-]{1,64})"(\s*:\s*)"((?:[^"\\]|\\.)*)"')
# name=value in a form body, a query string or a presented label ("cookie refreshToken=…")
_FORM_FIELD = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{1,64})=([^&\s;,\"'<>]+)")
# the value of each cookie on a Set-Cookie or Cookie line
_COOKIE_LINE = re.compile(r"(?im)^(\s*(?:set-)?cookie:\s*)(.*)$")
_COOKIE_PAIR = re.compile(r"(^|;\s*)([^=;\s]+)=([^;]*)")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/@\s:]+:)([^/@\s]+)(@)", re.I)


def _cookie_line(match: re.Match[str]) -> str:
    head, rest = match.group(1), match.group(2)
    set_cookie = head.strip().lower().startswith("set-")

    def pair(m: re.Match[str]) -> str:
        value = m.group(3).strip().strip('"')
        if not value:
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}={_replacement('token', value)}"

    if set_cookie:  # only the first pair is the cookie; the rest are attributes (Path=/, Max-Age=…)
        name, sep, tail = rest.partition(";")
        return head + _COOKIE_PAIR.sub(pair, name, count=1) + sep + tail
    return head + _COOKIE_PAIR.sub(pair, rest)


def scrub_patterns(text: str) -> str:
    """Redact what looks like a secret, without a registry (the fallback layer)."""
    text = _COOKIE_LINE.sub(_cookie_line, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    text = _BASIC.sub(lambda m: _credential("password", m), text)
    text = _AUTH_SCHEME.sub(lambda m: _credential("token", m), text)

    def json_field(m: re.Match[str]) -> str:
        kind = _kind(m.group(1))
        if kind is None or (kind == "token" and not _looks_secret(m.group(3))):
            return m.group(0)
        return f'"{m.group(1)}"{m.group(2)}"{_replacement(kind, m.group(3))}"'

    def form_field(m: re.Match[str]) -> str:
        kind = _kind(m.group(1))
        if kind is None or (kind == "token" and not _looks_secret(m.group(2))):
            return m.group(0)
        return f"{m.group(1)}={_replacement(kind, m.group(2))}"

    text = _JSON_FIELD.sub(json_field, text)
    text = _FORM_FIELD.sub(form_field, text)
    return _JWT.sub(lambda m: fingerprint(m.group(0)), text)


# ---------------------------------------------------------------- the registry


class Secrets:
    """Every secret a run has sent or received; thread-safe (races add tokens from many threads)."""

    def __init__(self) -> None:
        #: value -> "password" or "token"
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._short: re.Pattern[str] | None = None

    @classmethod
    def for_run(cls, environ: Mapping[str, str], headers: Mapping[str, str] | None = None) -> Secrets:
        """A registry knowing the run's own secrets before any request: the ``TOKENCONFORM_*PASSWORD*``
        and ``*SECRET*`` variables, and the values of extra ``--header`` options (gateway keys)."""
        secrets = cls()
        for name, value in environ.items():
            upper = name.upper()
            if upper.startswith("TOKENCONFORM_") and ("PASSWORD" in upper or "SECRET" in upper):
                secrets.add_password(value)
        for value in (headers or {}).values():
            secrets.add_password(value)
        return secrets

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def add_token(self, value: str | None) -> None:
        """A token (or session cookie value) the run received or presented: shown as its fingerprint."""
        self._add(value, "token")

    def add_password(self, value: str | None) -> None:
        """A password, client secret or key the run sends: never shown."""
        self._add(value, "password")

    def _add(self, value: str | None, kind: str) -> None:
        if not value or not isinstance(value, str) or _redacted_already(value):
            return
        variants = {value}
        if kind == "password":  # as it appears inside a JSON string and in a form body
            variants |= {json.dumps(value)[1:-1], quote_plus(value), quote(value, safe="")}
        with self._lock:
            for variant in variants:
                if self._values.get(variant) != "password":  # a password stays a password
                    self._values[variant] = kind
            self._pattern = self._short = None

    def observe(self, exchange: Exchange) -> None:
        """Harvest the secrets of one exchange: cookie values set, token fields of the response body,
        password and token fields of the request body (JSON or form)."""
        for cookie in exchange.set_cookies:
            if _looks_secret(cookie.value):
                self.add_token(cookie.value)
        self._harvest(_parse_body(exchange.text))
        self._harvest(_parse_body(exchange.request_body))

    def _harvest(self, document: Any, name: str = "") -> None:
        if isinstance(document, dict):
            for key, value in document.items():
                self._harvest(value, str(key))
        elif isinstance(document, list):
            for value in document:
                self._harvest(value, name)
        elif isinstance(document, str) and document:
            kind = _kind(name) if name else None
            if kind == "password":
                self.add_password(document)
            elif (kind == "token" and _looks_secret(document)) or _JWT.fullmatch(document):
                self.add_token(document)

    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None, dict[str, str]]:
        with self._lock:
            values = dict(self._values)
            if self._pattern is None and self._short is None:
                long_ = sorted((v for v in values if len(v) >= _SHORT), key=len, reverse=True)
                short = sorted((v for v in values if len(v) < _SHORT), key=len, reverse=True)
                self._pattern = re.compile("|".join(map(re.escape, long_))) if long_ else None
                self._short = (
                    re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, short)) + r")(?![A-Za-z0-9])")
                    if short
                    else None
                )
            return self._pattern, self._short, values

    def scrub(self, text: str) -> str:
        """``text`` with every registered secret replaced, then the pattern fallback applied."""
        if not text:
            return text
        pattern, short, values = self._patterns()

        def replace(m: re.Match[str]) -> str:
            value = m.group(0)
            return REDACTED if values.get(value) == "password" else fingerprint(value)

        for compiled in (pattern, short):
            if compiled is not None:
                text = compiled.sub(replace, text)
        return scrub_patterns(text)


def _parse_body(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text[0] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            return None
    if "=" in text and " " not in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    return None


# ---------------------------------------------------------------- results


def redact_result(result: CheckResult, secrets: Secrets) -> CheckResult:
    """The result with its message, expected/actual values and evidence scrubbed."""
    return dataclasses.replace(
        result,
        message=secrets.scrub(result.message),
        expected=secrets.scrub(result.expected),
        actual=secrets.scrub(result.actual),
        evidence=tuple(secrets.scrub(text) for text in result.evidence),
    )


def redact_run(run: RunResult, secrets: Secrets) -> RunResult:
    """The run with every result, the fatal reason and its evidence scrubbed (the target URL too)."""
    return dataclasses.replace(
        run,
        target=secrets.scrub(run.target),
        results=[redact_result(r, secrets) for r in run.results],
        fatal=secrets.scrub(run.fatal),
        fatal_evidence=tuple(secrets.scrub(text) for text in run.fatal_evidence),
    )


def scrub_all(texts: Iterable[str], secrets: Secrets) -> list[str]:
    return [secrets.scrub(text) for text in texts]
