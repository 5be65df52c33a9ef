"""The closing summary of a fetch run: states, top error reasons, bytes, speed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadloom._units import human_bytes

if TYPE_CHECKING:
    from rich.console import Console

STATES = ("done", "failed", "invalid", "pending")
"""Every URL is in exactly one of these states."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run of the fetch job did and where the store stands afterwards.

    ``counts`` are the store's totals by state (this run and earlier ones);
    ``finished_this_run`` counts URLs that reached done or failed in this run,
    which is what ``docs_per_second`` divides by ``elapsed``. ``process_failed`` counts
    the store's done URLs whose processing (``--process``) failed, ``process_reasons``
    the most frequent of those reasons.
    """

    store: str
    counts: Mapping[str, int]
    bytes_total: int
    error_reasons: Sequence[tuple[str, int]]
    finished_this_run: int
    elapsed: float
    interrupted: bool = False
    process_failed: int = 0
    process_reasons: Sequence[tuple[str, int]] = ()

    @property
    def total(self) -> int:
        """All URLs in the store, in every state."""
        return sum(self.counts.get(state, 0) for state in STATES)

    @property
    def docs_per_second(self) -> float:
        """URLs finished in this run per second of wall time."""
        return self.finished_this_run / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every URL is done and processed without error, 130 when interrupted,
        else 1."""
        if self.interrupted:
            return 130
        all_done = self.counts.get("done", 0) == self.total
        return 0 if all_done and self.process_failed == 0 else 1


def render_summary(summary: RunSummary, console: Console) -> None:
    """Print the summary as small tables (states, top error reasons, top processing
    errors when there are any) and a headline."""
    # Imported here: rich costs ~25 ms of start-up that quiet runs do not need.
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    headline = (
        f"{summary.counts.get('done', 0)} of {summary.total} documents done"
        f" in {summary.elapsed:.2f} s ({summary.docs_per_second:.1f} docs/s,"
        f" {human_bytes(summary.bytes_total)} stored in {summary.store})"
    )
    if summary.process_failed:
        headline += f"; processing failed for {summary.process_failed}"
    if summary.interrupted:
        headline += "; interrupted: run the same command again to resume"
    states = Table(title="threadloom fetch", title_justify="left", show_edge=False)
    states.add_column("state")
    states.add_column("URLs", justify="right")
    states.add_column("share", justify="right")
    for state in STATES:
        count = summary.counts.get(state, 0)
        share = f"{100 * count / summary.total:.1f}%" if summary.total else "-"
        states.add_row(state, str(count), share)
    console.print(states)
    for title, rows in (
        ("top error reasons", summary.error_reasons),
        ("top processing errors", summary.process_reasons),
    ):
        if rows:
            reasons = Table(title=title, title_justify="left", show_edge=False)
            reasons.add_column("URLs", justify="right")
            reasons.add_column("reason")
            for reason, count in rows:
                reasons.add_row(str(count), escape(reason))
            console.print(reasons)
    console.print(headline, highlight=False, markup=False)
