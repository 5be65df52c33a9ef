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
    which is what ``docs_per_second`` divides by ``elapsed``.
    """

    store: str
    counts: Mapping[str, int]
    bytes_total: int
    error_reasons: Sequence[tuple[str, int]]
    finished_this_run: int
    elapsed: float
    interrupted: bool = False

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
        """0 when every URL is done, 130 when interrupted, else 1."""
        if self.interrupted:
            return 130
        return 0 if self.counts.get("done", 0) == self.total else 1


def render_summary(summary: RunSummary, console: Console) -> None:
    """Print the summary as two small tables (states, then top error reasons)."""
    # Imported here: rich costs ~25 ms of start-up that quiet runs do not need.
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    headline = (
        f"{summary.counts.get('done', 0)} of {summary.total} documents done"
        f" in {summary.elapsed:.2f} s ({summary.docs_per_second:.1f} docs/s,"
        f" {human_bytes(summary.bytes_total)} stored in {summary.store})"
    )
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
    if summary.error_reasons:
        reasons = Table(title="top error reasons", title_justify="left", show_edge=False)
        reasons.add_column("URLs", justify="right")
        reasons.add_column("reason")
        for reason, count in summary.error_reasons:
            reasons.add_row(str(count), escape(reason))
        console.print(reasons)
    console.print(headline, highlight=False, markup=False)
