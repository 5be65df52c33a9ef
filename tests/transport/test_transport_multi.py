"""``HttpClient.submit``: the CurlMulti driver's own behaviour (the fault routes run
through it in test_transport_faults.py)."""

from __future__ import annotations

import threading
from concurrent.futures import wait

import pytest

from threadloom.server import FaultServer, document
from threadloom.transport import HttpClient, InvalidUrl, TransportOptions


def test_many_transfers_complete_on_one_thread(
    server: FaultServer, options: TransportOptions
) -> None:
    threads: set[str] = set()
    with HttpClient(options) as http:
        futures = [http.submit(server.document_url(n)) for n in range(60)]
        for future in futures:
            future.add_done_callback(lambda _: threads.add(threading.current_thread().name))
        _, not_done = wait(futures, timeout=30)
        assert not not_done
        assert [f.result().body for f in futures] == [document(n, 11) for n in range(60)]
        assert http.handle_count == 0, "no per-thread handle was made"
    assert threads <= {"threadloom-http", threading.current_thread().name}


def test_max_transfers_caps_concurrency(server: FaultServer, options: TransportOptions) -> None:
    with HttpClient(options, max_transfers=3) as http:
        futures = [http.submit(server.url(f"/delay?ms=150&n={n}")) for n in range(9)]
        assert server.wait_for(lambda s: s.in_flight == 3, timeout=10)
        _, not_done = wait(futures, timeout=30)
        assert not not_done
        assert all(f.result().status == 200 for f in futures)
        assert server.statistics().max_in_flight == 3


def test_invalid_url_fails_the_future_without_io(client: HttpClient) -> None:
    future = client.submit("ftp://example.invalid/x")
    with pytest.raises(InvalidUrl, match="unsupported scheme ftp://"):
        future.result(timeout=0)


def test_close_cancels_waiting_and_aborts_running(
    server: FaultServer, options: TransportOptions
) -> None:
    http = HttpClient(options, max_transfers=1)
    running = http.submit(server.url("/delay?ms=5000"))
    waiting = http.submit(server.document_url(1))
    assert server.wait_for(lambda s: s.in_flight == 1, timeout=10)
    http.close()
    assert waiting.cancelled()
    with pytest.raises(RuntimeError, match="closed while the request was in flight"):
        running.result(timeout=5)
    with pytest.raises(RuntimeError, match="closed"):
        http.submit(server.document_url(2))


def test_cancel_before_start(server: FaultServer, options: TransportOptions) -> None:
    with HttpClient(options, max_transfers=1) as http:
        first = http.submit(server.url("/delay?ms=300"))
        second = http.submit(server.document_url(3))
        assert second.cancel()
        assert first.result(timeout=10).status == 200
        third = http.submit(server.document_url(4))
        assert third.result(timeout=10).body == document(4, 11)


def test_max_transfers_is_validated() -> None:
    with pytest.raises(ValueError, match="max_transfers"):
        HttpClient(max_transfers=0)
