"""``/capacity/{c}/{name}``: the server part that answers ``c`` requests at a time."""

from __future__ import annotations

import http.client
import threading
import time

from threadloom.server import FaultServer


def get(server: FaultServer, path: str) -> tuple[int, str | None, float]:
    """Status, Retry-After and seconds taken of one GET on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        began = time.monotonic()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After"), time.monotonic() - began
    finally:
        conn.close()


def test_requests_over_capacity_slow_everyone_and_over_twice_are_refused() -> None:
    base_ms = 300
    with FaultServer() as server:
        barrier = threading.Barrier(5)
        answers: list[tuple[int, str | None, float]] = []

        def one() -> None:
            barrier.wait(timeout=10)
            answers.append(get(server, f"/capacity/2/a?base={base_ms}&retry_after=7"))

        threads = [threading.Thread(target=one) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        # All five arrive within the first answer's 300 ms: four are taken (two over
        # capacity, each slower), the fifth finds 2c in flight and is refused.
        assert sorted(server.capacity.in_flight_seen("a")) == [1, 2, 3, 4]
        assert server.capacity.refused("a") == 1
        assert sorted(status for status, _, _ in answers) == [200, 200, 200, 200, 503]
        assert [after for status, after, _ in answers if status == 503] == ["7"]
        slowest = max(seconds for status, _, seconds in answers if status == 200)
        assert slowest >= 3 * base_ms / 1000 * 0.95  # the 4th waited base x (1 + 2 over)
        # Names are counted apart.
        assert get(server, "/capacity/1/b?base=1")[0] == 200
        assert server.capacity.in_flight_seen("b") == [1]


def test_a_zero_capacity_is_a_bad_request() -> None:
    with FaultServer() as server:
        status, _, _ = get(server, "/capacity/0/a")
        assert status == 400
