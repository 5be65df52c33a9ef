"""The writer thread: batching by count and time, flush, backpressure, errors never lost,
close semantics, and many recording threads at once."""

from __future__ import annotations

import ctypes
import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from threadloom.store import Outcome, State, StoreClosedError, StoreWriteError, open_store
from threadloom.store._writer import BatchWriter


class Collector:
    """A commit function that keeps the batches it was given (optionally gated)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = gate
        self.committed = threading.Event()
        self.entered = threading.Event()

    def __call__(self, batch: list[int]) -> None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if -1 in batch:
            raise OSError("disk full")
        self.batches.append(list(batch))
        self.committed.set()


def test_batches_by_count_and_flush_commits_the_rest() -> None:
    commit = Collector()
    writer = BatchWriter(commit, max_batch=10, max_delay=60)
    for i in range(25):
        writer.put(i)
    writer.flush(timeout=10)
    assert commit.batches == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    stats = writer.statistics()
    assert (stats.committed, stats.batches) == (25, 3)
    writer.close()


def test_batches_by_time_without_flush() -> None:
    commit = Collector()
    writer = BatchWriter(commit, max_batch=1000, max_delay=0.05)
    for i in range(3):
        writer.put(i)
    assert commit.committed.wait(10)
    assert commit.batches == [[0, 1, 2]]
    writer.close()


def test_full_queue_blocks_put_until_timeout() -> None:
    gate = threading.Event()
    commit = Collector(gate)
    writer = BatchWriter(commit, max_batch=1, max_delay=0, max_queued=2)
    writer.put(0)
    assert commit.entered.wait(10)  # the writer holds item 0 in its commit
    writer.put(1)
    writer.put(2)
    with pytest.raises(TimeoutError):
        writer.put(3, timeout=0.05)
    gate.set()
    writer.put(3, timeout=10)
    writer.close()
    assert [b[0] for b in commit.batches] == [0, 1, 2, 3]


def test_commit_error_surfaces_on_next_call_and_close_reports_it_once() -> None:
    commit = Collector()
    writer = BatchWriter(commit, max_batch=100, max_delay=60)
    writer.put(-1)
    with pytest.raises(StoreWriteError, match="disk full") as info:
        writer.flush(timeout=10)
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(StoreWriteError):
        writer.put(1)
    writer.close()  # already reported: close does not raise it again
    assert writer.closed


def test_unreported_error_is_raised_by_close() -> None:
    commit = Collector()
    writer = BatchWriter(commit, max_batch=100, max_delay=60)
    writer.put(-1)
    with pytest.raises(StoreWriteError, match="disk full"):
        writer.close()
    writer.close()
    with pytest.raises(StoreClosedError):
        writer.put(1)


def test_close_cut_short_is_finished_by_the_next_call() -> None:
    gate = threading.Event()
    commit = Collector(gate)
    writer = BatchWriter(commit, max_batch=100, max_delay=0)
    writer.put(1)
    assert commit.entered.wait(10)
    with pytest.raises(TimeoutError):
        writer.close(timeout=0.05)  # as if a KeyboardInterrupt had cut it short
    closed_after_timeout = writer.closed
    gate.set()
    writer.close(timeout=10)
    assert (closed_after_timeout, writer.closed) == (False, True)
    assert commit.batches == [[1]]


def test_writer_thread_is_named() -> None:
    names: list[str] = []
    writer: BatchWriter[int] = BatchWriter(
        lambda batch: names.append(threading.current_thread().name), name="w-1"
    )
    writer.put(1)
    writer.close()
    assert names == ["w-1"]


def test_store_write_error_surfaces_and_uncommitted_outcomes_stay_pending(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_store(path, max_delay=60)
    store.add_urls(["http://a/1", "http://a/2"])
    store.record(Outcome("http://a/1", State.DONE, body=b"one"))
    store.flush()
    # Another connection breaks the schema under the writer: a real SQLite failure.
    other = sqlite3.connect(path)
    other.execute("DROP TABLE bodies")
    other.commit()
    other.close()
    store.record(Outcome("http://a/2", State.DONE, body=b"two"))
    with pytest.raises(StoreWriteError, match="no such table") as info:
        store.flush()
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(StoreWriteError):
        store.record(Outcome("http://a/2", State.DONE, body=b"two"))
    store.close()
    with open_store(path, readonly=True) as reopened:
        assert [r.url for r in reopened.pending()] == ["http://a/2"]


@pytest.mark.parametrize("suffix", ["s.db", "d/", "s.jsonl"])
def test_eight_threads_record_concurrently(tmp_path: Path, suffix: str) -> None:
    threads, per_thread = 8, 300
    urls = [f"http://h{i % 5}/{i}" for i in range(threads * per_thread)]
    with open_store(f"{tmp_path}/{suffix}", max_batch=64) as store:
        store.add_urls(urls)
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def work(part: list[str]) -> None:
            try:
                barrier.wait(10)
                for url in part:
                    store.record(Outcome(url, State.DONE, 200, url.encode()))
            except BaseException as exc:
                errors.append(exc)

        workers = [
            threading.Thread(target=work, args=(urls[n::threads],), name=f"rec-{n}")
            for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert errors == []
        store.flush()
        counts = store.counts()
        assert (counts.total, counts.done, counts.pending) == (len(urls), len(urls), 0)
        assert counts.bytes == sum(len(u) for u in urls)
        rows = list(store.export())
        assert [row["url"] for row in rows] == urls
        for row in rows[::97]:
            url = row["url"]
            assert isinstance(url, str)
            assert row["sha256"] == hashlib.sha256(url.encode()).hexdigest()
            assert store.read_body(url) == url.encode()
        assert store.writer_statistics().batches < len(urls)


class _Killed(BaseException):
    """Raised into the writer thread from outside, so it dies without a commit failing."""


def test_flush_raises_when_the_writer_thread_died_without_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    commit = Collector()
    writer = BatchWriter(commit, max_batch=100, max_delay=60, name="w-killed")
    writer.put(1)
    writer.flush()
    # The writer is past its commit now (idle, or on its way there): an asynchronous
    # exception raised into it ends the thread outside a commit, so no error is recorded.
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    (thread,) = [t for t in threading.enumerate() if t.name == "w-killed"]
    assert thread.ident is not None
    hit = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(_Killed)
    )
    assert hit == 1
    writer.put(2)  # wakes the writer, which then dies
    # Whether the marker is queued before or after the thread is gone, flush must not
    # report that item 2 was committed.
    with pytest.raises(StoreClosedError):
        writer.flush(timeout=10)
    thread.join(10)
    assert len(died) == 1
    assert isinstance(died[0], _Killed)
    assert commit.batches == [[1]]
    # put() knows the thread is gone from a flag the thread sets as it exits (not from
    # Thread.is_alive() on every item): an item put now would never be committed.
    with pytest.raises(StoreClosedError, match="gone"):
        writer.put(3)
    writer.close()


def test_a_disk_full_commit_reports_the_real_error(tmp_path: Path) -> None:
    # SQLite rolls back by itself on SQLITE_FULL; a second ROLLBACK used to raise
    # "cannot rollback - no transaction is active" in place of "database or disk is full".
    with open_store(tmp_path / "s.db", max_delay=60) as store:
        store.add_urls(["http://a/1"])
        conn = store._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        store.record(Outcome("http://a/1", State.DONE, body=bytes(1_000_000)))
        with pytest.raises(StoreWriteError, match="full") as info:
            store.flush()
        cause = info.value.__cause__
        assert isinstance(cause, sqlite3.OperationalError)
        assert "full" in str(cause)
        assert not conn.in_transaction


@pytest.mark.parametrize("suffix", ["s.db", "d/", "s.jsonl"])
def test_every_kind_uses_the_writer_settings_it_was_opened_with(
    tmp_path: Path, suffix: str
) -> None:
    urls = [f"http://a/{i}" for i in range(20)]
    with open_store(f"{tmp_path}/{suffix}", max_batch=1, max_delay=60) as store:
        for url in urls:
            store.record(Outcome(url, State.DONE, body=b"x"))
        store.flush()
        # max_batch=1: one transaction per outcome (the default would take them in one or two).
        assert store.writer_statistics().batches == len(urls)
