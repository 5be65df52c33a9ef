"""``HttpClient.attach``: a `TransferFeed` the transfer thread draws requests from and
hands each wake-up's results to, as one list (the fetch job's plain path)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

import pytest

from threadloom.server import FaultServer, document
from threadloom.transport import (
    FeedResult,
    HttpClient,
    HttpStatusError,
    InvalidUrl,
    Response,
    TransportOptions,
)


class Feed:
    """A feed over a fixed list of (url, tag) pairs, recording what the driver did."""

    def __init__(self, requests: Sequence[tuple[str, object]], *, fail_take: bool = False):
        self.todo = deque(requests)
        self.lock = threading.Lock()
        self.results: dict[object, Response | BaseException] = {}
        self.batches: list[int] = []
        self.rooms: list[int] = []
        self.threads: set[str] = set()
        self.in_flight = self.most_in_flight = 0
        self.fail_take = fail_take
        self.all_done = threading.Event()
        self.gone = threading.Event()
        self.detached_with: list[BaseException | None] = []
        self.expected = len(requests)

    def add(self, requests: Sequence[tuple[str, object]]) -> None:
        with self.lock:
            self.todo.extend(requests)
            self.expected += len(requests)

    def take(self, room: int) -> Sequence[tuple[str, object]]:
        self.threads.add(threading.current_thread().name)
        if self.fail_take:
            raise ValueError("feed broke")
        self.rooms.append(room)
        with self.lock:
            out = [self.todo.popleft() for _ in range(min(room, len(self.todo)))]
        self.in_flight += len(out)
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return out

    def finished(self, results: list[FeedResult]) -> None:
        self.threads.add(threading.current_thread().name)
        self.batches.append(len(results))
        self.in_flight -= len(results)
        for tag, result in results:
            self.results[tag] = result
        if len(self.results) == self.expected:
            self.all_done.set()

    def detached(self, error: BaseException | None) -> None:
        self.detached_with.append(error)
        self.gone.set()


def test_a_feed_gets_every_result_in_batches_on_the_transfer_thread(
    server: FaultServer, options: TransportOptions
) -> None:
    feed = Feed([(server.document_url(n), n) for n in range(40)])
    with HttpClient(options, max_transfers=4) as http:
        link = http.attach(feed)
        assert feed.all_done.wait(30)
        assert link.detach(timeout=5)
    assert {tag: r.body for tag, r in feed.results.items()} == {  # type: ignore[union-attr]
        n: document(n, 11) for n in range(40)
    }
    assert feed.threads == {"threadloom-http"}
    assert sum(feed.batches) == 40
    assert feed.most_in_flight <= 4
    assert max(feed.rooms) <= 4
    assert feed.detached_with == [None]


def test_failures_reach_the_feed_as_submit_would_raise_them(
    server: FaultServer, options: TransportOptions
) -> None:
    feed = Feed([("ftp://example.invalid/x", "ftp"), (server.url("/status/404"), "404")])
    with HttpClient(options) as http:
        http.attach(feed)
        assert feed.all_done.wait(30)
        direct = http.submit(server.url("/status/404"))
        with pytest.raises(HttpStatusError) as raised:
            direct.result(timeout=30)
    assert isinstance(feed.results["ftp"], InvalidUrl)
    fed = feed.results["404"]
    assert isinstance(fed, HttpStatusError)
    assert fed.reason == raised.value.reason


def test_wake_starts_requests_added_later(server: FaultServer, options: TransportOptions) -> None:
    feed = Feed([])
    with HttpClient(options) as http:
        link = http.attach(feed)
        feed.add([(server.document_url(n), n) for n in range(5)])
        link.wake()
        assert feed.all_done.wait(30)
    assert sorted(feed.results) == list(range(5))  # type: ignore[type-var]


def test_detach_aborts_transfers_in_flight_and_drops_their_results(
    server: FaultServer, options: TransportOptions
) -> None:
    feed = Feed([(server.url("/delay?ms=5000"), "slow")])
    with HttpClient(options) as http:
        link = http.attach(feed)
        assert server.wait_for(lambda s: s.in_flight == 1, timeout=10)
        assert link.detach(timeout=5)
        assert link.detached
        assert feed.results == {}
        # The driver carries on for submitted requests, and takes another feed.
        assert http.submit(server.document_url(2)).result(timeout=10).body == document(2, 11)
        other = Feed([(server.document_url(3), 3)])
        http.attach(other)
        assert other.all_done.wait(30)
    assert feed.detached_with == [None]


def test_one_feed_at_a_time(options: TransportOptions) -> None:
    with HttpClient(options) as http:
        http.attach(Feed([]))
        with pytest.raises(RuntimeError, match="attached already"):
            http.attach(Feed([]))


def test_closing_the_client_detaches_the_feed_with_an_error(
    server: FaultServer, options: TransportOptions
) -> None:
    feed = Feed([(server.url("/delay?ms=5000"), "slow")])
    http = HttpClient(options)
    http.attach(feed)
    assert server.wait_for(lambda s: s.in_flight == 1, timeout=10)
    http.close()
    assert feed.gone.wait(5)
    [error] = feed.detached_with
    assert isinstance(error, RuntimeError)
    assert "closed" in str(error)
    with pytest.raises(RuntimeError, match="closed"):
        http.attach(Feed([]))


def test_a_feed_that_raises_is_detached_and_the_driver_goes_on(
    server: FaultServer, options: TransportOptions, caplog: pytest.LogCaptureFixture
) -> None:
    feed = Feed([(server.document_url(1), 1)], fail_take=True)
    with HttpClient(options) as http:
        http.attach(feed)
        assert feed.gone.wait(10)
        assert http.submit(server.document_url(2)).result(timeout=10).body == document(2, 11)
    [error] = feed.detached_with
    assert isinstance(error, ValueError)
    assert "transfer feed" in caplog.text
