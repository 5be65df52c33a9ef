"""The progress bar of a fetch run on a terminal: rich, drawn from live counts.

rich redraws the bar 10 times a second on a thread of its own. The columns here read
the reporter's counts at each redraw, so counting a finished URL costs the recording
thread an addition, not a call into rich (~3 us a URL when every count was handed to
``Progress.update``), and the bar is never behind by more than one redraw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

from threadloom._units import human_bytes
from threadloom.jobs._counts import Counts


class _LiveColumn(ProgressColumn):
    """A column drawn from ``read()``, the reporter's counts at the time of the redraw."""

    def __init__(self, read: Callable[[], Counts]) -> None:
        super().__init__()
        self._read = read


class _Bar(_LiveColumn):
    """The bar itself: finished of total (estimated or exact), pulsing while the total
    is not known."""

    def render(self, task: Task) -> ProgressBar:
        counts = self._read()
        return ProgressBar(
            total=counts.total,
            completed=counts.finished,
            width=40,
            pulse=counts.total is None,
            animation_time=task.get_time(),
        )


class _Numbers(_LiveColumn):
    """``finished/total``, done, failed, rate, bytes and the time left."""

    def render(self, task: Task) -> Text:
        counts = self._read()
        rate = counts.rate()
        left = counts.seconds_left(rate)
        text = Text()
        text.append(f"{counts.of_total()} ")
        text.append(f"{counts.done} done ", style="green")
        text.append(f"{counts.failed} failed ", style="red")
        text.append(f"{rate:.0f} docs/s {human_bytes(counts.bytes)}")
        if left is not None:
            text.append(f" ETA {left:.0f}s")
        return text


def start_bar(stream: TextIO, read: Callable[[], Counts], *, label: str = "fetch") -> Progress:
    """Start a bar named ``label`` on ``stream`` that shows ``read()`` at every redraw;
    ``stop()`` it."""
    progress = Progress(
        TextColumn(f"[bold]{label}[/bold]"),
        _Bar(read),
        _Numbers(read),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=False,
    )
    progress.start()
    progress.add_task("fetch", total=None)
    return progress
