"""The self-contained HTML report of a fetch run (``threadloom fetch --report FILE.html``).

The report is one file with no external references: inline CSS, server-side
SVG charts (a timeline of every lane of work and the throughput over time)
and a few lines of inline script that only improve the hover tooltips, so it
renders completely with scripts disabled. Everything that comes from outside
(URLs, error reasons, lane names, settings) is escaped, and a
Content-Security-Policy allows only the report's own style and script by hash.

The report stays small for big runs: a timeline row is about a thousand
pixels wide, so spans narrower than the *merge width* are merged into
aggregate bars (one per merge width of a row, stacked by outcome, with the
counts in their tooltip). The merge width is ``MIN_SPAN_WIDTH``, or wider
when there are so many lanes that the timeline would otherwise hold more
than about ``TIMELINE_BUDGET`` bars, so the file size is bounded whatever
the number of URLs and lanes.

A lane is one row of the timeline: a worker thread, or one of a stage's slots
for work in flight (the fetch stage's requests run on the transfer thread, so
its lanes are ``job-fetch``, ``job-fetch #2``, ...: one per request in flight
at once, never two overlapping bars in a row).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from threadloom._problems import PROCESS_FAILED, problem_counts
from threadloom._units import human_bytes
from threadloom.jobs._report_assets import SCRIPT, STYLE
from threadloom.jobs._report_charts import (
    COMPLETION_OUTCOMES,
    MIN_SPAN_WIDTH,
    STATES,
    TIMELINE_BUDGET,
    Palette,
    Scale,
    TimelineSpan,
    csp_hash,
    duration,
    esc,
    limits_svg,
    num,
    throughput_svg,
    timeline_svg,
)

__all__ = [
    "COMPLETION_OUTCOMES",
    "MIN_SPAN_WIDTH",
    "TIMELINE_BUDGET",
    "ReportData",
    "TimelineSpan",
    "render_report",
    "write_report",
]


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the report shows, independent of how the job collected it.

    ``started_at`` is the wall-clock start of the run and ``elapsed`` its
    duration in seconds. ``counts`` are URLs by state (the store's totals:
    done, failed, invalid, pending; other states are listed after these).
    ``error_reasons`` are ``(reason, URL count)`` pairs, most frequent first.
    ``bytes_total`` is the size of the stored bodies. ``settings`` are shown
    as given (jobs, per-host limit, store path...). ``hosts`` are optional
    ``(host, done, failed)`` rows. ``finished`` is the number of URLs finished
    in this run, which the docs/s figure divides by ``elapsed``; when it is
    None it is counted from the spans whose outcome is in
    ``COMPLETION_OUTCOMES``. ``process_failed`` counts the done URLs whose
    processing failed and ``process_reasons`` their most frequent reasons.
    ``limits`` are ``(seconds, host, limit)`` changes of a host's limit under
    ``--auto-throttle``, drawn as the per-host limit over time. ``headline`` is the
    run's one-line account (`RunSummary.headline`, the line
    the summary ends with), shown under the title; a run that fetched nothing
    shows it in place of its speed and lanes.
    """

    title: str
    started_at: datetime
    elapsed: float
    spans: Sequence[TimelineSpan]
    counts: Mapping[str, int]
    error_reasons: Sequence[tuple[str, int]]
    bytes_total: int
    settings: Mapping[str, str]
    hosts: Sequence[tuple[str, int, int]] = ()
    finished: int | None = None
    process_failed: int = 0
    process_reasons: Sequence[tuple[str, int]] = ()
    headline: str | None = None
    limits: Sequence[tuple[float, str, int]] = ()


def _share_bar(share: float, css_class: str) -> str:
    width = num(100 * share)
    return (
        '<svg class="share" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect width="{width}" height="8" class="{css_class}"/></svg>'
    )


def _states_table(counts: Mapping[str, int], palette: Palette) -> str:
    states = list(STATES) + sorted(set(counts) - set(STATES))
    total = sum(counts.get(s, 0) for s in states)
    rows = []
    for state in states:
        count = counts.get(state, 0)
        share = count / total if total else 0.0
        rows.append(
            f'<tr data-state="{esc(state)}"><td>{esc(state)}</td><td class="n">{count:,}</td>'
            f'<td class="n">{100 * share:.1f}%</td>'
            f'<td class="bar">{_share_bar(share, palette.css_class[state])}</td></tr>'
        )
    rows.append(
        f'<tr data-state="total"><th>total</th><th class="n">{total:,}</th>'
        f'<th class="n">{100.0 if total else 0.0:.1f}%</th><th></th></tr>'
    )
    return (
        '<table id="states"><thead><tr><th>state</th><th class="n">URLs</th>'
        f'<th class="n">share</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _problems(data: ReportData) -> str:
    """Every kind of problem with its count (as the summary and ``status`` count them),
    then the top reasons of fetch failures and invalid lines, and of processing
    failures; "No errors." only when there is no problem of any kind."""
    problems = problem_counts(data.counts, data.process_failed)
    if not any(problems.values()):
        return '<p class="note">No errors.</p>'
    rows = "".join(
        f'<tr data-problem="{esc(kind)}"><td>{esc(kind)}</td><td class="n">{count:,}</td></tr>'
        for kind, count in problems.items()
    )
    parts = [f'<table id="problems"><tbody>{rows}</tbody></table>']
    for table_id, heading, reasons in (
        ("reasons", "fetch failures and invalid lines", data.error_reasons),
        ("process-reasons", "processing failures", data.process_reasons),
    ):
        if reasons:
            parts.append(_reasons_table(table_id, heading, reasons))
    return "".join(parts)


def _reasons_table(table_id: str, heading: str, reasons: Sequence[tuple[str, int]]) -> str:
    rows = "".join(
        f'<tr><td class="n">{count:,}</td><td class="reason">{esc(reason, 500)}</td></tr>'
        for reason, count in reasons
    )
    return (
        f'<table id="{table_id}"><thead><tr><th class="n">URLs</th><th>{esc(heading)}</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _hosts_table(hosts: Sequence[tuple[str, int, int]]) -> str:
    rows = "".join(
        f'<tr><td class="reason">{esc(host)}</td><td class="n">{done:,}</td>'
        f'<td class="n">{failed:,}</td>'
        f'<td class="n">{100 * failed / (done + failed) if done + failed else 0:.1f}%</td></tr>'
        for host, done, failed in hosts
    )
    return (
        '<table id="hosts"><thead><tr><th>host</th><th class="n">done</th>'
        f'<th class="n">failed</th><th class="n">failed %</th></tr></thead><tbody>{rows}</tbody>'
        "</table>"
    )


def _settings_table(settings: Mapping[str, str]) -> str:
    rows = "".join(
        f'<tr><th>{esc(key)}</th><td class="reason">{esc(value)}</td></tr>'
        for key, value in settings.items()
    )
    return f'<table id="settings"><tbody>{rows}</tbody></table>'


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document (a ``str``; write it as UTF-8).

    It has no external references, runs without scripts, escapes every string
    taken from ``data`` and keeps its size proportional to the number of worker
    threads (see the module docstring), so 50,000 spans render in well under a
    second into a file of a few megabytes at most.
    """
    outcomes = {span.outcome for span in data.spans}
    palette = Palette(outcomes | set(COMPLETION_OUTCOMES) | set(STATES) | set(data.counts))
    run_end = max((max(s.start, s.end) for s in data.spans), default=0.0)
    scale = Scale(max(data.elapsed, run_end, 1e-3))
    finished = data.finished
    if finished is None:
        finished = sum(1 for span in data.spans if span.outcome in COMPLETION_OUTCOMES)
    rate = finished / data.elapsed if data.elapsed > 0 else 0.0
    total = sum(data.counts.values())
    threads = len({span.thread for span in data.spans})

    started = data.started_at.isoformat(sep=" ", timespec="seconds")
    cards = [("URLs", "URLs", total, "pending")] + [
        (state, state, data.counts.get(state, 0), state) for state in STATES
    ]
    if data.process_failed:
        cards.append(("process-failed", PROCESS_FAILED, data.process_failed, "failed"))
    card_html = "".join(
        f'<div class="card" id="card-{esc(key)}" data-colour="{esc(colour)}">'
        f'<span class="v">{value:,}</span><span class="k">{esc(label)}</span></div>'
        for key, label, value, colour in cards
    )
    # The card borders take their outcome colour from a per-report rule.
    style_cards = "".join(
        f'.card[data-colour="{state}"]{{border-left-color:{palette.colour[state]}}}\n'
        for state in STATES
    )
    style = STYLE + palette.style() + style_cards
    csp = (
        f"default-src 'none'; style-src {csp_hash(style)}; script-src {csp_hash(SCRIPT)};"
        " base-uri 'none'; form-action 'none'"
    )

    if data.spans:
        timeline, merge = timeline_svg(data.spans, scale, palette)
        timeline_note = (
            '<p class="note">One row per lane (a worker thread, or one request in flight'
            " at a time for the fetch stage); one bar per attempt, coloured by"
            f" outcome. Spans under {merge:.3g} px are merged into stacked bars that keep"
            ' their counts. <span class="js-only">Hover a bar for its URL, attempt and'
            " duration.</span></p>"
        )
    else:
        timeline = '<p class="note">No work was recorded in this run.</p>'
        timeline_note = ""
    if finished:
        throughput, bucket = throughput_svg(data.spans, scale, palette)
        throughput_note = (
            f'<p class="note">URLs finished (done or failed) per {esc(duration(bucket))},'
            " by the time their last attempt ended.</p>"
        )
    else:
        throughput, throughput_note = '<p class="note">Nothing was fetched in this run.</p>', ""
    if finished or not data.headline:
        meta = (
            f'· <b id="rate">{rate:,.1f}</b> docs/s · <b id="bytes">'
            f"{esc(human_bytes(data.bytes_total))}</b> stored · <b>{threads}</b> lanes"
        )
    else:  # nothing fetched: no speed to give, and the headline says why
        meta = f'· <b id="bytes">{esc(human_bytes(data.bytes_total))}</b> stored'
    headline = (
        f'<p class="headline" id="headline">{esc(data.headline)}</p>' if data.headline else ""
    )
    hosts = (
        f'<section class="after"><h2>Hosts</h2>{_hosts_table(data.hosts)}</section>'
        if data.hosts
        else ""
    )
    limits = (
        f"<section><h2>Per-host limit</h2>{limits_svg(data.limits, scale)}"
        '<p class="note">Requests allowed in flight per host over time, as'
        " --auto-throttle moved them (a line per host; hover for its name).</p></section>"
        if data.limits
        else ""
    )
    body = f"""<main>
<h1>{esc(data.title)}</h1>
<p class="meta">started <b>{esc(started)}</b> · elapsed <b>{esc(duration(data.elapsed))}</b>
{meta}</p>
{headline}
<div class="cards">{card_html}</div>
<section><h2>Timeline</h2>{palette.legend(outcomes)}{timeline}{timeline_note}</section>
<section><h2>Throughput</h2>{throughput}{throughput_note}</section>
{limits}
<div class="grid2">
<section><h2>States</h2>{_states_table(data.counts, palette)}</section>
<section><h2>Problems</h2>{_problems(data)}</section>
</div>
{hosts}
<section class="after"><h2>Settings</h2>{_settings_table(data.settings)}</section>
<footer>threadloom fetch report</footer>
</main>
<div id="tip" role="tooltip" hidden></div>"""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(data.title)}</title>
<style>{style}</style>
</head>
<body>
{body}
<script>{SCRIPT}</script>
</body>
</html>
"""


def write_report(data: ReportData, path: Path) -> None:
    """Render the report and write it to ``path`` as UTF-8, atomically.

        The HTML goes to a new temporary file in the same directory (created with
    mode 0o666 less the umask), which is flushed,
        fsynced and renamed over ``path`` with ``os.replace``: readers see the old
        file or the complete new one, never a partial report. On error the
        temporary file is removed and the exception propagates.
    """
    text = render_report(data)
    path = Path(path)
    temp_name = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Mode 0o666 through os.open, unlike mkstemp's 0o600: the umask decides,
    # as for any file the user creates.
    fd = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
