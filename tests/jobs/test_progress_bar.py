"""The terminal bar draws the reporter's counts as they are at each redraw, with a total
from the start for a file (estimated, then exact) and an honest one for a pipe."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from threadloom.jobs import read_lines
from threadloom.jobs._counts import Expected
from threadloom.jobs._input import CHUNK_LINES, InputReader, PendingFollower
from threadloom.jobs._progress import ProgressReporter
from threadloom.store import Outcome, State, UrlRecord, open_store


def _drawn(reporter: ProgressReporter) -> str:
    """What the bar would draw now (as rich's refresh thread does, 10 times a second)."""
    progress = reporter._progress
    assert progress is not None
    console = Console(file=io.StringIO(), width=200)
    console.print(progress.get_renderable())
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def test_every_redraw_shows_the_latest_counts_without_a_call_into_rich() -> None:
    with ProgressReporter(None, mode="bar", stream=io.StringIO()) as reporter:
        assert "0/? 0 done 0 failed" in _drawn(reporter)
        for _ in range(99):
            reporter.advance(ok=True, size=1024)
        reporter.advance(ok=False, total=100)
        # A pause after a burst: nothing else is counted, the next redraw is exact.
        drawn = _drawn(reporter)
    assert "100/100 99 done 1 failed" in drawn
    assert "99.0 KiB" in drawn


def test_the_last_drawing_has_the_final_counts() -> None:
    stream = io.StringIO()
    with ProgressReporter(3, mode="bar", stream=stream) as reporter:
        for ok in (True, True, False):
            reporter.advance(ok=ok)
    assert "3/3 2 done 1 failed" in stream.getvalue()


def test_an_estimated_total_is_drawn_as_such_until_it_is_exact() -> None:
    expected: list[Expected | None] = [None]
    with ProgressReporter(lambda: expected[0], mode="bar", stream=io.StringIO()) as reporter:
        assert "0/? 0 done" in _drawn(reporter)
        expected[0] = Expected(20_000, exact=False)
        reporter.advance(ok=True)
        assert "1/~20000 1 done" in _drawn(reporter)
        assert "ETA" in _drawn(reporter)
        expected[0] = Expected(17_000, exact=True)
        assert "1/17000 1 done" in _drawn(reporter)


def test_the_plain_line_shows_the_estimate_too() -> None:
    stream = io.StringIO()
    with ProgressReporter(lambda: Expected(50, exact=False), mode="plain", stream=stream) as bar:
        bar.advance(ok=True)
    assert stream.getvalue().startswith("fetch: 1/~50 (1 done, 0 failed)")


# -- where the total comes from: the input reader and the follower of the store ---------


class _HeldInput:
    """A URL list of known length whose lines after the first ``release_after`` come only
    once ``release`` is set; ``waiting`` is set when the reader asks for the first of
    them (by then the lines before it are committed: the reader adds whole chunks)."""

    def __init__(self, lines: list[bytes], release_after: int) -> None:
        self._lines = lines
        self._release_after = release_after
        self.waiting = threading.Event()
        self.release = threading.Event()

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[bytes]:
        for index, line in enumerate(self._lines):
            if index == self._release_after:
                self.waiting.set()
                assert self.release.wait(30)
            yield line


def _url(n: int) -> bytes:
    return f"http://127.0.0.1:9/docs/{n}.xml".encode()


def test_the_estimate_discounts_blanks_comments_duplicates_and_done_urls(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "s.db") as store:
        # An earlier run: 1,000 URLs, 600 of them done, 400 still to do.
        store.add_urls(_url(n) for n in range(1000))
        for n in range(600):
            store.record(Outcome(url=_url(n).decode(), state=State.DONE, body=b""))
        store.flush()

        # This run's list: the same 1,000 URLs, then 4,000 lines of which one in four is
        # a new URL and the rest blanks, comments and repeats; then 15,000 more alike.
        def tail(start: int, count: int) -> list[bytes]:
            kinds = (
                lambda n: _url(1000 + n),  # new
                lambda n: b"",
                lambda n: b"# note",
                lambda n: _url(n % 1000),  # a repeat of the earlier run's URLs
            )
            return [kinds[n % 4](start + n) for n in range(count)]

        lines = [_url(n) for n in range(1000)] + tail(0, 4000) + tail(4000, 15_000)
        held = _HeldInput(lines, release_after=CHUNK_LINES)
        reader = InputReader(store, held)
        follower = PendingFollower(store, True, reader)
        assert held.waiting.wait(30)
        # 5,000 lines added, 1,000 of them new URLs: 400 + 1,000 + 15,000 * 1/5.
        assert follower.expected() == Expected(400 + 1000 + 3000, exact=False)
        held.release.set()
        assert reader.done.wait(30)
        yielded = sum(1 for item in follower if isinstance(item, UrlRecord))
        assert follower.expected() == Expected(400 + 1000 + 3750, exact=True) == (yielded, True)


def test_the_total_is_exact_from_the_first_url_taken_after_the_input_ends(
    tmp_path: Path,
) -> None:
    # A pass over the store that began while the input was read goes on through the URLs
    # added meanwhile; the total was only set at the next pass, near the end of the run
    # ("17023/?" 11 s into a 13 s run).
    with open_store(tmp_path / "s.db") as store:
        held = _HeldInput([_url(n) for n in range(3 * CHUNK_LINES)], release_after=CHUNK_LINES)
        reader = InputReader(store, iter(held))  # not sized: no estimate, only the total
        follower = PendingFollower(store, True, reader)
        assert held.waiting.wait(30)
        records = iter(follower)
        assert isinstance(next(records), UrlRecord)  # the first pass has begun
        assert follower.expected() is None
        held.release.set()
        assert reader.done.wait(30)
        assert isinstance(next(records), UrlRecord)
        assert follower.expected() == Expected(3 * CHUNK_LINES, exact=True)
        assert 2 + sum(1 for item in records if isinstance(item, UrlRecord)) == 3 * CHUNK_LINES


@pytest.mark.parametrize(
    ("text", "lines"),
    [(b"", 0), (b"a\n", 1), (b"a", 1), (b"a\r\nb\r\n", 2), (b"\n\n\n", 3), (b"a\nb", 2)],
)
def test_a_regular_file_is_counted_as_it_is_read(tmp_path: Path, text: bytes, lines: int) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(text)
    stream = read_lines(path)
    assert stream.count_lines() == lines
    assert len([line for line in stream if line is not None]) == lines


def test_a_large_file_is_counted_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    line = b"http://127.0.0.1:9/" + b"x" * 80 + b"\n"
    count = 3 * (1 << 20) // len(line) + 7  # more than three counting reads
    path.write_bytes(line * count)
    assert read_lines(path).count_lines() == count


def test_a_pipe_has_no_count(tmp_path: Path) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    stream = read_lines(fifo)  # does not open it: that would wait for a writer
    assert not stream.countable
    assert stream.count_lines() is None


def test_a_file_list_gets_an_estimate_once_counted(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_bytes(b"".join(_url(n) + b"\n" for n in range(2 * CHUNK_LINES)))
    with open_store(tmp_path / "s.db") as store:
        reader = InputReader(store, read_lines(path))
        assert reader.done.wait(30)
        assert reader.lines_total == 2 * CHUNK_LINES
        assert reader.expected_todo() == 2 * CHUNK_LINES
