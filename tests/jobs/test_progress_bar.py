"""The terminal bar draws the reporter's counts as they are at each redraw."""

from __future__ import annotations

import io

from rich.console import Console

from threadloom.jobs._progress import ProgressReporter


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
