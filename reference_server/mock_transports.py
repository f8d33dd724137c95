"""Two transports for one mock: a real loopback server, and ``responses`` for socket-free tests.

Both wrap the same :class:`~tokenconform_server.mock.MockApp` (one implementation) and expose the
same controls as methods (``advance``, ``expire``, ``fail_next``, ``events``, ...), so a test can
switch transport without changing a line of its control code::

    with MockServer() as mock:                 # http://127.0.0.1:PORT, waitress in a thread
        client = TokenSession(mock.url); client.login(mock.username, mock.password)
        mock.advance(16 * 60)
    with ResponsesMock() as mock:              # http://tokenconform.mock, no socket at all
        ...

Each seeds one user (``.username`` / ``.password``: random per instance, never printed).
"""

from __future__ import annotations

import io
import re
import secrets
import sys
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .config import Settings, generate_secret
from .mock import Fault, MockApp, MockClock, MockEvent

if TYPE_CHECKING:
    import requests
    import responses

__all__ = ["MockServer", "ResponsesMock", "mock_settings"]

#: the seeded user's email
DEFAULT_USER = "client@example.com"
#: where the ``responses`` transport answers
RESPONSES_URL = "http://tokenconform.mock"


def mock_settings(**overrides: Any) -> Settings:
    """Settings for a mock in tests and ``client-check``: random secrets, bcrypt cost 4,
    127.0.0.1 on port 0, generous throttling, the seed's 15-minute access token. Unlike
    ``Settings.for_testing`` it creates no directory (a mock keeps its own database)."""
    values: dict[str, Any] = {
        "access_secret": generate_secret(),
        "refresh_secret": generate_secret(),
        "bcrypt_rounds": 4,
        "db_path": "mock-managed.db",
        "host": "127.0.0.1",
        "port": 0,
        "login_max_failures": 1000,
    }
    values.update(overrides)
    return Settings(**values)


class _Controls:
    """The control methods both transports share; they act on ``self.mock`` directly."""

    mock: MockApp
    #: the seeded user's email and password
    username: str
    password: str

    def _seed(self, settings: Settings | None, clock: MockClock | None, refresh_cookie_path: str | None) -> None:
        self.mock = MockApp(settings or mock_settings(), clock=clock, refresh_cookie_path=refresh_cookie_path)
        self.username = DEFAULT_USER
        self.password = secrets.token_urlsafe(12)
        self.mock.add_user(self.username, self.password)

    def now(self) -> float:
        return self.mock.now()

    def advance(self, seconds: float) -> float:
        return self.mock.advance(seconds)

    def set_time(self, epoch: float) -> float:
        return self.mock.set_time(epoch)

    def expire(self, what: str = "access", *, user: str | None = None, session: str | None = None) -> int:
        return self.mock.expire(what, user=user, session=session)

    def fail_next(
        self,
        path: str,
        status: int | None = None,
        *,
        count: int = 1,
        delay_ms: int = 0,
        drop: bool = False,
        method: str | None = None,
        retry_after: int = 1,
    ) -> Fault:
        return self.mock.fail_next(
            path, status=status, count=count, delay_ms=delay_ms, drop=drop, method=method, retry_after=retry_after
        )

    def revoke_family(self, *, user: str | None = None, session: str | None = None) -> int:
        return self.mock.revoke_family(user=user, session=session)

    def reset(self) -> None:
        self.mock.reset()

    def events(self) -> list[MockEvent]:
        return self.mock.events()


class MockServer(_Controls):
    """The mock on a real server bound to 127.0.0.1:0 (``ReferenceServer``); ``stop()`` closes
    the sockets, the database and its directory."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: MockClock | None = None,
        refresh_cookie_path: str | None = None,
    ) -> None:
        self._seed(settings, clock, refresh_cookie_path)
        from .server import ReferenceServer

        self._server = ReferenceServer(self.mock.settings, app=self.mock)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> MockServer:
        try:
            self._server.start()
        except BaseException:
            self.mock.close()
            raise
        return self

    def stop(self) -> None:
        try:
            self._server.stop()
        finally:
            self.mock.close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<MockServer {self._server!r}>"


class ResponsesMock(_Controls):
    """The mock behind ``responses``: every ``requests`` call to :data:`RESPONSES_URL` is answered
    by calling the WSGI app in-process. A dropped-connection fault raises ``ConnectionError``.

    Needs the ``responses`` package (the ``test`` extra).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: MockClock | None = None,
        url: str = RESPONSES_URL,
        rsps: responses.RequestsMock | None = None,
        refresh_cookie_path: str | None = None,
    ) -> None:
        import responses as responses_module

        self._seed(settings, clock, refresh_cookie_path)
        #: base URL the mock answers at
        self.url = url.rstrip("/")
        self._owns_rsps = rsps is None
        #: the ``responses.RequestsMock`` the callbacks are registered on
        self.rsps = rsps or responses_module.RequestsMock(assert_all_requests_are_fired=False)
        pattern = re.compile(re.escape(self.url) + r"(/.*)?$")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            self.rsps.add_callback(method, pattern, callback=self._answer)

    def start(self) -> ResponsesMock:
        if self._owns_rsps:
            self.rsps.start()
        return self

    def stop(self) -> None:
        try:
            if self._owns_rsps:
                self.rsps.stop()
                self.rsps.reset()
        finally:
            self.mock.close()

    def __enter__(self) -> ResponsesMock:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _answer(self, request: requests.PreparedRequest) -> Any:
        import requests as requests_module

        environ = _environ(request)
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks: Iterable[bytes] = self.mock(environ, start_response)
        body = b"".join(chunks)
        if environ.get("tokenconform.mock.dropped"):
            return requests_module.ConnectionError("connection dropped by a mock fault", request=request)
        status = int(str(captured["status"]).split(" ", 1)[0])
        headers = [(name, value) for name, value in captured["headers"] if name.lower() != "content-length"]
        return status, headers, body


def _environ(request: requests.PreparedRequest) -> dict[str, Any]:
    """A PEP 3333 environ for a prepared ``requests`` request."""
    url = urlsplit(request.url or "")
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):  # a file or generator body: read it
        body = b"".join(part if isinstance(part, bytes) else str(part).encode() for part in body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": (request.method or "GET").upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(url.path or "/"),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ["HTTP_" + key] = value
    return environ
