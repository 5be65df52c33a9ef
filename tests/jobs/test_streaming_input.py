"""Input is read while fetching goes on: a slow producer's first URLs are fetched before
its last line arrives, and an interrupted read resumes in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from threadloom.jobs import FetchJob, FetchOptions
from threadloom.server import FaultServer
from threadloom.store import open_store


def test_fetching_starts_before_the_input_ends(tmp_path: Path, server: FaultServer) -> None:
    urls = [server.url(f"/docs/{n}.xml").encode() for n in range(20)]
    fetched_early = threading.Event()
    before = server.statistics().requests

    def slow_producer() -> Iterator[bytes]:
        yield from urls[:5]
        # A producer that pauses (the pause is the input's behaviour, not a test sync)...
        threading.Event().wait(0.7)
        yield urls[5]
        # ...and whose next line only comes once a fetch has happened: the job must not
        # wait for the end of its input to start.
        if server.wait_for(lambda stats: stats.requests > before, timeout=20):
            fetched_early.set()
        yield from urls[6:]

    job = FetchJob(tmp_path / "s.db", FetchOptions(retries=0), progress="quiet")
    result = job.run(slow_producer())
    assert fetched_early.is_set()
    assert result.added is not None
    assert result.added.added == 20
    assert result.summary.counts["done"] == 20


def test_progress_total_becomes_exact(tmp_path: Path, server: FaultServer) -> None:
    lines = [server.url(f"/docs/{n}.xml").encode() for n in range(30)] * 2  # duplicates
    job = FetchJob(tmp_path / "s.db", FetchOptions(retries=0), progress="quiet")
    result = job.run(lines)
    assert result.added is not None
    assert (result.added.added, result.added.duplicates) == (30, 30)
    assert result.summary.finished_this_run == 30


def test_a_second_run_adds_nothing_and_fetches_nothing(tmp_path: Path) -> None:
    with FaultServer(documents=10) as fresh:
        lines = [fresh.url(f"/docs/{n}.xml").encode() for n in range(10)]
        FetchJob(tmp_path / "s.db", FetchOptions(), progress="quiet").run(lines)
        served = fresh.statistics().requests
        again = FetchJob(tmp_path / "s.db", FetchOptions(), progress="quiet").run(lines)
        assert fresh.statistics().requests == served
    assert again.added is not None
    assert again.added.duplicates == 10
    assert again.summary.finished_this_run == 0
    with open_store(tmp_path / "s.db", readonly=True) as opened:
        assert opened.counts().done == 10


def test_an_input_read_error_is_one_line_and_the_rest_is_kept(
    tmp_path: Path, server: FaultServer
) -> None:
    def broken_input() -> Iterator[bytes]:
        yield from (server.url(f"/docs/{n}.xml").encode() for n in range(3))
        raise OSError(5, "Input/output error")

    job = FetchJob(tmp_path / "s.db", FetchOptions(retries=0), progress="quiet")
    result = job.run(broken_input())
    assert result.input_error == "cannot read the input: [Errno 5] Input/output error"
    assert result.summary.counts["done"] == 3
