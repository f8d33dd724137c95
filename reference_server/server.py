"""Run the reference app on a real multi-threaded WSGI server in the background.

``ReferenceServer`` builds the waitress server object itself instead of calling ``bottle.run``:
the adapters block and hide the bound port (STYLE.md), and tests need port 0 and the port the OS
picked. ``start()`` returns at once; ``stop()`` closes every socket and joins the threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.server import create_server

from .app import create_app

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["ReferenceServer", "WSGIApp"]

#: a WSGI application (PEP 3333)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# waitress buffers a request body before the app sees it. Cap that buffer well above the app's
# own limit, so the app can still answer an oversized body with its JSON 413, while a client
# cannot make waitress spool a gigabyte (its default) to disk first.
_MIN_WAITRESS_BODY_CAP = 1 << 20


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

    def __init__(self, settings: Settings, *, app: WSGIApp | None = None) -> None:
        #: the settings the server binds with (``host``, ``port``, ``threads``)
        self.settings = settings
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
            sock = _bind(self.settings.host, self.settings.port)
            try:
                server = create_server(
                    self.app,
                    sockets=[sock],
                    threads=self.settings.threads,
                    ident="tokenconform",
                    max_request_body_size=max(_MIN_WAITRESS_BODY_CAP, 16 * self.settings.max_body_bytes),
                    # poll() has no FD_SETSIZE limit, unlike select().
                    asyncore_use_poll=True,
                )
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
