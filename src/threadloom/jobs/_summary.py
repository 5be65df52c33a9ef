"""The closing summary of a fetch run: states, top error reasons, bytes, speed.

`RunSummary.headline` and the problem kinds of ``threadloom._problems`` are the words
and figures the summary, the HTML report and ``threadloom status`` share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadloom._problems import PROCESS_FAILED
from threadloom._units import human_bytes

if TYPE_CHECKING:
    from rich.console import Console

    from threadloom.store import Store

STATES = ("done", "failed", "invalid", "pending")
"""Every URL is in exactly one of these states."""

REFRESH_RESULTS = ("unchanged", "changed", "failed to refresh")
"""How a summary names the results of refreshing a done URL (`RunSummary.refresh`)."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run of the fetch job did and where the store stands afterwards.

    ``counts`` are the store's totals by state (this run and earlier ones);
    ``finished_this_run`` counts URLs that reached done or failed in this run,
    which is what ``docs_per_second`` divides by ``elapsed``. ``process_failed`` counts
    the store's done URLs whose processing (``--process``) failed, ``process_reasons``
    the most frequent of those reasons. ``processor`` is the ``--process`` value of the
    run (None: no processing) and ``processed_this_run`` the URLs it processed, from
    their stored bodies or as they were fetched. ``refresh`` is None unless the run
    refreshed done URLs (``--refresh``); then how many of them it confirmed unchanged,
    found changed (replaced) and failed to refresh (their stored documents kept).
    ``finished_this_run`` counts refreshed URLs too.
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
    processed_this_run: int = 0
    processor: str | None = None
    refresh: tuple[int, int, int] | None = None

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
        """0 when every URL is done and processed without error and no refresh failed,
        130 when interrupted, else 1."""
        if self.interrupted:
            return 130
        all_done = self.counts.get("done", 0) == self.total
        refresh_failed = self.refresh is not None and self.refresh[2] > 0
        return 0 if all_done and self.process_failed == 0 and not refresh_failed else 1

    @property
    def nothing_fetched(self) -> bool:
        """True when the run ended without fetching anything (not interrupted): every
        URL was done already, or there were none."""
        return self.finished_this_run == 0 and not self.interrupted

    def headline(self) -> str:
        """One line: what the run did and where the store stands, plain text."""
        done = self.counts.get("done", 0)
        stored = f"{human_bytes(self.bytes_total)} stored in {self.store}"
        if self.nothing_fetched and self.total == 0:
            line = f"nothing to fetch: no URLs in {self.store}"
        elif self.nothing_fetched:
            line = f"nothing to fetch: {done} of {self.total} already done ({stored})"
        else:
            line = (
                f"{done} of {self.total} documents done in {self.elapsed:.2f} s"
                f" ({self.docs_per_second:.1f} docs/s, {stored})"
            )
        if self.refresh is not None and not any(self.refresh):
            line += "; nothing to refresh"
        elif self.refresh is not None:
            confirmed, changed, failed = self.refresh
            line += (
                f"; refreshed {confirmed + changed + failed}: {confirmed} unchanged,"
                f" {changed} changed, {failed} failed to refresh"
            )
        if self.processor is not None:
            line += f"; processed {self.processed_this_run} ({self.processor})"
        if self.process_failed:
            line += f"; processing failed for {self.process_failed}"
        if self.interrupted:
            line += "; interrupted: run the same command again to resume"
        return line


def summarise_store(
    store: Store,
    path: str,
    *,
    processor: str | None,
    finished: int,
    processed: int,
    elapsed: float,
    interrupted: bool,
    refresh: tuple[int, int, int] | None = None,
) -> RunSummary:
    """The `RunSummary` of a run over ``store`` (opened at ``path``): its counts and
    most frequent reasons now, and what this run did (``finished`` and ``processed``
    URLs, ``refresh`` results, ``elapsed`` seconds, whether Ctrl-C ``interrupted`` it)."""
    counts = store.counts()
    return RunSummary(
        store=path,
        counts={
            "done": counts.done,
            "failed": counts.failed,
            "invalid": counts.invalid,
            "pending": counts.pending,
        },
        bytes_total=counts.bytes,
        error_reasons=store.error_reasons(limit=5),
        finished_this_run=finished,
        elapsed=elapsed,
        interrupted=interrupted,
        process_failed=counts.process_failed,
        process_reasons=store.process_error_reasons(limit=5) if counts.process_failed else [],
        processed_this_run=processed,
        processor=processor,
        refresh=refresh,
    )


def render_summary(
    summary: RunSummary, console: Console, *, title: str = "threadloom fetch"
) -> None:
    """Print the summary as small tables (states under ``title``, with the done URLs
    whose processing failed when there are any; top error reasons; top processing
    errors) and the `RunSummary.headline`."""
    # Imported here: rich costs ~25 ms of start-up that quiet runs do not need.
    from rich.markup import escape  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    # The title on a line of its own: as a table title it would wrap to the table's width.
    console.print(title, style="bold", highlight=False, markup=False)
    states = Table(show_edge=False)
    states.add_column("state")
    states.add_column("URLs", justify="right")
    states.add_column("share", justify="right")
    for state in STATES:
        count = summary.counts.get(state, 0)
        share = f"{100 * count / summary.total:.1f}%" if summary.total else "-"
        states.add_row(state, str(count), share)
        if state == "done" and summary.process_failed:  # a part of done, not a state
            count = summary.process_failed
            share = f"{100 * count / summary.total:.1f}%" if summary.total else "-"
            states.add_row(f"  {PROCESS_FAILED}", str(count), share)
    console.print(states)
    if summary.refresh is not None:
        refreshes = Table(title="refreshed this run", title_justify="left", show_edge=False)
        refreshes.add_column("result")
        refreshes.add_column("URLs", justify="right")
        for label, count in zip(REFRESH_RESULTS, summary.refresh, strict=True):
            refreshes.add_row(label, str(count))
        console.print(refreshes)
    for heading, rows in (
        ("top error reasons", summary.error_reasons),
        ("top processing errors", summary.process_reasons),
    ):
        if rows:
            reasons = Table(title=heading, title_justify="left", show_edge=False)
            reasons.add_column("URLs", justify="right")
            reasons.add_column("reason")
            for reason, count in rows:
                reasons.add_row(str(count), escape(reason))
            console.print(reasons)
    # soft_wrap: one line however long (the terminal wraps it), so it greps whole.
    console.print(summary.headline(), highlight=False, markup=False, soft_wrap=True)
