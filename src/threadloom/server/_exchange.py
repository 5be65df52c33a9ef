"""One request/response exchange: what a route reads and the ways it can answer."""

from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from io import BufferedIOBase

from threadloom.server._stats import StatisticsCollector


class BadRequest(Exception):
    """A route's parameters are invalid; answered with 400 and this message."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete response held in memory: status, extra headers and body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = field(default=())
    content_type: str = "text/plain; charset=utf-8"


def text_reply(status: int, message: str, *headers: tuple[str, str]) -> Reply:
    """A short plain-text reply (``message`` plus a newline)."""
    return Reply(status, (message + "\n").encode(), headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Exchange:
    """The parsed request and the connection to answer it on.

    Routes answer exactly once, with ``send`` (a whole ``Reply``) or ``send_head``
    followed by ``write`` calls (streaming). ``close_after`` ends the connection after
    this exchange; ``reset_after`` ends it with a TCP RST instead of a FIN.
    """

    def __init__(
        self,
        *,
        path: str,
        query: dict[str, list[str]],
        request_headers: list[tuple[str, str]],
        keep_alive: bool,
        connection: socket.socket,
        wfile: BufferedIOBase,
        stats: StatisticsCollector,
        stopping: threading.Event,
    ) -> None:
        self.path = path
        self.query = query
        self.request_headers = request_headers
        self.keep_alive = keep_alive
        self.connection = connection
        self.stats = stats
        self.stopping = stopping
        self.reset_requested = False
        self._wfile = wfile

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str:
        """The request header ``name`` (case-insensitive; repeated values joined by ", ")."""
        wanted = name.lower()
        return ", ".join(v for k, v in self.request_headers if k.lower() == wanted)

    def int_param(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        """Query parameter ``name`` as an int in [minimum, maximum]; BadRequest otherwise."""
        raw = self.param(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name}={raw!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise BadRequest(f"{name}={value} is out of range [{minimum}, {maximum}]")
        return value

    def close_after(self) -> None:
        """Close the connection once this exchange ends (sends ``Connection: close``
        if the head has not been sent yet)."""
        self.keep_alive = False

    def reset_after(self) -> None:
        """Close the connection with an RST (SO_LINGER 0) instead of a FIN."""
        self.keep_alive = False
        self.reset_requested = True

    def send_head(
        self,
        status: int,
        headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
        *,
        content_length: int | None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        """Send the status line and headers. ``content_length`` None means the route
        adds its own framing header (``Transfer-Encoding``) or sends no body."""
        lines = [f"HTTP/1.1 {status} {_reason(status)}", "Server: threadloom-faultserver"]
        if content_length is not None:
            lines.append(f"Content-Length: {content_length}")
            lines.append(f"Content-Type: {content_type}")
        lines.extend(f"{name}: {value}" for name, value in headers)
        if not self.keep_alive:
            lines.append("Connection: close")
        self._wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send(self, reply: Reply) -> None:
        """Send a whole reply in one write (head and body together, so a kept-alive
        connection never waits on Nagle's algorithm between them)."""
        no_body = reply.status in (204, 304)
        lines = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}"]
        lines.append("Server: threadloom-faultserver")
        if not no_body:
            lines.append(f"Content-Length: {len(reply.body)}")
            lines.append(f"Content-Type: {reply.content_type}")
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if not self.keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = b"" if no_body else reply.body
        self._wfile.write(head + body)
        self.stats.sent(len(body))

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is, instead of ``send_head``: for routes whose head is
        itself the fault (header lines without end, an interim ``100 Continue`` and no
        response). Raises OSError if the client left."""
        self._wfile.write(data)

    def write(self, data: bytes) -> None:
        """Send body bytes after ``send_head`` (raises OSError if the client left)."""
        self._wfile.write(data)
        self.stats.sent(len(data))

    def wait_for_client_close(self) -> bool:
        """Block until the client closes the connection or the server stops.

        Returns True if the client closed it, False if the server is stopping (its
        stop shuts the socket down, which looks like a close from here). Polls at 50 ms
        so a stop is seen promptly even if the socket gives no sign.
        """
        while not self.stopping.is_set():
            try:
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return not self.stopping.is_set()
            except OSError:
                return not self.stopping.is_set()
            if readable:
                # The client sent more data (a pipelined request) instead of leaving:
                # keep stalling, without spinning on a socket that stays readable.
                self.stopping.wait(0.05)
        return False
