"""Mock mode: the reference app with a controllable clock, forced expiry, faults and an event log.

Client teams test their refresh logic against this. :class:`MockApp` is a WSGI application that
runs the *same* session logic as the reference server (a :class:`SessionService` subclass whose
only additions are bookkeeping and forced expiry) and adds a control API under ``/_mock/``::

    GET/POST /_mock/clock           {"advance": SECONDS} | {"set": EPOCH}  -> {"now", "offset"}
    POST     /_mock/expire          {"what": "access"|"refresh"|"session", "user"?, "session"?}
    GET/POST /_mock/faults          {"path", "method"?, "status"?, "count"?, "delay_ms"?, "drop"?, "retry_after"?}
    POST     /_mock/revoke-family   {"session"?, "user"?}   (what reuse detection does)
    POST     /_mock/reset           fresh database, clock, faults and events
    GET      /_mock/events          every API request in arrival order, tokens by fingerprint only

The same controls are methods of :class:`MockApp` (``advance``, ``expire``, ``fail_next``, ...),
which the pytest fixture and the ``responses`` transport (``mock_transports.py``) call directly.
Tokens never appear in the event log or in a control answer: only :func:`fingerprint` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http
import io
import itertools
import json
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypedDict

import bottle

from . import cookies
from .app import create_app
from .errors import (
    ApiError,
    BadRequest,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from .routes import BODY_FIELD
from .sessions import IssuedTokens, LoginResult, Principal, PublicUser, SessionService
from .store import SqliteStore

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "CONTROL_PREFIX",
    "Fault",
    "MockApp",
    "MockClock",
    "MockEvent",
    "MockSessionService",
    "fingerprint",
]

#: every control route starts with this; nothing else in the API does
CONTROL_PREFIX = "/_mock"
#: what ``expire`` accepts
EXPIRABLE = ("access", "refresh", "session")
#: RFC 6265 §4.1.1 path-value: any CHAR except CTLs or ";"
_COOKIE_PATH_STOP = re.compile(r"[\x00-\x1f\x7f;]")


def fingerprint(token: str) -> str:
    """A short, stable name for a token: ``fp:`` and 12 hex digits of its SHA-256.

    Enough to tell tokens apart in an event log, useless for presenting the token.
    """
    return "fp:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class MockClock:
    """Epoch seconds that run with real time plus an offset the tests control.

    ``advance`` and ``set`` move the offset, so time keeps flowing between calls: a client whose
    access token lives 15 minutes sees it die one ``advance(16 * 60)`` later.
    """

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds this clock is ahead of the real one (negative: behind)."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (or back, if negative); returns the new time."""
        with self._lock:
            self._offset += seconds
        return self()

    def set(self, epoch: float) -> float:
        """Jump to ``epoch``; returns it (time flows on from there)."""
        with self._lock:
            self._offset = epoch - time.time()
        return self()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


class MockEvent(TypedDict):
    """One API request as the mock saw it. Tokens appear only as fingerprints."""

    #: arrival order, from 1
    seq: int
    #: a shared counter over arrivals and completions: ``start`` < ``end``; an event B began
    #: after A was answered exactly when ``B.start > A.end``
    start: int
    end: int | None
    #: real wall-clock seconds at arrival and at completion (for Retry-After judgements)
    wall_start: float
    wall_end: float | None
    #: the mock clock at arrival
    at: float
    method: str
    path: str
    #: the access token presented (Authorization: Bearer or the access cookie)
    access: str | None
    #: the refresh token presented (JSON body field or the refresh cookie)
    refresh: str | None
    #: where the refresh token came from: "body" or "cookie"
    refresh_via: str | None
    #: the session of the presented token (or of the tokens issued), when known
    session: str | None
    #: the status answered; None when the connection was dropped
    status: int | None
    #: an injected fault: "status", "delay", "drop"
    fault: str | None
    #: tokens issued by this request (login, refresh)
    issued_access: str | None
    issued_refresh: str | None
    #: what the mock noticed, e.g. "reuse detected: session revoked"
    note: str | None


@dataclasses.dataclass
class Fault:
    """The next ``count`` requests to ``path`` (and ``method``, if given) fail this way."""

    path: str
    method: str | None = None
    #: answer with this status and its documented JSON body instead of calling the API
    status: int | None = None
    count: int = 1
    #: wait this long first (then answer ``status``, drop, or pass through)
    delay_ms: int = 0
    #: close the connection without an answer
    drop: bool = False
    #: the Retry-After of a 429/503 answer (seconds)
    retry_after: int = 1

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.path == path and (self.method is None or self.method == method)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _TokenInfo:
    kind: str  # "access" | "refresh"
    user_id: str
    session_id: str


class MockSessionService(SessionService):
    """The reference session rules plus what mock mode needs: a record of every token issued
    (by fingerprint), forced expiry, and a note when reuse detection fires."""

    def __init__(self, settings: Settings, store: SqliteStore, *, clock: Callable[[], float], mock: MockApp) -> None:
        super().__init__(settings, store, clock=clock)
        self._mock = mock

    def login(self, body: object, *, user_agent: str) -> LoginResult:
        result = super().login(body, user_agent=user_agent)
        self._mock._issued(result.tokens, user_id=result.user["_id"])
        return result

    def refresh(self, refresh_token: str | None) -> IssuedTokens:
        mock = self._mock
        if refresh_token:
            fp = fingerprint(refresh_token)
            if mock._is_expired(fp):
                raise Unauthorized("Invalid refresh token", invalid_token=True)
            try:
                tokens = super().refresh(refresh_token)
            except Unauthorized:
                if mock._was_rotated(fp):
                    # RFC 9700 §4.14.2: the server revoked the family; say so in the event log.
                    mock._note("reuse detected: refresh token presented again after rotation; session revoked")
                raise
            mock._rotated(fp)
            info = mock._token(fp)
            mock._issued(tokens, user_id=info.user_id if info else "")
            return tokens
        return super().refresh(refresh_token)

    def authenticate(self, access_token: str | None) -> Principal:
        if access_token and self._mock._is_expired(fingerprint(access_token)):
            raise Unauthorized(
                "Invalid token",
                invalid_token=True,
                error_description="The access token expired",
            )
        return super().authenticate(access_token)


def _json_answer(
    start_response: Callable[..., Any], status: int, payload: object, extra: dict[str, str]
) -> list[bytes]:
    body = json.dumps(payload).encode("utf-8")
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        *extra.items(),
    ]
    start_response(f"{status} {_phrase(status)}", headers)
    return [body]


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def fault_error(status: int, *, retry_after: int = 1) -> ApiError:
    """The documented error for ``status``: its ``{"message"}`` body and required headers."""
    if status == 401:
        return Unauthorized("Invalid token", invalid_token=True)
    if status == 429:
        return TooManyRequests(retry_after=retry_after)
    if status == 503:
        return ServiceUnavailable(retry_after=retry_after)
    return ApiError(status, _phrase(status))


def _drop_connection(environ: dict[str, Any]) -> bool:
    """Shut the client's socket so it gets no answer at all; True when that was possible.

    waitress exposes its channel only through the bound method it puts in the environ; other
    servers (and the ``responses`` transport, which raises ConnectionError itself) have no socket.
    """
    probe = environ.get("waitress.client_disconnected")
    channel = getattr(probe, "__self__", None)
    sock = getattr(channel, "socket", None)
    if not isinstance(sock, socket.socket):
        return False
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return True


#: a hook runs after each API request, with the finished event and the mock
Hook = Callable[[MockEvent, "MockApp"], None]


class MockApp:
    """The reference API in mock mode, as one WSGI application (see the module docstring).

    Args:
        settings: the reference settings (TTLs, delivery, bcrypt cost). ``settings.db_path`` is
            not used: the mock keeps its database in a temporary directory of its own, which
            ``reset()`` replaces and ``close()`` deletes.
        clock: defaults to a fresh :class:`MockClock`.
        refresh_cookie_path: scope the refresh cookie to this ``Path`` instead of the reference's
            ``Path=/``. The reference keeps ``/`` because ``/logout`` takes the refresh cookie
            too and ``__Host-`` demands it; but with ``/`` a client that honours the cookie's
            Path sends the refresh token to every endpoint, and so does one that ignores Path.
            ``client-check`` narrows it to the refresh endpoint to tell the two apart (CLI-06).
    """

    def __init__(
        self, settings: Settings, *, clock: MockClock | None = None, refresh_cookie_path: str | None = None
    ) -> None:
        if refresh_cookie_path is not None:
            if not refresh_cookie_path.startswith("/") or _COOKIE_PATH_STOP.search(refresh_cookie_path):
                raise ValueError(f"refresh_cookie_path must be a path starting with /, not {refresh_cookie_path!r}")
            if settings.cookie_prefix == "__Host-" and refresh_cookie_path != "/":
                # RFC 6265bis §4.1.3.2: a __Host- cookie without Path=/ is rejected by the client.
                raise ValueError("a __Host- refresh cookie must keep Path=/")
        self.settings = settings
        #: the Path of the refresh cookie, when narrowed (None: the reference's own)
        self.refresh_cookie_path = refresh_cookie_path
        #: the controllable clock every token, expiry check and throttling window uses
        self.clock = clock or MockClock()
        self._lock = threading.RLock()
        self._ticks = itertools.count(1)
        self._events: list[MockEvent] = []
        self._faults: list[Fault] = []
        self._tokens: dict[str, _TokenInfo] = {}
        self._expired: set[str] = set()
        self._used: set[str] = set()
        self._users: list[dict[str, str]] = []
        self._hooks: list[Hook] = []
        self._local = threading.local()
        self._directory: str | None = None
        self._store: SqliteStore | None = None
        self._closed = False
        self.service: MockSessionService
        self.api: bottle.Bottle
        self._build()
        #: the control API (``/_mock/...``), a Bottle app of its own
        self.control = _control_app(self)

    # ---------------------------------------------------------------- lifecycle

    def _build(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="tokenconform-mock-")
        # Removed even if nobody calls close(): at garbage collection or, at the latest, at exit.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._directory, ignore_errors=True)
        self._store = SqliteStore(os.path.join(self._directory, "mock.db"))
        self.service = MockSessionService(self.settings, self._store, clock=self.clock, mock=self)
        self.api = create_app(self.settings, service=self.service)

    def _teardown(self) -> None:
        api, store, directory = getattr(self, "api", None), self._store, self._directory
        self._store = self._directory = None
        if api is not None:
            api.close()
        if store is not None:
            store.close()
        if directory is not None:
            self._cleanup()

    def close(self) -> None:
        """Close the database and delete its directory. Idempotent."""
        with self._lock:
            self._closed = True
            self._teardown()

    @property
    def routes(self) -> list[tuple[str, str]]:
        """(method, rule) of every route served: the API's and the control API's."""
        return [(r.method.upper(), r.rule) for app in (self.api, self.control) for r in app.routes]

    # ---------------------------------------------------------------- the controls

    def now(self) -> float:
        return self.clock()

    def advance(self, seconds: float) -> float:
        """Move the mock clock; returns the new time."""
        return self.clock.advance(_finite(seconds, "advance"))

    def set_time(self, epoch: float) -> float:
        return self.clock.set(_finite(epoch, "set"))

    def expire(self, what: str, *, user: str | None = None, session: str | None = None) -> int:
        """End now the ``what`` ("access", "refresh" or "session") of the matching sessions
        (all when neither ``user`` nor ``session`` is given). Returns how many were ended.

        ``user`` is a user id or an email. Tokens issued after the call are not affected.
        """
        if what not in EXPIRABLE:
            raise UnprocessableEntity(f"what must be one of {', '.join(EXPIRABLE)}", field="what")
        user_id = self._resolve_user(user)
        with self._lock:
            matching = {
                fp: info
                for fp, info in self._tokens.items()
                if (user_id is None or info.user_id == user_id) and (session is None or info.session_id == session)
            }
            if what == "session":
                sessions = {info.session_id for info in matching.values()}
            else:
                fresh = {fp for fp, info in matching.items() if info.kind == what and fp not in self._expired}
                self._expired |= fresh
                return len(fresh)
        return self._revoke(sessions, reason="mock_expire")

    def revoke_family(self, *, user: str | None = None, session: str | None = None) -> int:
        """Revoke the matching sessions as reuse detection would (RFC 9700 §4.14.2): the
        refresh token and every access token of each family stop working. Returns the count."""
        user_id = self._resolve_user(user)
        with self._lock:
            sessions = {
                info.session_id
                for info in self._tokens.values()
                if (user_id is None or info.user_id == user_id) and (session is None or info.session_id == session)
            }
        return self._revoke(sessions, reason="reuse")

    def fail_next(
        self,
        path: str,
        *,
        status: int | None = None,
        count: int = 1,
        delay_ms: int = 0,
        drop: bool = False,
        method: str | None = None,
        retry_after: int = 1,
    ) -> Fault:
        """Make the next ``count`` requests to ``path`` fail: answer ``status`` (with its
        documented body), wait ``delay_ms`` first, or ``drop`` the connection."""
        fault = _fault_from(
            {
                "path": path,
                "status": status,
                "count": count,
                "delay_ms": delay_ms,
                "drop": drop,
                "method": method,
                "retry_after": retry_after,
            }
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def faults(self) -> list[Fault]:
        with self._lock:
            return [dataclasses.replace(f) for f in self._faults if f.count > 0]

    def events(self) -> list[MockEvent]:
        """Every API request so far, in arrival order (copies)."""
        with self._lock:
            return [MockEvent(**event) for event in self._events]

    def reset(self) -> None:
        """A fresh database (the users added with :meth:`add_user` are registered again), the
        real time, no faults, no events, no forced expiries."""
        with self._lock:
            self._teardown()
            self._events.clear()
            self._faults.clear()
            self._tokens.clear()
            self._expired.clear()
            self._used.clear()
            self.clock.reset()
            self._build()
            for body in self._users:
                self.service.register(dict(body))

    def add_user(self, email: str, password: str, *, username: str | None = None) -> PublicUser:
        """Register a user (kept across :meth:`reset`)."""
        body = {
            "username": username or email.split("@", 1)[0],
            "email": email,
            "password": password,
            "fullName": "Mock User",
        }
        with self._lock:
            user = self.service.register(dict(body))
            self._users.append(body)
        return user

    def on_response(self, hook: Hook) -> None:
        """Call ``hook(event, mock)`` after each API request, before its answer leaves."""
        with self._lock:
            self._hooks.append(hook)

    def issued_refresh_tokens(self) -> set[str]:
        """Fingerprints of every refresh token issued so far."""
        with self._lock:
            return {fp for fp, info in self._tokens.items() if info.kind == "refresh"}

    # ---------------------------------------------------------------- bookkeeping for the service

    def _issued(self, tokens: IssuedTokens, *, user_id: str) -> None:
        access, refresh = fingerprint(tokens.access_token), fingerprint(tokens.refresh_token)
        with self._lock:
            self._tokens[access] = _TokenInfo("access", user_id, tokens.session_id)
            self._tokens[refresh] = _TokenInfo("refresh", user_id, tokens.session_id)
        event = getattr(self._local, "event", None)
        if event is not None:
            event["issued_access"], event["issued_refresh"] = access, refresh
            event["session"] = tokens.session_id

    def _is_expired(self, fp: str) -> bool:
        with self._lock:
            return fp in self._expired

    def _was_rotated(self, fp: str) -> bool:
        with self._lock:
            return fp in self._used

    def _rotated(self, fp: str) -> None:
        with self._lock:
            self._used.add(fp)

    def _token(self, fp: str) -> _TokenInfo | None:
        with self._lock:
            return self._tokens.get(fp)

    def _note(self, note: str) -> None:
        event = getattr(self._local, "event", None)
        if event is not None:
            event["note"] = note

    def _resolve_user(self, user: str | None) -> str | None:
        if user is None:
            return None
        if "@" in user:
            record = self.service.store.get_user_by_email(user)
            return record.id if record is not None else user
        return user

    def _revoke(self, sessions: Iterable[str], *, reason: str) -> int:
        now = self.clock()
        return sum(1 for sid in sorted(sessions) if self.service.store.revoke_session(sid, reason=reason, now=now))

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            result: Iterable[bytes] = self.control(environ, start_response)
            return result
        return self._serve(environ, start_response, path)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any], path: str) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        access, refresh, via = self._presented(environ)
        with self._lock:
            info = self._tokens.get(access or "") or self._tokens.get(refresh or "")
            event = MockEvent(
                seq=len(self._events) + 1,
                start=next(self._ticks),
                end=None,
                wall_start=time.time(),
                wall_end=None,
                at=self.clock(),
                method=method,
                path=path,
                access=access,
                refresh=refresh,
                refresh_via=via,
                session=info.session_id if info else None,
                status=None,
                fault=None,
                issued_access=None,
                issued_refresh=None,
                note=None,
            )
            self._events.append(event)
            fault = next((f for f in self._faults if f.matches(method, path)), None)
            if fault is not None:
                fault.count -= 1
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        if fault is not None and fault.delay_ms:
            event["fault"] = "delay"
            time.sleep(fault.delay_ms / 1000)
        if fault is not None and fault.drop:
            event["fault"] = "drop"
            environ["tokenconform.mock.dropped"] = True
            self._finish(event, None)
            if not _drop_connection(environ):
                # No socket to shut (another server): end the answer short instead.
                start_response("502 Bad Gateway", [("Content-Length", "1")])
                return [b""]
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return [b""]
        if fault is not None and fault.status is not None:
            event["fault"] = "status"
            error = fault_error(fault.status, retry_after=fault.retry_after)
            body = _json_answer(capture, fault.status, error.to_dict(), error.headers)
        else:
            self._local.event = event
            try:
                chunks = self.api(environ, capture)
                try:
                    body = [b"".join(chunks)]
                finally:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
            finally:
                self._local.event = None
        status = int(str(captured["status"]).split(" ", 1)[0])
        self._finish(event, status)
        headers: list[tuple[str, str]] = captured["headers"]
        if self.refresh_cookie_path is not None:
            refresh_cookie = cookies.refresh_cookie_name(self.settings)
            headers = [
                (name, _with_path(value, self.refresh_cookie_path))
                if name.lower() == "set-cookie" and value.split("=", 1)[0].strip() == refresh_cookie
                else (name, value)
                for name, value in headers
            ]
        start_response(captured["status"], headers)
        return body

    def _finish(self, event: MockEvent, status: int | None) -> None:
        with self._lock:
            event["status"] = status
            event["end"] = next(self._ticks)
            event["wall_end"] = time.time()
            hooks = list(self._hooks)
            snapshot = MockEvent(**event)
        for hook in hooks:
            hook(snapshot, self)

    def _presented(self, environ: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
        """Fingerprints of the access and refresh tokens a request carries (and where the
        refresh token was). The body is read once and put back for the API."""
        cookie_header = str(environ.get("HTTP_COOKIE", ""))
        jar = {}
        for pair in cookie_header.split(";"):
            key, sep, value = pair.partition("=")
            if sep and value.strip():
                jar[key.strip()] = value.strip()
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, credentials = header.strip().partition(" ")
        access_token = credentials.strip() if scheme.lower() == "bearer" else None
        if not access_token:
            access_token = jar.get(cookies.access_cookie_name(self.settings))
        refresh_token, via = None, None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if 0 < length <= self.settings.max_body_bytes:
            data = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            with contextlib.suppress(ValueError, RecursionError):
                parsed = json.loads(data)
                if isinstance(parsed, dict) and isinstance(parsed.get(BODY_FIELD), str) and parsed[BODY_FIELD]:
                    refresh_token, via = parsed[BODY_FIELD], "body"
        if refresh_token is None:
            refresh_token = jar.get(cookies.refresh_cookie_name(self.settings))
            via = "cookie" if refresh_token else None
        return (
            fingerprint(access_token) if access_token else None,
            fingerprint(refresh_token) if refresh_token else None,
            via,
        )


def _with_path(set_cookie: str, path: str) -> str:
    """``set_cookie`` with its Path attribute replaced by (or given) ``path``."""
    parts = set_cookie.split(";")
    at = [i for i, part in enumerate(parts) if i and part.split("=", 1)[0].strip().lower() == "path"]
    for i in reversed(at[1:]):
        del parts[i]
    if at:
        parts[at[0]] = f" Path={path}"
    else:
        parts.append(f" Path={path}")
    return ";".join(parts)


# -------------------------------------------------------------------- the control API


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UnprocessableEntity(f"{name} must be a finite number of seconds", field=name)
    return float(value)


def _fault_from(body: dict[str, Any]) -> Fault:
    path = body.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise UnprocessableEntity("path must be a string starting with /", field="path")
    if path.startswith(CONTROL_PREFIX):
        raise UnprocessableEntity("faults cannot target the control API", field="path")
    method = body.get("method")
    if method is not None and not isinstance(method, str):
        raise UnprocessableEntity("method must be a string", field="method")
    status = body.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
        raise UnprocessableEntity("status must be an error status, 400..599", field="status")
    drop = body.get("drop", False)
    if not isinstance(drop, bool):
        raise UnprocessableEntity("drop must be true or false", field="drop")
    ints = {}
    for name, default, low in (("count", 1, 1), ("delay_ms", 0, 0), ("retry_after", 1, 0)):
        value = body.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UnprocessableEntity(f"{name} must be an integer >= {low}", field=name)
        ints[name] = value
    if status is None and not drop and not ints["delay_ms"]:
        raise UnprocessableEntity("a fault needs a status, drop or delay_ms", field="status")
    return Fault(
        path=path,
        method=method.upper() if method else None,
        status=status,
        drop=drop,
        count=ints["count"],
        delay_ms=min(ints["delay_ms"], 60_000),
        retry_after=ints["retry_after"],
    )


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise UnprocessableEntity(f"{name} must be a string", field=name)
    return value


def _control_app(mock: MockApp) -> bottle.Bottle:
    """The ``/_mock/`` routes: JSON in, JSON out, errors as ``{"message"}`` like the API's."""
    control = bottle.Bottle(catchall=True)

    def body() -> dict[str, Any]:
        raw = bottle.request.body.read(mock.settings.max_body_bytes + 1)
        if len(raw) > mock.settings.max_body_bytes:
            raise BadRequest("Request body too large")
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise BadRequest("Malformed JSON") from None
        if not isinstance(parsed, dict):
            raise BadRequest("Request body must be a JSON object")
        return parsed

    def answer(payload: object, status: int = 200) -> str:
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        bottle.response.set_header("Cache-Control", "no-store")
        return json.dumps(payload)

    def guarded(handler: Callable[[], str]) -> Callable[[], str]:
        def wrapper() -> str:
            try:
                return handler()
            except ApiError as exc:
                for name, value in exc.headers.items():
                    bottle.response.set_header(name, value)
                return answer(exc.to_dict(), exc.status)

        return wrapper

    def clock_state() -> dict[str, float]:
        return {"now": mock.now(), "offset": mock.clock.offset}

    def get_clock() -> str:
        return answer(clock_state())

    def post_clock() -> str:
        data = body()
        if ("advance" in data) == ("set" in data):
            raise UnprocessableEntity('give exactly one of "advance" (seconds) or "set" (epoch)', field="advance")
        if "advance" in data:
            mock.advance(_finite(data["advance"], "advance"))
        else:
            mock.set_time(_finite(data["set"], "set"))
        return answer(clock_state())

    def post_expire() -> str:
        data = body()
        what = data.get("what")
        if not isinstance(what, str):
            raise UnprocessableEntity("what is required: access, refresh or session", field="what")
        count = mock.expire(what, user=_optional_text(data, "user"), session=_optional_text(data, "session"))
        return answer({"expired": count, "what": what})

    def post_faults() -> str:
        fault = _fault_from(body())
        with mock._lock:
            mock._faults.append(fault)
        return answer({"fault": fault.to_dict()}, 201)

    def get_faults() -> str:
        return answer({"faults": [f.to_dict() for f in mock.faults()]})

    def post_revoke() -> str:
        data = body()
        count = mock.revoke_family(user=_optional_text(data, "user"), session=_optional_text(data, "session"))
        return answer({"revoked": count})

    def post_reset() -> str:
        mock.reset()
        return answer({"message": "Mock reset"})

    def get_events() -> str:
        return answer({"events": mock.events()})

    control.route(CONTROL_PREFIX + "/clock", "GET", guarded(get_clock))
    control.route(CONTROL_PREFIX + "/clock", "POST", guarded(post_clock))
    control.route(CONTROL_PREFIX + "/expire", "POST", guarded(post_expire))
    control.route(CONTROL_PREFIX + "/faults", "GET", guarded(get_faults))
    control.route(CONTROL_PREFIX + "/faults", "POST", guarded(post_faults))
    control.route(CONTROL_PREFIX + "/revoke-family", "POST", guarded(post_revoke))
    control.route(CONTROL_PREFIX + "/reset", "POST", guarded(post_reset))
    control.route(CONTROL_PREFIX + "/events", "GET", guarded(get_events))

    def not_found(error: Any) -> str:
        bottle.response.content_type = "application/json"
        status = int(error.status_code)
        return json.dumps({"message": "Not found" if status == 404 else _phrase(status)})

    for code in (400, 404, 405, 500):
        control.error(code, callback=not_found)
    return control
