"""``HttpClient.submit``: the CurlMulti driver's own behaviour (the fault routes run
through it in test_transport_faults.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, wait

import pytest

from threadloom.server import FaultServer, document
from threadloom.transport import (
    HttpClient,
    HttpStatusError,
    InvalidUrl,
    Response,
    TransportOptions,
    _multi,
)
from threadloom.transport._exchange import request_url
from threadloom.transport._handle import Handle


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


class Injected(Exception):
    """A failure the driver has no handling for (not a TransportError)."""


@pytest.mark.parametrize("stage", ["start", "finish"])
def test_an_unexpected_error_fails_only_its_own_request(
    server: FaultServer, options: TransportOptions, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    bad = server.document_url(5)
    if stage == "start":
        begin = Handle.begin

        def failing_begin(handle: Handle, url: str | bytes, headers: Sequence[str] = ()) -> None:
            if url == request_url(bad):
                raise Injected(stage)
            begin(handle, url, headers)

        monkeypatch.setattr(Handle, "begin", failing_begin)
    else:
        build = _multi.build_response

        def failing_build(url: str, handle: Handle, raise_for_status: bool) -> Response:
            if url == bad:
                raise Injected(stage)
            return build(url, handle, raise_for_status)

        monkeypatch.setattr(_multi, "build_response", failing_build)
    with HttpClient(options, max_transfers=2) as http:
        futures = [http.submit(server.document_url(n)) for n in range(10)]
        _, not_done = wait(futures, timeout=30)
        assert not not_done
        with pytest.raises(Injected, match=stage):
            futures[5].result()
        others = futures[:5] + futures[6:]
        assert [f.result().body for f in others] == [document(n, 11) for n in range(10) if n != 5]
        later = http.submit(server.document_url(6))
        assert later.result(timeout=10).body == document(6, 11)


def test_a_failed_driver_fails_every_outstanding_future(
    server: FaultServer, options: TransportOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_stalled_now(handle: Handle, dlnow: int) -> bool:
        raise Injected("sweep")

    # The stall sweep runs on the driver thread outside any one request's handling.
    monkeypatch.setattr(Handle, "stalled_now", failing_stalled_now)
    with HttpClient(options, max_transfers=1) as http:
        running = http.submit(server.url("/delay?ms=5000"))
        waiting = http.submit(server.document_url(1))
        for future, message in ((running, "in flight"), (waiting, "is closed")):
            with pytest.raises(RuntimeError, match=message) as caught:
                future.result(timeout=10)
            assert isinstance(caught.value.__cause__, Injected)
        with pytest.raises(RuntimeError, match="closed"):
            http.submit(server.document_url(2))


def test_then_turns_the_response_into_the_result(server: FaultServer, client: HttpClient) -> None:
    threads: list[str] = []

    def size(response: Response) -> int:
        threads.append(threading.current_thread().name)
        return len(response.body)

    assert client.submit(server.document_url(5), then=size).result(timeout=10) == len(
        document(5, 11)
    )
    assert threads == ["threadloom-http"]


def test_what_then_raises_fails_the_future(server: FaultServer, client: HttpClient) -> None:
    def refuse(response: Response) -> None:
        raise ValueError(f"no thanks: {response.status}")

    with pytest.raises(ValueError, match="no thanks: 200"):
        client.submit(server.document_url(6), then=refuse).result(timeout=10)
    # The driver goes on with later requests.
    assert client.submit(server.document_url(7)).result(timeout=10).status == 200


def test_then_is_not_called_for_a_failed_request(server: FaultServer, client: HttpClient) -> None:
    called: list[Response] = []
    future = client.submit(server.url("/status/404"), then=called.append)
    with pytest.raises(HttpStatusError):
        future.result(timeout=10)
    assert called == []


def test_a_request_submitted_from_a_done_callback_starts_at_once(
    server: FaultServer, client: HttpClient
) -> None:
    # The driver thread submits to itself without a wake-up byte; it must still start
    # the request in its next loop instead of sleeping in poll for up to 100 ms each.
    finished = threading.Event()
    count = [0]

    def chain(future: Future[Response]) -> None:
        count[0] += 1
        if count[0] == 20:
            finished.set()
        else:
            client.submit(server.document_url(count[0])).add_done_callback(chain)

    started = time.monotonic()
    client.submit(server.document_url(0)).add_done_callback(chain)
    assert finished.wait(10)
    assert time.monotonic() - started < 1.0, "chained requests waited for the poll timeout"


def test_a_request_that_fails_to_start_lets_callbacks_and_others_go_on(
    server: FaultServer, client: HttpClient
) -> None:
    # pycurl refuses a URL with a NUL: the request fails while starting, on the driver
    # thread, with nothing in flight. A done-callback that submits there (no wake-up
    # byte) and a later submit from this thread must both still be served.
    chained: list[Future[Response]] = []
    bad = client.submit(server.document_url(0) + "\x00")
    bad.add_done_callback(lambda _: chained.append(client.submit(server.document_url(1))))
    assert bad.exception(timeout=5) is not None
    assert chained[0].result(timeout=5).status == 200
    assert client.submit(server.document_url(2)).result(timeout=5).status == 200


@pytest.mark.parametrize("driver_first", [False, True], ids=["files-first", "driver-first"])
def test_sockets_numbered_past_fd_setsize_are_watched(
    server: FaultServer, options: TransportOptions, driver_first: bool
) -> None:
    """In a process with over 1024 files open, libcurl's sockets get numbers that
    curl_multi_fdset leaves out. Unwatched, each such transfer moved only on the driver's
    100 ms safety timer (40 requests one after another took 2.8 s); watched, they
    move when data arrives. Both orders: the files opened before the transfer thread
    started, or after (its own sockets are then low). The bound below is for that
    stall, not a speed target."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _multi._FD_SETSIZE + 200
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"this process may open only {hard} files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held: list[int] = []
    try:
        with HttpClient(options, max_transfers=2) as http:
            if driver_first:
                assert http.submit(server.document_url(99)).result(timeout=30).status == 200
                # End that connection (a reset) so its low socket number is free to be
                # taken by the held files: the next connection's socket is numbered past.
                http.submit(server.url("/reset")).exception(timeout=30)
            held.extend(os.open(os.devnull, os.O_RDONLY) for _ in range(_multi._FD_SETSIZE + 50))
            started = time.monotonic()
            for n in range(40):
                assert http.submit(server.document_url(n)).result(timeout=30).status == 200
            elapsed = time.monotonic() - started
    finally:
        for fd in held:
            os.close(fd)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert elapsed < 2.0, f"40 requests took {elapsed:.2f} s: the safety timer moved them"
