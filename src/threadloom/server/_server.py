"""``FaultServer``: a threaded HTTP/1.1 keep-alive server around the fault routes."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

from threadloom.server._capacity import CapacityRoutes
from threadloom.server._exchange import Exchange, Reply
from threadloom.server._routes import Routes
from threadloom.server._stats import ServerStatistics, StatisticsCollector

logger = logging.getLogger(__name__)

# How long stop() waits for connection threads after closing their sockets. They exit
# within milliseconds once their socket is shut down; the bound only guards against a
# handler stuck somewhere unexpected (they are daemon threads, so it cannot hang exit).
_STOP_JOIN_TIMEOUT = 2.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = cast(_HTTPServer, self.server)
        split = urlsplit(self.path)
        host = self.headers.get("Host", "")
        if server.log is not None:
            server.log.append(
                LoggedRequest(time.monotonic(), host, self.path, tuple(self.headers.items()))
            )
        server.stats.request_started(split.path, host)
        exchange = Exchange(
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            request_headers=list(self.headers.items()),
            keep_alive=not self.close_connection,
            connection=self.connection,
            wfile=self.wfile,
            stats=server.stats,
            stopping=server.stopping,
        )
        try:
            server.routes.handle(exchange)
        except OSError:
            # The client went away mid-response (EPIPE, ECONNRESET) or stop() shut the
            # socket down; only the former is the client's doing.
            if not server.stopping.is_set():
                server.stats.client_aborted()
            exchange.close_after()
        finally:
            server.stats.request_finished(host)
            if not exchange.keep_alive:
                self.close_connection = True
            if exchange.reset_requested:
                server.reset_on_close(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _HTTPServer(HTTPServer):
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        family: socket.AddressFamily,
        routes: Routes,
        tls: ssl.SSLContext | None,
        log_requests: bool,
    ) -> None:
        self.address_family = family
        self.routes = routes
        self.tls = tls
        # deque.append is atomic: connection threads log without a lock.
        self.log: deque[LoggedRequest] | None = deque() if log_requests else None
        self.stats = StatisticsCollector()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._to_reset: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._thread_ids = itertools.count(1)
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # take seconds on a badly configured host; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # Streaming routes write small pieces; do not let Nagle hold them back.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets.add(sock)
        self.stats.connection_accepted()
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"fault-server-conn-{next(self._thread_ids)}",
            daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            if self.tls is not None:
                request = self._handshake(request)
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _handshake(self, plain: socket.socket) -> socket.socket:
        """TLS on an accepted connection, on its own thread (a slow or failing client
        does not hold up the accept loop). The TLS socket takes over the descriptor, so
        it replaces the plain one among the sockets ``close_connections`` shuts down.
        A failed handshake (the client refused the certificate) raises, which ends the
        connection through ``handle_error``."""
        assert self.tls is not None
        wrapped = self.tls.wrap_socket(plain, server_side=True)
        with self._lock:
            self._sockets.discard(plain)
            self._sockets.add(wrapped)
        return wrapped

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connections dropped by clients (resets while reading the next request) are
        # routine for a fault server; anything else is a bug worth a traceback.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)

    def reset_on_close(self, sock: socket.socket) -> None:
        with self._lock:
            self._to_reset.add(sock)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._sockets.discard(request)
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            # SO_LINGER on with a zero timeout makes close() send RST instead of FIN.
            with contextlib.suppress(OSError):
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
        else:
            super().shutdown_request(request)
        self.stats.connection_closed()

    def close_connections(self) -> list[threading.Thread]:
        """Shut down every open client socket; return the connection threads to join."""
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            # OSError: already closed by its own thread.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return threads


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the server read it (``FaultServer(log_requests=True)``): when
    (``time.monotonic()`` in the server's process, taken once the head was read), the
    ``Host`` header, the request target (path and query, as sent) and every header."""

    time: float
    host: str
    target: str
    headers: tuple[tuple[str, str], ...]

    @property
    def path(self) -> str:
        """The target without its query."""
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class FaultServer:
    """The project's fault-injecting HTTP/1.1 server (routes: see ``threadloom.server``).

    Binds ``host:port`` (port 0: an ephemeral port) on ``start()``; serves each
    connection on its own daemon thread with keep-alive. ``documents`` is how many
    ``/docs/{n}.xml`` exist; ``seed`` fixes their content and latency; ``latency``
    scales the per-document heavy-tailed delay (0 disables it). ``tls``: a server-side
    ``ssl.SSLContext`` (with its certificate loaded) to serve HTTPS instead of HTTP;
    every route works the same over it, and ``base_url`` starts with ``https://``.
    ``log_requests``: keep every request (:meth:`request_log`), so tests can check
    what was asked, in which order and when; off by default, since a long benchmark
    would keep them all. Use as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        documents: int = 500,
        seed: int = 0,
        latency: float = 0.0,
        tls: ssl.SSLContext | None = None,
        log_requests: bool = False,
    ) -> None:
        if documents < 0:
            raise ValueError(f"documents must be >= 0, got {documents}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0, got {latency}")
        self.host = host
        self._requested_port = port
        self.documents = documents
        self.seed = seed
        self.latency = latency
        self.tls = tls
        self.log_requests = log_requests
        self._routes = Routes(documents=documents, seed=seed, latency=latency)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        return self._server().server_port

    @property
    def base_url(self) -> str:
        """``http://host:port`` (``https://`` with ``tls``) of the running server (IPv6
        hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (a leading ``/`` is added if missing)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def document_url(self, n: int) -> str:
        """The URL of generated document ``n``."""
        return self.url(f"/docs/{n}.xml")

    def start(self) -> Self:
        """Bind and start serving in a background thread named ``fault-server``.

        Raises RuntimeError if already started, OSError if the address is taken.
        """
        if self._httpd is not None:
            raise RuntimeError("FaultServer is already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._httpd = _HTTPServer(
            (self.host, self._requested_port), family, self._routes, self.tls, self.log_requests
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fault-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection, stalled ones included.

        Returns within about ``2`` seconds whatever the clients do (typically a few
        milliseconds). Idempotent; a stopped server cannot be restarted.
        """
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None or httpd.stopping.is_set():
            return
        httpd.stopping.set()
        httpd.shutdown()
        thread.join()
        httpd.server_close()
        deadline = time.monotonic() + _STOP_JOIN_TIMEOUT
        for conn_thread in httpd.close_connections():
            conn_thread.join(max(0.0, deadline - time.monotonic()))

    def bump_version(self, key: str) -> int:
        """Change the document ``/versioned/{key}`` (body, ETag, Last-Modified); return
        its new version (the first is 1)."""
        return self._server().routes.versions.bump(key)

    def set_versioned_status(self, key: str, status: int | None) -> None:
        """Answer ``/versioned/{key}`` with ``status`` (400-599) from now on, or serve
        the document again (None)."""
        self._server().routes.versions.set_status(key, status)

    def versioned_conditions(self, key: str) -> list[tuple[str, str]]:
        """The ``(If-None-Match, If-Modified-Since)`` values of each request for
        ``/versioned/{key}`` so far ("" for a header the request did not send)."""
        return self._server().routes.versions.conditions(key)

    def serve(
        self,
        path: str,
        body: str | bytes = b"",
        *,
        status: int = 200,
        headers: Iterable[tuple[str, str]] = (),
        content_type: str = "text/plain; charset=utf-8",
        times: int | None = None,
    ) -> None:
        """Answer requests for exactly ``path`` (any query) with this reply, before any
        built-in route: a ``/robots.txt`` (without one it is a 404, as any unknown
        path), a redirect (``status=301, headers=[("Location", "/elsewhere")]``), an
        error. ``body`` as str is sent as UTF-8.

        Replies for one path are given in the order they were set: one with
        ``times=N`` answers N requests, then the next one set for the path answers (or
        the built-in route, if none is); one without ``times`` answers every request
        until another ``serve`` call for the path replaces it. So a robots.txt that
        fails once and then answers is ``serve(p, status=503, times=1)`` followed by
        ``serve(p, "User-agent: *...")``. May be called before ``start()`` or while
        serving (the next request sees it).
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        if not 200 <= status <= 599:
            raise ValueError(f"status must be in 200..599, got {status}")
        if times is not None and times < 1:
            raise ValueError(f"times must be None or >= 1, got {times}")
        data = body.encode() if isinstance(body, str) else body
        self._routes.serve(path, Reply(status, data, tuple(headers), content_type), times)

    def request_log(self) -> list[LoggedRequest]:
        """Every request read so far, in arrival order (needs ``log_requests=True``;
        RuntimeError otherwise)."""
        log = self._server().log
        if log is None:
            raise RuntimeError("FaultServer was started without log_requests=True")
        return list(log)

    def statistics(self) -> ServerStatistics:
        """A snapshot of the request counters (see ``ServerStatistics``)."""
        return self._server().stats.snapshot()

    @property
    def capacity(self) -> CapacityRoutes:
        """The ``/capacity/{c}/{name}`` routes' counters (in flight seen, 503s sent)."""
        return self._server().routes.capacity

    def wait_for(self, predicate: Callable[[ServerStatistics], bool], timeout: float) -> bool:
        """Block until ``predicate(self.statistics())`` holds or ``timeout`` seconds
        pass; returns whether it holds. Lets tests wait for server-side effects (a
        client abort, N requests) without sleeping."""
        return self._server().stats.wait_for(predicate, timeout)

    def _server(self) -> _HTTPServer:
        if self._httpd is None:
            raise RuntimeError("FaultServer is not started")
        return self._httpd

    def __enter__(self) -> Self:
        """Start the server unless ``start()`` was already called; return it."""
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
