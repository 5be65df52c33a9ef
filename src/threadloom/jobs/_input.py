"""Reading the URL list while fetching: input streams into the store on a thread of its
own, and the fetch stage follows the store, so a 50-million-line list starts fetching
after its first batch instead of after its last line.
"""

from __future__ import annotations

import io
import os
import select
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from threadloom.core._idle import IDLE
from threadloom.jobs._counts import Expected
from threadloom.store import MAX_URL_LENGTH, AddItem, AddResult, Store, UrlRecord

READ_BYTES: Final = 1 << 16
"""Bytes asked of the file or pipe per read."""

MAX_LINE_BYTES: Final = 4 * MAX_URL_LENGTH + 2
"""A longer line is cut to this many bytes: it cannot be a valid URL (at most 4 UTF-8
bytes per character, plus a CRLF), and the cut line still classifies as too long, so a
line of a gigabyte costs 32 KiB, not a gigabyte, in memory and in the store."""


def read_lines(path: str | Path, *, pause: float = 0.2, max_line: int = MAX_LINE_BYTES) -> UrlLines:
    """Stream the lines of a URL list: a file, a FIFO, or standard input for ``"-"``.

    Yields each line without its ``\\n`` (a line longer than ``max_line`` bytes, by default
    :data:`MAX_LINE_BYTES`, cut to that length), and None each time no input has arrived for
    ``pause`` seconds on a stream still open (a silent pipe), so a consumer can commit what
    it has and check for a stop request; `Store.add_urls` understands those Nones. Reads the
    file descriptor directly, not through ``sys.stdin.buffer``: a reader thread left waiting
    on a silent stdin at exit then holds no lock that interpreter shutdown needs (with
    ``sys.stdin.buffer`` that is a fatal error). Raises OSError for a file that cannot be
    opened or read, when the iteration reaches it.

    The iterator returned can also count the lines of a regular file (or of a regular
    file on standard input) without disturbing the reading: see `UrlLines.count_lines`.
    """
    return UrlLines(path, pause=pause, max_line=max_line)


@runtime_checkable
class CountableInput(Protocol):
    """An input whose lines can be counted in advance for a progress total (`UrlLines`,
    and the rows read from one, `threadloom.jobs._columns.ColumnRows`)."""

    @property
    def countable(self) -> bool:
        """True if `count_lines` can count the lines."""

    def count_lines(self) -> int | None:
        """The number of lines of the input, or None (see `UrlLines.count_lines`)."""


class UrlLines(Iterator[bytes | None]):
    """The lines of a URL list, as :func:`read_lines` streams them (an iterator), plus
    `count_lines` for a progress total.

    Whether the list is a regular file is decided when the object is made (a stat, which
    does not block on a FIFO); for standard input, the position it is at then is where
    counting starts.
    """

    def __init__(
        self, path: str | Path, *, pause: float = 0.2, max_line: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self._pause = pause
        self._max_line = max_line
        self._lines: Iterator[bytes | None] | None = None
        self._countable: tuple[str | int, int] | None = _regular_file(path)

    def __iter__(self) -> UrlLines:
        return self

    def __next__(self) -> bytes | None:
        if self._lines is None:
            self._lines = _stream(self.path, self._pause, self._max_line)
        return next(self._lines)

    @property
    def countable(self) -> bool:
        """True if the list is a regular file whose lines `count_lines` can count."""
        return self._countable is not None

    def count_lines(self) -> int | None:
        """The number of lines the iteration yields, for a regular file: every ``\\n``
        plus a last line without one; None for a pipe, a terminal or a file that cannot
        be read. Reads 1 MiB at a time with ``pread``, so a stream being read meanwhile
        keeps its position (~20 ms for a million 35-byte lines from the page cache).
        A file that grows or shrinks meanwhile is counted as it is when read.
        """
        if self._countable is None:
            return None
        target, offset = self._countable
        try:
            fd = os.open(target, os.O_RDONLY) if isinstance(target, str) else target
        except OSError:
            return None
        try:
            return _count_lines(fd, offset)
        except OSError:
            return None
        finally:
            if isinstance(target, str):
                os.close(fd)


COUNT_BYTES: Final = 1 << 20
"""Bytes counted per read by `UrlLines.count_lines`: large enough that the per-call cost
vanishes, small enough that the counting thread holds the GIL ~0.1 ms at a time."""


def _count_lines(fd: int, offset: int) -> int:
    """Lines from ``offset`` to the end of the regular file ``fd``, without moving it."""
    lines = 0
    last = b"\n"
    while chunk := os.pread(fd, COUNT_BYTES, offset):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
        offset += len(chunk)
    return lines + (last != b"\n")


def _regular_file(path: str | Path) -> tuple[str | int, int] | None:
    """Where to count the lines of ``path``: (its path, 0) for a regular file, (0, the
    current position) for a standard input that is a regular file; None otherwise."""
    try:
        if str(path) != "-":
            return (str(path), 0) if stat.S_ISREG(os.stat(path).st_mode) else None
        fd = sys.stdin.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fd, os.lseek(fd, 0, os.SEEK_CUR)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return None


def _stream(path: str | Path, pause: float, max_line: int) -> Iterator[bytes | None]:
    """The lines of ``path``, as :func:`read_lines` says."""
    own = str(path) != "-"
    if own:
        fd = os.open(path, os.O_RDONLY)
    else:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):
            # A stand-in for stdin with no descriptor (a test runner's BytesIO): read it
            # as it is, without pauses.
            yield from (line.rstrip(b"\n")[:max_line] for line in sys.stdin.buffer)
            return
    try:
        partial = b""  # the start of a line whose end has not been read yet
        while True:
            ready, _, _ = select.select([fd], [], [], pause)
            if not ready:
                yield None
                continue
            chunk = os.read(fd, READ_BYTES)
            if not chunk:
                break
            lines = chunk.split(b"\n")
            tail = lines.pop()[:max_line]
            if lines:
                if partial:
                    lines[0] = partial + lines[0]
                if max(map(len, lines)) > max_line:  # rare: cut only then
                    lines = [line[:max_line] for line in lines]
                yield from lines
                partial = tail
            elif len(partial) < max_line:
                partial = (partial + tail)[:max_line]
        if partial:
            yield partial
    finally:
        if own:
            os.close(fd)


CHUNK_LINES: Final = 5000
"""Lines handed to one `Store.add_urls` call (its batch size, so one commit each): after
each call the reader knows exactly how many lines are in the store and how many of them
were new, which is what `InputReader.expected_todo` extrapolates from."""


class InputReader:
    """Adds ``lines`` to ``store`` on a daemon thread named ``job-input``.

    ``done`` is set when the thread has finished, however it finished; :meth:`result`
    then returns the :class:`AddResult` or raises what ``add_urls`` raised. An OSError
    from reading ``lines`` ends the input instead (lines read so far are added) and is
    kept in ``read_error``. :meth:`stop`
    makes the thread stop after the line it is reading (Ctrl-C): lines read so far are
    committed, and adding the same input again completes it in order.

    When the number of lines is known in advance (a sized collection) or can be counted
    (`UrlLines` of a regular file: counted on a second daemon thread, ``job-input-count``),
    the reader estimates how many URLs will be left to fetch once the input is complete:
    see :meth:`expected_todo`. ``include_failed`` says whether failed URLs count as to do
    (as in `PendingFollower`).
    """

    def __init__(
        self,
        store: Store,
        lines: Iterable[AddItem],
        *,
        include_failed: bool = True,
    ) -> None:
        self.done = threading.Event()
        self._store = store
        self._lines = lines
        self._stop = threading.Event()
        self._result: AddResult | None = None
        self.read_error: OSError | None = None
        """Why reading the input ended early (an unreadable file, a broken pipe), if it did."""
        self._error: BaseException | None = None
        self.lines_total: int | None = len(lines) if isinstance(lines, Sized) else None
        """How many lines the input has (known in advance, or once counted); None if not
        known (a pipe, a generator)."""
        # (lines added to the store, new URLs among them), replaced as one tuple after
        # each chunk so that another thread reads a consistent pair.
        self._progress = (0, 0)
        self._todo_before: int | None = None
        counting = isinstance(lines, CountableInput) and lines.countable
        if counting or self.lines_total is not None:
            # Before the input thread adds anything, and before any fetch records: the
            # URLs still to do from earlier runs (one count, ~80 ms for a million rows).
            self._todo_before = store.count_pending(include_failed)
        if counting:
            assert isinstance(lines, CountableInput)
            threading.Thread(
                target=self._count, args=(lines,), name="job-input-count", daemon=True
            ).start()
        # A daemon: a reader blocked on a silent stdin must not keep the process alive.
        self._thread = threading.Thread(target=self._read, name="job-input", daemon=True)
        self._thread.start()

    def _count(self, lines: CountableInput) -> None:
        self.lines_total = lines.count_lines()

    def _until_stopped(self) -> Iterator[AddItem]:
        try:
            for line in self._lines:
                if self._stop.is_set():
                    return
                yield line  # None (a pause in the input) lets add_urls commit
        except OSError as exc:
            # Ending the iteration normally lets add_urls commit every line read so far.
            self.read_error = exc

    def _read(self) -> None:
        try:
            self._result = self._add_in_chunks()
        except BaseException as exc:  # handed to the consuming thread by result()
            self._error = exc
        finally:
            self.done.set()

    def _add_in_chunks(self) -> AddResult:
        """Add the input `CHUNK_LINES` lines per `Store.add_urls` call (pauses, the Nones,
        go along: within a call they commit slow input as before); sum the results."""
        source = self._until_stopped()
        exhausted = False

        def chunk() -> Iterator[AddItem]:
            nonlocal exhausted
            count = 0
            for line in source:
                yield line
                if line is not None:
                    count += 1
                    if count == CHUNK_LINES:
                        return
            exhausted = True

        added = duplicates = invalid = skipped = 0
        while not exhausted:
            result = self._store.add_urls(chunk(), batch_size=CHUNK_LINES)
            added += result.added
            duplicates += result.duplicates
            invalid += result.invalid
            skipped += result.skipped
            self._progress = (added + duplicates + invalid + skipped, added)
        return AddResult(added, duplicates, invalid, skipped)

    def expected_todo(self) -> int | None:
        """An estimate of the URLs to do once the input is complete; None without one.

        It is the URLs to do before this input, plus the new URLs among the lines added
        so far, plus the lines not added yet times the share of new URLs among the lines
        added so far: blank lines, comments, invalid lines, duplicates and URLs an
        earlier run has done (a resumed run) all lower that share. Exact once the input
        is complete. None while the number of lines is not known (a pipe, or a file
        still being counted) or no line has been added yet. Cheap and thread-safe: no
        store access.
        """
        total, before = self.lines_total, self._todo_before
        if total is None or before is None:
            return None
        lines, added = self._progress
        if self.done.is_set():
            return before + added
        if lines == 0:
            return None
        # A file that grew while read has more lines than counted: nothing unread then.
        unread = max(0, total - lines)
        return before + added + round(unread * added / lines)

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the reader to stop and wait up to ``timeout`` seconds for it (only the first
        call waits). It stops after the line it is reading, or at the next pause of input
        given by :func:`read_lines` (a silent stdin), committing what it read; a source
        that blocks without pauses is left behind (the thread is a daemon)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout)

    def result(self) -> AddResult:
        """What ``add_urls`` returned (call once ``done`` is set); re-raises its error."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise RuntimeError("the input reader has not finished")
        return self._result


class PendingFollower:
    """Iterates the store's URLs still to do, following input that is still being added.

    Each pass reads `Store.pending` past the last ``seq`` seen; when a pass ends while
    the reader is still adding, it waits briefly, yields :data:`threadloom.core.IDLE`
    (so a pipeline reading it delivers finished work meanwhile) and reads on. ``total``
    is None until the input is complete, then the exact number of URLs this iteration
    yields: it is set at the first URL taken after the reader finished (a pass that
    started earlier goes on paging through the URLs added meanwhile, so waiting for the
    next pass left the total unknown until nearly the end of a run). :meth:`expected`
    is what a progress display shows: ``total``, or the reader's estimate before it.
    """

    def __init__(
        self,
        store: Store,
        include_failed: bool,
        reader: InputReader | None,
        *,
        poll: float = 0.05,
    ) -> None:
        self._store = store
        self._include_failed = include_failed
        self._reader = reader
        self._poll = poll
        self.yielded = 0
        self.total: int | None = None

    def expected(self) -> Expected | None:
        """The URLs this iteration will yield: exact once ``total`` is known, else the
        input reader's estimate (never below what was yielded already), else None.
        Cheap and thread-safe (a progress bar calls it at every redraw)."""
        total = self.total
        if total is not None:
            return Expected(total, exact=True)
        estimate = None if self._reader is None else self._reader.expected_todo()
        if estimate is None:
            return None
        return Expected(max(estimate, self.yielded), exact=False)

    def _count_rest(self, after: int) -> None:
        # Exact when called by the iterating thread between two records: every URL past
        # ``after`` that is still to do has not been yielded, so none is being fetched
        # and none can have changed state since the reader's last commit.
        self.total = self.yielded + self._store.count_pending(self._include_failed, after=after)

    def __iter__(self) -> Iterator[UrlRecord | object]:
        after = 0
        reader = self._reader
        while True:
            # Read before the pass: if the input was complete then, the pass sees it all.
            complete = reader is None or reader.done.is_set()
            if complete and self.total is None:
                self._count_rest(after)
            for record in self._store.pending(self._include_failed, after=after):
                if self.total is None and reader is not None and reader.done.is_set():
                    self._count_rest(after)
                after = record.seq
                self.yielded += 1
                yield record
            if complete:
                return
            assert reader is not None
            reader.done.wait(self._poll)
            yield IDLE  # the consumer delivers finished work while the input is slow


def input_outcome(reader: InputReader | None) -> tuple[AddResult | None, str | None]:
    """What the input reader did: its AddResult, and a one-line reason if it stopped early.

    A reader that has not finished (Ctrl-C) gives neither. A failure to read the input
    (an unreadable file, a broken pipe) is a reason, not an exception: what was read is
    fetched and kept. A failure of the store itself is raised.
    """
    if reader is None or not reader.done.is_set():
        return None, None
    added = reader.result()
    if reader.read_error is not None:
        return added, f"cannot read the input: {reader.read_error}"
    return added, None
