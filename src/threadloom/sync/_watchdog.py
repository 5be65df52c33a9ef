"""The watchdog: a daemon thread that reports threads blocked for too long."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from types import TracebackType
from typing import TextIO

from threadloom.sync import _state, _waitfor
from threadloom.sync._state import WaitRecord
from threadloom.sync._stats import WaiterInfo, waiters_of


@dataclass(frozen=True)
class BlockedThread:
    """One thread blocked longer than the watchdog's threshold.

    ``kind`` is what it does (``acquiring``, ``waiting on``, ``joining``), ``target``
    names the primitive, ``holder`` says who holds it (empty for primitives without an
    owner), ``waiters`` lists every thread blocked on that primitive, ``stack`` is the
    blocked thread's stack (innermost last). ``cycle`` names the wait-for cycle the
    thread is part of, if any: one through a Lock that a running thread may still
    release, so a suspected deadlock, not a verdict (empty otherwise).
    """

    thread: str
    thread_id: int
    kind: str
    target: str
    holder: str
    waited: float
    waiters: tuple[WaiterInfo, ...]
    stack: tuple[str, ...]
    cycle: str = ""

    def __str__(self) -> str:
        lines = [
            f"threadloom watchdog: thread {self.thread!r} has been {self.kind} "
            f"{self.target} for {self.waited:.1f} s" + (f", {self.holder}" if self.holder else "")
        ]
        if self.cycle:
            lines.append(f"  suspected deadlock (a wait-for cycle through a Lock): {self.cycle}")
        if self.waiters:
            lines.append(
                "  waiting on it: "
                + ", ".join(f"{w.thread!r} ({w.waited:.1f} s)" for w in self.waiters)
            )
        lines.append(f"  stack of {self.thread!r}:")
        lines.extend("    " + line for line in self.stack)
        return "\n".join(lines)


Callback = Callable[[BlockedThread], object]


class Watchdog:
    """A running watchdog (see :func:`watch`); ``stop()`` ends it, so does ``with``."""

    def __init__(self, threshold: float, interval: float, callback: Callback) -> None:
        self.threshold = threshold
        self.interval = interval
        self._callback = callback
        self._stopped = _state.allocate_lock()
        self._stopped.acquire()
        self._reported: set[WaitRecord] = set()
        self._thread = threading.Thread(target=self._run, name="threadloom-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ident = _state.get_ident()
        _state.service_idents.add(ident)
        try:
            while not self._stopped.acquire(True, self.interval):
                self.scan()
        finally:
            _state.service_idents.discard(ident)

    def scan(self) -> list[BlockedThread]:
        """Report (once per wait) every thread blocked longer than the threshold."""
        now = monotonic()
        frames = _state.thread_frames()
        current: set[WaitRecord] = set()
        found = []
        for state in list(_state.states.values()):
            wait = state.waiting
            if wait is None or state.ident not in frames:
                continue
            current.add(wait)
            if wait in self._reported or now - wait.since < self.threshold:
                continue
            self._reported.add(wait)
            found.append(
                BlockedThread(
                    thread=state.name,
                    thread_id=state.ident,
                    kind=wait.kind,
                    target=wait.target._describe(),
                    holder=wait.target._holder(),
                    waited=now - wait.since,
                    waiters=waiters_of(wait.target._wait_records()),
                    stack=tuple(_waitfor.format_stack(frames.get(state.ident))),
                    cycle=_waitfor.suspected_cycle(wait),
                )
            )
        self._reported &= current
        for blocked in found:
            self._callback(blocked)
        return found

    def stop(self, timeout: float | None = None) -> None:
        """Stop the watchdog thread and wait (up to ``timeout`` s) for it to end."""
        if self._stopped.locked():
            self._stopped.release()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def watch(
    threshold: float = 5.0,
    interval: float | None = None,
    callback: Callback | TextIO | None = None,
) -> Watchdog:
    """Start a daemon thread that reports threads blocked longer than ``threshold`` seconds.

    Every ``interval`` seconds (default: a quarter of the threshold, at least 0.01 s) it
    looks at the threads blocked in threadloom primitives (and, under
    :func:`instrument`, in ``Thread.join()``). Each wait found longer than the threshold
    is reported once, as a :class:`BlockedThread` passed to ``callback``; a file (or the
    default, ``sys.stderr``) gets its text instead. Returns the :class:`Watchdog`.
    """
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    if interval is None:
        interval = max(threshold / 4, 0.01)
    if interval <= 0:
        raise ValueError("interval must be > 0")
    if callback is None or not callable(callback):
        stream: TextIO = sys.stderr if callback is None else callback

        def write(blocked: BlockedThread) -> None:
            stream.write(f"{blocked}\n")
            stream.flush()

        return Watchdog(threshold, interval, write)
    return Watchdog(threshold, interval, callback)
