"""What the progress display shows, as plain values: shared by the reporter
(`jobs/_progress.py`), the terminal bar (`jobs/_bar.py`) and the input follower
(`jobs/_input.py`), so that none of them imports another for a type."""

from __future__ import annotations

import time
from typing import NamedTuple


class Expected(NamedTuple):
    """How many URLs a run expects to fetch: ``exact`` once the input has been read to its
    end, else an estimate (see `InputReader.expected_todo`)."""

    urls: int
    exact: bool


class Counts(NamedTuple):
    """What the bar shows, as the reporter last counted it."""

    done: int
    failed: int
    bytes: int
    total: int | None  # None: not known (input from a pipe, still being read)
    started: float  # time.monotonic() when the run began
    exact: bool = True  # False: ``total`` is an estimate, shown as ~N

    @property
    def finished(self) -> int:
        """URLs done or failed."""
        return self.done + self.failed

    def rate(self) -> float:
        """URLs finished per second since the run began."""
        return self.finished / max(time.monotonic() - self.started, 1e-9)

    def seconds_left(self, rate: float) -> float | None:
        """The time left at ``rate``; None while the total is unknown, nothing is left,
        or nothing has finished yet."""
        if self.total is None or rate <= 0 or self.finished >= self.total:
            return None
        return (self.total - self.finished) / rate

    def of_total(self) -> str:
        """``finished/total``: ``17023/20000``, ``17023/~20000`` for an estimate,
        ``17023/?`` while the total is unknown."""
        if self.total is None:
            return f"{self.finished}/?"
        return f"{self.finished}/{'' if self.exact else '~'}{self.total}"
