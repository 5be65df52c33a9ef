"""A plain fetch run (no --process, --robots, --auto-throttle or trace) goes through
`DirectFetch`, not a pipeline: per-host limits, rates, retries, Retry-After, progress
hooks and Ctrl-C hold there too. Measured from the server's request log, since such a
run records no spans."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadloom.jobs import FetchJob, FetchOptions
from threadloom.server import FaultServer
from threadloom.store import open_store


def arrivals(server: FaultServer, prefix: str) -> list[float]:
    return sorted(r.time for r in server.request_log() if r.target.startswith(prefix))


def most_within(times: list[float], window: float) -> int:
    return max(sum(t <= other < t + window for other in times) for t in times)


def test_the_per_host_limit_holds_and_is_reached(tmp_path: Path) -> None:
    with FaultServer(log_requests=True) as slow:
        urls = [slow.url(f"/delay?ms=300&n={n}") for n in range(12)]
        options = FetchOptions(jobs=8, per_host=2, retries=0, timeout=5.0)
        result = FetchJob(tmp_path / "s.db", options, progress="quiet").run(
            url.encode() for url in urls
        )
        starts = arrivals(slow, "/delay")
    assert result.summary.counts["done"] == 12
    assert result.trace is None
    # Each answer takes 0.3 s: with 2 at a time, no 0.25 s holds a third start.
    assert most_within(starts, 0.25) == 2, starts


def test_the_rate_spaces_starts(tmp_path: Path) -> None:
    with FaultServer(documents=8, log_requests=True) as server:
        urls = [server.url(f"/docs/{n}.xml") for n in range(8)]
        options = FetchOptions(jobs=8, per_host=8, rate=20.0, retries=0)
        result = FetchJob(tmp_path / "s.db", options, progress="quiet").run(
            url.encode() for url in urls
        )
        starts = arrivals(server, "/docs/")
    assert result.summary.counts["done"] == 8
    assert starts[-1] - starts[0] >= 7 * 0.05 - 0.05
    assert most_within(starts, 0.1) <= 3, starts


def test_retries_back_off_and_honour_retry_after(tmp_path: Path) -> None:
    with FaultServer(documents=4, log_requests=True) as server:
        flaky = server.url("/flaky/plain-503?fail=2&code=503")
        asked = server.url("/flaky/plain-429?fail=1&code=429&retry_after=1")
        others = [server.url(f"/docs/{n}.xml") for n in range(4)]
        options = FetchOptions(jobs=2, per_host=2, retries=2, backoff=0.01)
        result = FetchJob(tmp_path / "s.db", options, progress="quiet").run(
            url.encode() for url in [flaky, asked, *others]
        )
        waited = arrivals(server, "/flaky/plain-429")
    assert result.summary.counts["done"] == 6
    with open_store(tmp_path / "s.db", readonly=True) as store:
        flaky_row = store.lookup(flaky)
        assert flaky_row is not None
        assert flaky_row["attempts"] == 3
    assert len(waited) == 2
    assert 0.95 <= waited[1] - waited[0] < 3.0, "Retry-After: 1 asks for 1 s"


def test_on_outcome_is_called_on_the_running_thread_once_per_url(
    tmp_path: Path, server: FaultServer
) -> None:
    calls: list[tuple[bool, int, str]] = []

    def hook(done: bool, size: int) -> None:
        calls.append((done, size, threading.current_thread().name))

    urls = [server.url(f"/docs/{n}.xml") for n in range(30)] + [server.url("/status/404")]
    options = FetchOptions(jobs=4, per_host=4, retries=0)
    runner = threading.Thread(
        target=lambda: FetchJob(tmp_path / "s.db", options, progress="quiet", on_outcome=hook).run(
            url.encode() for url in urls
        ),
        name="runs-the-job",
    )
    runner.start()
    runner.join(60)
    assert not runner.is_alive()
    assert len(calls) == 31
    assert {name for _, _, name in calls} == {"runs-the-job"}
    assert sum(done for done, _, _ in calls) == 30
    assert all(size > 0 for done, size, _ in calls if done)
    assert [size for done, size, _ in calls if not done] == [0]


def test_ctrl_c_does_not_wait_for_a_retry_far_off(
    tmp_path: Path, threadloom_process: Callable[..., Any]
) -> None:
    with FaultServer(documents=50, latency=2.0) as server:
        retried = server.url("/flaky/plain-late?fail=1&code=503&retry_after=30")
        urls = [retried, *(server.url(f"/docs/{n}.xml") for n in range(50))]
        listing = tmp_path / "u.txt"
        listing.write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
        process = threadloom_process(
            "fetch", "-q", "-j", "2", "-o", str(tmp_path / "o.db"), str(listing)
        )
        stopped = process.interrupt(
            lambda: server.wait_for(lambda stats: stats.requests >= 3, timeout=30), grace=10
        )
    assert stopped.returncode == 130, stopped.output
    assert stopped.seconds < 2.0
    with open_store(tmp_path / "o.db", readonly=True) as store:
        row = store.lookup(retried)
        assert row is not None
        assert row["state"] == "pending", "a URL waiting for its retry stays to do"
