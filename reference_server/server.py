"""Run the reference app on a real multi-threaded WSGI server in the background.

``ReferenceServer`` builds the waitress server object itself instead of calling ``bottle.run``:
the adapters block and hide the bound port (STYLE.md), and tests need port 0 and the port the OS
picked. ``start()`` returns at once; ``stop()`` closes every socket and joins the threads.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from .app import create_app

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["ReferenceServer", "WSGIApp", "listening_socket"]

#: a WSGI application (PEP 3333)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# waitress buffers a request body before the app sees it. Cap that buffer well above the app's
# own limit, so the app can still answer an oversized body with its JSON 413, while a client
# cannot make waitress spool a gigabyte (its default) to disk first.
_MIN_WAITRESS_BODY_CAP = 1 << 20
#: Connections waiting in the kernel for accept() (waitress's default, stated here because the
#: idle-connection defence relies on the listener never stalling behind a full queue).
BACKLOG = 1024
#: Longest gap between waitress's sweeps for timed-out connections: a connection over its
#: channel_timeout is closed at most this much later.
MAX_CLEANUP_INTERVAL = 10


class JsonErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's own error responses (413 body over its cap, 400 unparseable request line or
    headers, 431 headers too large, 501 unsupported Transfer-Encoding) as the API's documented
    JSON ``{"message": ...}`` instead of waitress's ``text/plain`` page (issue 8)."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps({"message": f"{error.reason}: {error.body}" if error.body else error.reason}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "no-store"),
            ]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class DeadlineChannel(HTTPChannel):  # type: ignore[misc]
    """A connection that must complete each request within ``channel_timeout``.

    waitress counts every received byte as activity, so a client trickling one byte every few
    seconds is never timed out and holds its connection for ever (slowloris; issue 8: ~100 such
    connections starved /health and /login). Here only a completed request, a response being
    written, or the connection opening counts: an idle connection and a request that trickles
    in are both closed ``channel_timeout`` after the last of those.
    """

    error_task_class = JsonErrorTask

    def handle_read(self) -> None:
        before = float(self.last_activity)  # type: ignore[has-type]  # set by untyped waitress
        pending = len(self.requests)
        super().handle_read()
        if len(self.requests) == pending:
            # No request was completed by these bytes: they do not extend the deadline.
            self.last_activity = before


def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, closed again if binding fails.

    Bound here rather than by waitress: when waitress's own bind fails (port in use), the socket
    it created is left for the garbage collector, which is a ResourceWarning.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and already listening: ``serve --workers`` binds it once,
    before forking, and every worker process serves connections from it (the kernel queues them
    from the moment ``listen`` returns, so none is refused while the workers start)."""
    sock = _bind(host, port)
    try:
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _close_dispatchers(server: Any, socket_map: dict[int, Any]) -> None:
    """Close the listening socket and every connection in ``socket_map``, and empty it (which
    ends the wasyncore loop), leaving the trigger pipe open for the caller to close."""
    for dispatcher in list(socket_map.values()):
        with contextlib.suppress(OSError):
            if dispatcher is server.trigger:
                continue
            if dispatcher is server:
                # wasyncore's close, not BaseWSGIServer.close(), which would close the trigger.
                wasyncore.dispatcher.close(server)
            else:
                # HTTPChannel.handle_close also releases the channel's output buffers (which
                # may be temporary files).
                dispatcher.handle_close()
    socket_map.clear()


class ReferenceServer:
    """The reference API on waitress, in a daemon thread.

    ::

        with ReferenceServer(Settings.for_testing()) as srv:
            requests.get(srv.url + "/health")
    """

    def __init__(self, settings: Settings, *, app: WSGIApp | None = None, sock: socket.socket | None = None) -> None:
        #: the settings the server binds with (``host``, ``port``, ``threads``)
        self.settings = settings
        # A socket bound (and listening) by the caller, shared with other processes; None binds
        # settings.host:settings.port in start().
        self._sock = sock
        self._owns_app = app is None
        #: the WSGI application served
        self.app: Any = create_app(settings) if app is None else app
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ReferenceServer:
        """Bind and serve in a background thread; returns at once. Raises ``OSError`` if the
        address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("ReferenceServer is already started")
        try:
            sock = self._sock if self._sock is not None else _bind(self.settings.host, self.settings.port)
            try:
                server = create_server(
                    self.app,
                    sockets=[sock],
                    threads=self.settings.threads,
                    ident="tokenconform",
                    max_request_body_size=max(_MIN_WAITRESS_BODY_CAP, 16 * self.settings.max_body_bytes),
                    # poll() has no FD_SETSIZE limit, unlike select().
                    asyncore_use_poll=True,
                    # Issue 8, idle connections: waitress accepts nothing more once
                    # connection_limit connections are open (default 100, idle ones included)
                    # and closes idle ones only after channel_timeout (default 120 s, swept
                    # every 30 s). See docs/CONTRACTS.md for the chosen values.
                    connection_limit=self.settings.connection_limit,
                    channel_timeout=self.settings.channel_timeout,
                    cleanup_interval=max(1, min(MAX_CLEANUP_INTERVAL, self.settings.channel_timeout // 3)),
                    backlog=BACKLOG,
                    # waitress drops X-Forwarded-For and friends unless told otherwise; with
                    # trusted proxies configured the app reads X-Forwarded-For itself
                    # (throttle.client_address), so it must get through.
                    clear_untrusted_proxy_headers=self.settings.trusted_proxy_hops == 0,
                )
                server.channel_class = DeadlineChannel
            except BaseException:
                sock.close()
                raise
        except BaseException:
            # A server that never started will not be stopped: release the store now.
            self._close_app()
            raise
        self._server = server
        self._thread = threading.Thread(target=self._server.run, name=f"tokenconform-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The port actually bound (the OS's choice when ``settings.port`` is 0)."""
        if self._server is None:
            raise RuntimeError("ReferenceServer is not started")
        return int(self._server.effective_port)

    @property
    def host(self) -> str:
        """The address actually bound."""
        if self._server is None:
            raise RuntimeError("ReferenceServer is not started")
        return str(self._server.effective_host)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server, without a trailing slash."""
        host = self.host
        if ":" in host:  # RFC 3986 §3.2.2: an IPv6 literal goes in brackets
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening socket and every connection, join the threads, and close the app's
        store if this server created the app. Idempotent; the server cannot be started again."""
        server, thread = self._server, self._thread
        if server is None:
            self._close_app()
            return
        self._server = self._thread = None
        # 1. Let the requests in flight finish: the worker threads exit once idle. They wake the
        #    loop through the trigger pipe, so it must stay open until they are gone.
        server.task_dispatcher.shutdown(timeout=timeout)
        # 2. The wasyncore loop owns the sockets: close them from inside it (a trigger "thunk"
        #    runs in the loop thread), not under a poll() running in another thread. The thunk
        #    leaves the trigger itself open, only unlisted: a wake-up of the loop by anyone else
        #    can run the thunk before our own write to the pipe, which must not fail then.
        socket_map = server._map  # every dispatcher create_server registered

        def close_sockets() -> None:
            _close_dispatchers(server, socket_map)

        server.trigger.pull_trigger(close_sockets)
        if thread is not None:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            # If the loop had already died, the thunk never ran: close what is left from here.
            _close_dispatchers(server, socket_map)
        # 3. No loop and no worker is left to pull the trigger: close its pipe.
        server.trigger.close()
        self._close_app()

    def _close_app(self) -> None:
        if self._owns_app:
            # Bottle.close() closes its plugins, among them the store create_app opened; an app
            # passed in belongs to the caller, who closes it.
            self._owns_app = False
            self.app.close()

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"<ReferenceServer {where}>"
