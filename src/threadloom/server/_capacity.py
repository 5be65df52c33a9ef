"""``/capacity/{c}/{name}``: a server part that can answer ``c`` requests at a time.

It models what adaptive concurrency has to find (issue 16's ``--auto-throttle``): up to
``c`` requests in flight each is answered after ``base`` ms; every request over ``c``
adds ``base`` ms to the answer of the requests that arrive while it is in flight (a
queue forming), and over ``2c`` a request is refused at once with ``503`` and a
``Retry-After``. Requests are counted per ``name``, so one server can model several hosts
of different capacities.
"""

from __future__ import annotations

import re
import threading

from threadloom.server._exchange import BadRequest, Exchange, Reply, text_reply

CAPACITY_PATH = re.compile(r"/capacity/(\d+)/([A-Za-z0-9_.-]{1,64})")


class CapacityRoutes:
    """The in-flight count of each capacity name, and the route that answers with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._seen: dict[str, list[int]] = {}

    def refused(self, name: str) -> int:
        """How many requests for ``name`` were answered ``503`` so far."""
        with self._lock:
            return self._refused.get(name, 0)

    def in_flight_seen(self, name: str) -> list[int]:
        """The in-flight count (itself included) each accepted request for ``name`` found
        on arrival, in arrival order: how concurrency evolved over the run."""
        with self._lock:
            return list(self._seen.get(name, ()))

    def answer(self, capacity: int, name: str, ex: Exchange) -> Reply:
        """Answer one request for ``/capacity/{capacity}/{name}``."""
        if capacity < 1:
            raise BadRequest("capacity must be >= 1")
        base_ms = ex.int_param("base", 20, maximum=10_000)
        retry_after = ex.int_param("retry_after", 1, maximum=3600)
        with self._lock:
            now = self._in_flight.get(name, 0) + 1
            if now > 2 * capacity:
                self._refused[name] = self._refused.get(name, 0) + 1
                message = f"{name}: {now - 1} in flight, capacity {capacity}"
                return text_reply(503, message, ("Retry-After", str(retry_after)))
            self._in_flight[name] = now
            self._seen.setdefault(name, []).append(now)
        try:
            over = max(0, now - capacity)
            ex.stopping.wait(base_ms * (1 + over) / 1000)
        finally:
            with self._lock:
                self._in_flight[name] -= 1
        return text_reply(200, f"{name}: answered with {now} in flight, capacity {capacity}")
