"""Reading the URL list while fetching: input streams into the store on a thread of its
own, and the fetch stage follows the store, so a 50-million-line list starts fetching
after its first batch instead of after its last line.
"""

from __future__ import annotations

import io
import os
import select
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from threadloom.core import IDLE
from threadloom.store import MAX_URL_LENGTH, AddResult, Store, UrlRecord

READ_BYTES: Final = 1 << 16
"""Bytes asked of the file or pipe per read."""

MAX_LINE_BYTES: Final = 4 * MAX_URL_LENGTH + 2
"""A longer line is cut to this many bytes: it cannot be a valid URL (at most 4 UTF-8
bytes per character, plus a CRLF), and the cut line still classifies as too long, so a
line of a gigabyte costs 32 KiB, not a gigabyte, in memory and in the store."""


def read_lines(path: str | Path, *, pause: float = 0.2) -> Iterator[bytes | None]:
    """Stream the lines of a URL list: a file, a FIFO, or standard input for ``"-"``.

    Yields each line without its ``\\n`` (a line longer than :data:`MAX_LINE_BYTES` cut
    to that length), and None each time no input has arrived for ``pause`` seconds on a
    stream still open (a silent pipe), so a consumer can commit what it has and check
    for a stop request; `Store.add_urls` understands those Nones. Reads the file
    descriptor directly, not through ``sys.stdin.buffer``: a reader thread left waiting on a
    silent stdin at exit then holds no lock that interpreter shutdown needs (with
    ``sys.stdin.buffer`` that is a fatal error). Raises OSError for a file that cannot
    be opened or read, when the iteration reaches it.
    """
    own = str(path) != "-"
    if own:
        fd = os.open(path, os.O_RDONLY)
    else:
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):
            # A stand-in for stdin with no descriptor (a test runner's BytesIO): read it
            # as it is, without pauses.
            yield from (line.rstrip(b"\n")[:MAX_LINE_BYTES] for line in sys.stdin.buffer)
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
            tail = lines.pop()[:MAX_LINE_BYTES]
            if lines:
                if partial:
                    lines[0] = partial + lines[0]
                if max(map(len, lines)) > MAX_LINE_BYTES:  # rare: cut only then
                    lines = [line[:MAX_LINE_BYTES] for line in lines]
                yield from lines
                partial = tail
            elif len(partial) < MAX_LINE_BYTES:
                partial = (partial + tail)[:MAX_LINE_BYTES]
        if partial:
            yield partial
    finally:
        if own:
            os.close(fd)


class InputReader:
    """Adds ``lines`` to ``store`` on a daemon thread named ``job-input``.

    ``done`` is set when the thread has finished, however it finished; :meth:`result`
    then returns the :class:`AddResult` or raises what ``add_urls`` raised. An OSError
    from reading ``lines`` ends the input instead (lines read so far are added) and is
    kept in ``read_error``. :meth:`stop`
    makes the thread stop after the line it is reading (Ctrl-C): lines read so far are
    committed, and adding the same input again completes it in order.
    """

    def __init__(self, store: Store, lines: Iterable[bytes | str | None]) -> None:
        self.done = threading.Event()
        self._store = store
        self._lines = lines
        self._stop = threading.Event()
        self._result: AddResult | None = None
        self.read_error: OSError | None = None
        """Why reading the input ended early (an unreadable file, a broken pipe), if it did."""
        self._error: BaseException | None = None
        # A daemon: a reader blocked on a silent stdin must not keep the process alive.
        self._thread = threading.Thread(target=self._read, name="job-input", daemon=True)
        self._thread.start()

    def _until_stopped(self) -> Iterator[bytes | str | None]:
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
            self._result = self._store.add_urls(self._until_stopped())
        except BaseException as exc:  # handed to the consuming thread by result()
            self._error = exc
        finally:
            self.done.set()

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
    yields.
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

    def __iter__(self) -> Iterator[UrlRecord | object]:
        after = 0
        while True:
            # Read before the pass: if the input was complete then, the pass sees it all.
            complete = self._reader is None or self._reader.done.is_set()
            if complete and self.total is None:
                self.total = self.yielded + self._store.count_pending(
                    self._include_failed, after=after
                )
            for record in self._store.pending(self._include_failed, after=after):
                after = record.seq
                self.yielded += 1
                yield record
            if complete:
                return
            assert self._reader is not None
            self._reader.done.wait(self._poll)
            yield IDLE  # the consumer delivers finished work while the input is slow
