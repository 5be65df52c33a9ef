"""Request statistics of the fault server, collected under one lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ServerStatistics:
    """A snapshot of what a ``FaultServer`` has seen since it started.

    Attributes:
        requests: requests whose request line and headers were read.
        connections: TCP connections accepted (fewer than ``requests`` when clients
            keep connections alive).
        open_connections: accepted connections not closed yet.
        by_path: requests per URL path (without the query string).
        in_flight: requests being answered right now.
        max_in_flight: the most requests answered at the same time.
        max_in_flight_by_host: the same, per ``Host`` request header value.
        client_aborts: responses cut short because the client closed the connection
            (a write failed, or a stalled response saw the client go away).
        bytes_sent: response body bytes handed to the kernel (headers excluded).
    """

    requests: int = 0
    connections: int = 0
    open_connections: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    max_in_flight_by_host: dict[str, int] = field(default_factory=dict)
    client_aborts: int = 0
    bytes_sent: int = 0


class StatisticsCollector:
    """Mutable counters behind ``ServerStatistics``; every method is thread-safe."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._requests = 0
        self._connections = 0
        self._open_connections = 0
        self._by_path: dict[str, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._in_flight_by_host: dict[str, int] = {}
        self._max_in_flight_by_host: dict[str, int] = {}
        self._client_aborts = 0
        self._bytes_sent = 0

    def connection_accepted(self) -> None:
        with self._changed:
            self._connections += 1
            self._open_connections += 1
            self._changed.notify_all()

    def connection_closed(self) -> None:
        with self._changed:
            self._open_connections -= 1
            self._changed.notify_all()

    def request_started(self, path: str, host: str) -> None:
        with self._changed:
            self._requests += 1
            self._by_path[path] = self._by_path.get(path, 0) + 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            now = self._in_flight_by_host.get(host, 0) + 1
            self._in_flight_by_host[host] = now
            if now > self._max_in_flight_by_host.get(host, 0):
                self._max_in_flight_by_host[host] = now
            self._changed.notify_all()

    def request_finished(self, host: str) -> None:
        with self._changed:
            self._in_flight -= 1
            self._in_flight_by_host[host] -= 1
            self._changed.notify_all()

    def client_aborted(self) -> None:
        with self._changed:
            self._client_aborts += 1
            self._changed.notify_all()

    def sent(self, nbytes: int) -> None:
        # Not notified: waiting on byte counts is not a use case, and streaming routes
        # call this per chunk.
        with self._changed:
            self._bytes_sent += nbytes

    def snapshot(self) -> ServerStatistics:
        with self._changed:
            return self._snapshot_locked()

    def _snapshot_locked(self) -> ServerStatistics:
        return ServerStatistics(
            requests=self._requests,
            connections=self._connections,
            open_connections=self._open_connections,
            by_path=dict(self._by_path),
            in_flight=self._in_flight,
            max_in_flight=self._max_in_flight,
            max_in_flight_by_host=dict(self._max_in_flight_by_host),
            client_aborts=self._client_aborts,
            bytes_sent=self._bytes_sent,
        )

    def wait_for(self, predicate: Callable[[ServerStatistics], bool], timeout: float) -> bool:
        """Block until ``predicate(snapshot)`` is true or ``timeout`` seconds pass.

        Returns the predicate's last value. Re-evaluated on every counter change
        (except ``bytes_sent``, which is re-read on those changes too).
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if predicate(self._snapshot_locked()):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
