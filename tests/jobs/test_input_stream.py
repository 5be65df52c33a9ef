"""Reading the URL list as a stream: pauses on a silent pipe, long lines, FIFOs, stdin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from threadloom.jobs import read_lines
from threadloom.jobs._input import MAX_LINE_BYTES
from threadloom.server import FaultServer
from threadloom.store import open_store


def test_lines_without_endings_and_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"http://a/1\r\n\nhttp://a/2\nhttp://a/3")
    assert [line for line in read_lines(path) if line is not None] == [
        b"http://a/1\r",
        b"",
        b"http://a/2",
        b"http://a/3",
    ]


def test_a_huge_line_is_cut_and_the_lines_around_it_survive(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    with path.open("wb") as handle:
        handle.write(b"http://a/before\n")
        handle.write(b"a" * 5_000_000 + b"\n")
        handle.write(b"http://a/after\n")
    lines = [line for line in read_lines(path) if line is not None]
    assert [len(line) for line in lines] == [15, MAX_LINE_BYTES, 14]
    with open_store(tmp_path / "s.db") as store:
        result = store.add_urls(lines)
        assert (result.added, result.invalid) == (2, 1)
        (bad,) = [row for row in store.export() if row["state"] == "invalid"]
        assert "longer than" in str(bad["error"])
        assert len(str(bad["url"])) < 10_000, "the stored key is bounded"


def test_every_long_line_is_cut_wherever_the_reads_split_it(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    long_line = b"x" * 50_000
    path.write_bytes(b"http://a/before\n" + long_line + b"\nhttp://a/after\n" + long_line)
    lines = [line for line in read_lines(path) if line is not None]
    assert [len(line) for line in lines] == [15, MAX_LINE_BYTES, 14, MAX_LINE_BYTES]


def test_a_silent_pipe_yields_pauses_and_its_lines_are_committed_meanwhile(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    writer_done = threading.Event()

    def write_then_stay_silent() -> None:
        with fifo.open("wb") as handle:
            handle.write(b"http://a/1\n")
            handle.flush()
            writer_done.wait(10)

    threading.Thread(target=write_then_stay_silent, daemon=True).start()
    with open_store(tmp_path / "s.db") as store:
        seen: list[bytes | None] = []
        pending_after_pause = -1

        def lines() -> Iterator[bytes | None]:
            nonlocal pending_after_pause
            for line in read_lines(fifo, pause=0.05):
                seen.append(line)
                if line is None and len(seen) > 12 and pending_after_pause < 0:
                    pending_after_pause = store.count_pending(True)
                    writer_done.set()
                yield line

        store.add_urls(lines(), max_delay=0.2)
    assert seen[0] == b"http://a/1"
    assert None in seen
    assert pending_after_pause == 1, "the line stayed uncommitted while the pipe was silent"


def test_fetch_from_a_silent_stdin_fetches_at_once_and_ctrl_c_exits_cleanly(
    tmp_path: Path, server: FaultServer
) -> None:
    store = tmp_path / "o.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "threadloom", "fetch", "-q", "-o", str(store), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdin is not None
        process.stdin.write(f"{server.url('/docs/1.xml')}\n".encode())
        process.stdin.flush()  # and stays open, silent
        deadline = time.monotonic() + 20
        done = 0
        while time.monotonic() < deadline and done == 0:
            time.sleep(0.1)
            if store.exists():
                with open_store(store, readonly=True) as view:
                    done = view.counts().done
        assert done == 1, "the URL was not fetched and stored while stdin stayed open"
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, output
    assert b"Fatal Python error" not in output
