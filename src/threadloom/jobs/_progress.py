"""Progress display for a fetch run: a rich bar on a terminal, plain lines otherwise.

All methods are called from the one thread that consumes the job's results (the
thread that runs the job), so no locking is needed; the rich bar refreshes itself from
its own thread.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TextIO

from threadloom._units import human_bytes
from threadloom.jobs._counts import Counts, Expected

if TYPE_CHECKING:
    from rich.progress import Progress

ProgressMode = Literal["auto", "bar", "plain", "quiet"]


class ProgressReporter:
    """Shows done/failed/total, rate, ETA and bytes while a run goes on.

    ``mode="auto"`` picks the bar when ``stream`` is a terminal and plain lines
    (one every ``interval`` seconds) when it is not; ``"quiet"`` shows nothing.
    ``total`` is the number of URLs expected: a number, None while it is not known
    (the bar then pulses and shows ``?``), or a function asked at every redraw and
    every plain line (on rich's refresh thread too, so it must be cheap and
    thread-safe) that returns an `Expected` count, shown as ``~N`` while it is an
    estimate, or None. ``label`` names the work (``fetch``, ``process``). Use it as a
    context manager around the consuming loop.
    """

    def __init__(
        self,
        total: int | Callable[[], Expected | None] | None,
        *,
        mode: ProgressMode = "auto",
        stream: TextIO | None = None,
        interval: float = 5.0,
        label: str = "fetch",
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            mode = "bar" if self._stream.isatty() else "plain"
        self._mode = mode
        self._expected = total if callable(total) else None
        self._total = None if callable(total) else total
        self._interval = interval
        self._label = label
        self._done = 0
        self._failed = 0
        self._bytes = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._progress: Progress | None = None

    def __enter__(self) -> ProgressReporter:
        self._started = self._last_line = time.monotonic()
        if self._mode == "bar":
            # Imported here: rich costs ~25 ms of start-up that runs without a bar
            # (quiet, or output to a file or pipe) do not need.
            from threadloom.jobs._bar import start_bar  # noqa: PLC0415

            self._progress = start_bar(self._stream, self._counts, label=self._label)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        idle = self._done + self._failed == 0 and self._total in (None, 0)
        if self._progress is not None:
            if idle and exc_type is None:
                # Nothing to do: the summary says so; a bar reading 0/? would only puzzle.
                self._progress.live.transient = True
            self._progress.stop()  # draws the bar a last time, with the final counts
        elif self._mode == "plain" and not (idle and exc_type is None):
            self._print_line()

    def advance(self, *, ok: bool, size: int = 0, total: int | None = None) -> None:
        """Count one finished URL (``ok`` for done, else failed) and ``size`` bytes;
        ``total``, when given, is the exact number of URLs expected from now on (it
        replaces a ``total`` function given to the constructor)."""
        if ok:
            self.add(done=1, size=size, total=total)
        else:
            self.add(failed=1, size=size, total=total)

    def add(
        self, *, done: int = 0, failed: int = 0, size: int = 0, total: int | None = None
    ) -> None:
        """Count ``done`` and ``failed`` finished URLs and ``size`` bytes at once (what
        `advance` counts one at a time); ``total`` as for `advance`."""
        if total is not None:
            self._total = total
            self._expected = None
        self._done += done
        self._failed += failed
        self._bytes += size
        if self._mode == "plain":
            now = time.monotonic()
            if now - self._last_line >= self._interval:
                self._last_line = now
                self._print_line()

    def _counts(self) -> Counts:
        """The counts as the bar draws them (called on rich's refresh thread)."""
        total, exact = self._total, True
        source = self._expected  # read once: advance() may clear it meanwhile
        if source is not None:
            expected = source()
            if expected is not None:
                total, exact = expected
        return Counts(self._done, self._failed, self._bytes, total, self._started, exact)

    def _print_line(self) -> None:
        counts = self._counts()
        rate = counts.rate()
        left = counts.seconds_left(rate)
        eta = "-" if left is None else f"{left:.0f}s"
        print(
            f"{self._label}: {counts.of_total()} ({counts.done} done, {counts.failed} failed), "
            f"{rate:.1f} docs/s, {human_bytes(counts.bytes)}, ETA {eta}",
            file=self._stream,
            flush=True,
        )
