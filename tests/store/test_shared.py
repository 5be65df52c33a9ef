"""A store opened shared (``open_store(..., shared=True)``): one more writer beside the
process that holds it, as the worker processes of ``fetch --processes`` are; and the
shard queries (`shard_todo`, `shard_tally`) those workers and their client rely on."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from threadloom.store import (
    Outcome,
    State,
    StoreError,
    open_store,
    shard_tally,
    shard_todo,
)
from threadloom.store._directory import TEMP_PREFIX

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX lock files")


def _body(n: int) -> bytes:
    return f"<doc n='{n}'>{'x' * (n % 700)}</doc>".encode()


@pytest.mark.parametrize("name", ["s.db", "out/"])
def test_a_shared_open_needs_a_holder(tmp_path: Path, name: str) -> None:
    path = f"{tmp_path}/{name}"
    open_store(path).close()
    with pytest.raises(StoreError, match="a shared writer joins a running fetch only"):
        open_store(path, shared=True)
    with open_store(path) as holder:
        holder.add_urls(["http://a/1"])
        shared = open_store(path, shared=True)
        try:
            shared.record(Outcome("http://a/1", State.DONE, 200, b"one", 1))
            shared.flush()
        finally:
            shared.close()
        assert holder.read_body("http://a/1") == b"one"
        # The holder still holds its lock: a second ordinary writer is refused.
        with pytest.raises(StoreError):
            open_store(path)


def test_a_missing_store_is_not_created_and_jsonl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_store(tmp_path / "none.db", shared=True)
    assert not (tmp_path / "none.db").exists()
    with open_store(tmp_path / "s.jsonl") as holder:
        assert holder.kind == "jsonl"
        with pytest.raises(ValueError, match="only a SQLite or directory store"):
            open_store(tmp_path / "s.jsonl", shared=True)


def test_a_shared_directory_store_leaves_the_others_files_in_progress(tmp_path: Path) -> None:
    with open_store(f"{tmp_path}/out/") as holder:
        in_progress = Path(holder.location) / f"{TEMP_PREFIX}99999-0"
        in_progress.write_bytes(b"half a body")
        open_store(f"{tmp_path}/out/", shared=True).close()
        assert in_progress.read_bytes() == b"half a body"


_WRITER = textwrap.dedent(
    """
    import sys
    from threadloom.store import Outcome, State, open_store

    path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    def body(n):
        return f"<doc n='{n}'>{'x' * (n % 700)}</doc>".encode()
    store = open_store(path, shared=True, max_batch=64)
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(first, first + count):
        store.record(Outcome(f"http://a/{n}", State.DONE, 200, body(n), 1))
    store.close()
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["s.db", "out/"])
def test_processes_write_one_store_at_once(tmp_path: Path, name: str) -> None:
    # Two worker processes and the holder record disjoint URLs at the same time, in
    # small transactions so that they contend: every outcome lands, with its body.
    path = f"{tmp_path}/{name}"
    urls = [f"http://a/{n}" for n in range(1500)]
    with open_store(path) as holder:
        holder.add_urls(urls)
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, path, str(first), "500"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for first in (500, 1000)
        ]
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for n in range(500):
            holder.record(Outcome(urls[n], State.DONE, 200, _body(n), 1))
        holder.flush()
        for worker in workers:
            assert worker.wait(30) == 0
        counts = holder.counts()
        assert (counts.done, counts.pending) == (1500, 0)
        for n in range(0, 1500, 7):
            assert holder.read_body(urls[n]) == _body(n)
        exported = {row["url"]: row["sha256"] for row in holder.export()}
        assert exported[urls[1499]] == hashlib.sha256(_body(1499)).hexdigest()


def test_shard_todo_and_tally(tmp_path: Path) -> None:
    urls = [f"http://a/{n}" for n in range(8)]
    with open_store(tmp_path / "s.db") as store:
        store.add_urls(urls)
        # Before the shard was cut: 0 done, 1 failed (a failure of an earlier run).
        store.record(Outcome(urls[0], State.DONE, 200, b"old", 1, fetched_at=1000.0))
        store.record(Outcome(urls[1], State.FAILED, 500, None, 1, error="x", fetched_at=1000.0))
        since = time.time()
        # Recorded by the shard (an attempt before a worker died): 2 done, 3 failed.
        store.record(Outcome(urls[2], State.DONE, 200, b"12345", 1))
        store.record(Outcome(urls[3], State.FAILED, 404, None, 1, error="HTTP 404"))
        store.flush()
        shard = [urls[7], urls[1], urls[2], urls[3], urls[4], "http://elsewhere/"]
        todo = shard_todo(store, shard, since)
        # Still to do: pending, or failed before the cut; in input order.
        assert [record.url for record in todo] == [urls[1], urls[4], urls[7]]
        assert [record.state for record in todo] == [State.FAILED, State.PENDING, State.PENDING]
        assert todo[0].attempts == 1
        tally = shard_tally(store, shard, since)
        assert (tally.done, tally.failed, tally.bytes) == (1, 1, 5)
        # A shard longer than one statement can bind is cut into several.
        many = [f"http://b/{n}" for n in range(40_000)]
        store.add_urls(many)
        assert len(shard_todo(store, many, since)) == 40_000
        assert shard_tally(store, many, since).done == 0
