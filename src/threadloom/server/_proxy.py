"""Minimal proxies on 127.0.0.1 for tests of a client's proxy support.

``ForwardProxy`` is an HTTP forward proxy: it takes absolute-form requests (``GET
http://host:port/path HTTP/1.1``), relays each to its origin over a fresh connection
and the response back, and keeps the client's connection for its next request; a
``CONNECT host:port`` (https through the proxy) becomes a byte pipe to the origin.
``Socks5Proxy`` speaks SOCKS5 (RFC 1928, no authentication, CONNECT only) and relays
bytes both ways. Both count what they relayed, so a test can tell whether a request
went through the proxy or around it. Standard library only; not for production use.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

# A request head longer than this is refused: the proxies serve tests, not attackers,
# but a runaway client must not grow memory without end.
_MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024
# Hop-by-hop and proxy-only request headers, not forwarded to the origin.
_NOT_FORWARDED = frozenset({"proxy-connection", "proxy-authorization", "connection", "keep-alive"})


@dataclass
class ProxyLog:
    """What a proxy relayed: one entry per request (``ForwardProxy``: the absolute
    URL; ``Socks5Proxy``: ``host:port`` as the client named it, a name with socks5h
    and an address with socks5)."""

    relayed: list[str] = field(default_factory=list)
    refused: int = 0


class _Proxy:
    """Listening socket, accept thread, one daemon thread per client connection."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._log = ProxyLog()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"{name}-accept", daemon=True)
        self._thread.start()

    @property
    def relayed(self) -> list[str]:
        """A copy of what was relayed so far, in order (see :class:`ProxyLog`)."""
        with self._lock:
            return list(self._log.relayed)

    @property
    def refused(self) -> int:
        """Requests answered with 407 (missing or wrong proxy credentials)."""
        with self._lock:
            return self._log.refused

    def _record(self, entry: str) -> None:
        with self._lock:
            self._log.relayed.append(entry)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                self._sockets.add(conn)
            threading.Thread(
                target=self._serve_and_close, args=(conn,), name=f"{self._name}-conn", daemon=True
            ).start()

    def _serve_and_close(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            pass  # a peer went away, or stop() closed the socket
        finally:
            self._forget(conn)

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def stop(self) -> None:
        """Close the listening socket and every connection; idempotent."""
        # shutdown() wakes the accept() in progress; close() alone does not on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(2.0)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ForwardProxy(_Proxy):
    """An HTTP forward proxy on 127.0.0.1 (``url`` is ``http://127.0.0.1:PORT``).

    With ``credentials=(user, password)`` a request without the matching
    ``Proxy-Authorization: Basic`` header gets ``407`` (counted in ``refused``).
    ``relayed`` lists each GET's absolute URL and each tunnel as ``"CONNECT host:port"``.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        self._expected = (
            None
            if credentials is None
            else "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        )
        super().__init__("forward-proxy")

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        while True:
            head = _read_head(reader)
            if head is None:
                return
            method, target, headers = head
            if method not in ("GET", "CONNECT") or (
                method == "GET" and not target.startswith("http://")
            ):
                conn.sendall(_plain(501, f"{method} {target} not supported"))
                return
            given = next((v for k, v in headers if k.lower() == "proxy-authorization"), None)
            if self._expected is not None and given != self._expected:
                with self._lock:
                    self._log.refused += 1
                conn.sendall(_plain(407, "proxy credentials required"))
                continue
            self._record(f"CONNECT {target}" if method == "CONNECT" else target)
            if method == "CONNECT":
                self._tunnel(conn, target)
                return
            self._relay(conn, target, headers)

    def _relay(self, conn: socket.socket, target: str, headers: list[tuple[str, str]]) -> None:
        parts = urlsplit(target)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        lines = [f"GET {path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _NOT_FORWARDED]
        # One request per origin connection: its end is the end of the response, so
        # no framing needs parsing here.
        lines.append("Connection: close")
        origin = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30)
        self._track(origin)
        try:
            origin.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            while chunk := origin.recv(_CHUNK):
                conn.sendall(chunk)
        finally:
            self._forget(origin)

    def _tunnel(self, conn: socket.socket, target: str) -> None:
        # CONNECT host:port (https through the proxy): a byte pipe once the origin is up.
        host, _, port = target.rpartition(":")
        try:
            origin = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
        except (OSError, ValueError):
            conn.sendall(_plain(502, f"cannot connect to {target}"))
            return
        self._track(origin)
        try:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(conn, origin)
        finally:
            self._forget(origin)


class Socks5Proxy(_Proxy):
    """A SOCKS5 proxy on 127.0.0.1 (``url`` is ``socks5://127.0.0.1:PORT``, or
    ``socks5h://`` to have it resolve names): no authentication, CONNECT only."""

    def __init__(self) -> None:
        super().__init__("socks5-proxy")

    @property
    def url(self) -> str:
        """``socks5://127.0.0.1:PORT``."""
        return f"socks5://127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        version, methods = _exactly(conn, 2)
        _exactly(conn, methods)
        if version != 5:
            return
        conn.sendall(b"\x05\x00")  # no authentication
        _version, command, _reserved, kind = _exactly(conn, 4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(_exactly(conn, 4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(_exactly(conn, 16)))
        else:
            host = _exactly(conn, _exactly(conn, 1)[0]).decode("idna")
        (port,) = struct.unpack("!H", _exactly(conn, 2))
        if command != 1:
            conn.sendall(b"\x05\x07\x00\x01" + bytes(6))  # command not supported
            return
        try:
            origin = socket.create_connection((host, port), timeout=30)
        except OSError:
            conn.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        self._track(origin)
        self._record(f"{host}:{port}")
        try:
            conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
            _pipe(conn, origin)
        finally:
            self._forget(origin)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Relay bytes both ways until either side closes."""
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while True:
            for key, _ in selector.select(timeout=30):
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                chunk = source.recv(_CHUNK)
                if not chunk:
                    return
                key.data.sendall(chunk)


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("peer closed")
        data += chunk
    return data


def _read_head(reader: object) -> tuple[str, str, list[tuple[str, str]]] | None:
    """The next request's method, target and header fields, in order; None at EOF."""
    readline = reader.readline  # type: ignore[attr-defined]
    line: bytes = readline(_MAX_HEAD)
    if not line:
        return None
    method, _, rest = line.decode("latin-1").strip().partition(" ")
    target = rest.rpartition(" ")[0]
    headers: list[tuple[str, str]] = []
    size = len(line)
    while True:
        raw: bytes = readline(_MAX_HEAD)
        size += len(raw)
        if not raw or size > _MAX_HEAD:
            return None
        text = raw.decode("latin-1").strip()
        if not text:
            return method, target, headers
        name, _, value = text.partition(":")
        headers.append((name.strip(), value.strip()))


def _plain(status: int, message: str) -> bytes:
    body = (message + "\n").encode()
    reasons = {407: "Proxy Authentication Required", 501: "Not Implemented", 502: "Bad Gateway"}
    reason = reasons.get(status, "")
    extra = 'Proxy-Authenticate: Basic realm="proxy"\r\n' if status == 407 else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
