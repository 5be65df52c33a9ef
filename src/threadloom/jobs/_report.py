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

import base64
import contextlib
import hashlib
import html
import itertools
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from threadloom._units import human_bytes
from threadloom.jobs._report_assets import SCRIPT, STYLE

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
class TimelineSpan:
    """One piece of work on one lane (``thread``: a worker thread's name or a stage's
    lane, see the module docstring), as drawn on the timeline.

    ``start`` and ``end`` are seconds since the start of the run (``end`` before
    ``start`` is drawn as an instant). ``label`` is what the work was (usually
    the URL), ``outcome`` how it ended: ``"done"``, ``"failed"``, ``"retry"``
    (an attempt that will be retried), ``"processed"`` (the processing stage),
    or any other word, which gets a colour of its own. ``attempt`` counts from
    1; ``detail`` is an optional human line such as the error reason.
    """

    thread: str
    start: float
    end: float
    label: str
    outcome: str
    attempt: int = 1
    detail: str | None = None


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
    ``COMPLETION_OUTCOMES``.
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


COMPLETION_OUTCOMES = ("done", "failed")
"""Span outcomes that finish a URL: the throughput chart counts these by end time."""

MIN_SPAN_WIDTH = 2.0
"""The smallest merge width, in SVG units (a timeline row is about 1,000 units wide)."""

TIMELINE_BUDGET = 12_000
"""Rows times bars per row the timeline aims to stay under (each bar is about 100-200 bytes)."""

_STATES = ("done", "failed", "invalid", "pending")
# Fixed colours for the words the fetch job uses; anything else takes the next
# free colour of _EXTRA_COLOURS, so an unknown outcome is still told apart.
_COLOURS = {
    "done": "#2da44e",
    "failed": "#cf222e",
    "retry": "#e3a008",
    "processed": "#0969da",
    "invalid": "#8250df",
    "pending": "#8c959f",
}
_EXTRA_COLOURS = ("#1b7c83", "#bf3989", "#6e7781", "#953800", "#4d2d8f", "#116329")

_VIEW_WIDTH = 1200.0
_GUTTER = 150.0  # left margin for thread names and the y axis
_RIGHT = 16.0
_PLOT_WIDTH = _VIEW_WIDTH - _GUTTER - _RIGHT
_ROW_HEIGHT = 14.0
_ROW_PITCH = 19.0
_MIN_AGGREGATE_WIDTH = 0.5  # so that a burst of instant spans stays visible
_TOP = 6.0
_AXIS_HEIGHT = 26.0
_THROUGHPUT_HEIGHT = 180.0
_THROUGHPUT_BUCKETS = 60  # at most this many bars on the throughput chart
_LABEL_LIMIT = 200  # characters of a URL or reason kept in a tooltip
_NAME_LIMIT = 22  # characters of a thread name drawn in the row gutter

# Characters that XML 1.0 forbids (C0 controls but tab/LF/CR, U+FFFE/U+FFFF) and
# lone surrogates (from bytes decoded with surrogateescape) would make the SVG
# unparsable or the UTF-8 write fail: they become U+FFFD.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object, limit: int | None = None) -> str:
    """``value`` as HTML/XML-safe text (quotes escaped too), cut to ``limit`` characters."""
    text = _UNSAFE_CHARS.sub("\ufffd", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def _num(value: float) -> str:
    """An SVG coordinate with one decimal and no trailing zeros (small files)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that puts ``fetch-2`` before ``fetch-10``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", name)
        if part
    )


def _nice_step(span: float, target: int) -> float:
    """A 1, 2 or 5 times a power of ten step giving about ``target`` ticks over ``span``."""
    raw = max(span, 1e-9) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next((f * magnitude for f in (1, 2, 5) if f * magnitude >= raw), 10 * magnitude))


def _duration(seconds: float) -> str:
    """A duration for people: ``0.40 ms``, ``123 ms``, ``1.23 s``, ``2 min 05 s``."""
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 120:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _tick_label(seconds: float, step: float) -> str:
    """An axis label in seconds with as many decimals as the step needs."""
    if step >= 60 and seconds >= 60:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}:{rest:02d}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{seconds:.{decimals}f} s"


def _sha256(text: str) -> str:
    """The CSP source expression allowing exactly this inline style or script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


class _Palette:
    """Outcome -> CSS class (``o0``, ``o1``...) with a fixed colour per known word."""

    def __init__(self, outcomes: Iterable[str]) -> None:
        words = set(outcomes)
        known = [name for name in _COLOURS if name in words]
        others = sorted(words - set(_COLOURS))
        self.order: list[str] = known + others
        self.css_class = {name: f"o{i}" for i, name in enumerate(self.order)}
        extra = itertools.cycle(_EXTRA_COLOURS)
        self.colour = {name: _COLOURS.get(name) or next(extra) for name in self.order}

    def style(self) -> str:
        """CSS rules colouring each outcome class (SVG fill)."""
        return "".join(f".{self.css_class[n]}{{fill:{self.colour[n]}}}\n" for n in self.order)

    def legend(self, outcomes: Iterable[str]) -> str:
        """An HTML legend: a swatch and the word for each of ``outcomes``, in palette order."""
        shown = set(outcomes)
        items = "".join(
            f'<li><svg viewBox="0 0 12 12" aria-hidden="true"><rect width="12" height="12"'
            f' class="{self.css_class[n]}"/></svg>{_text(n)}</li>'
            for n in self.order
            if n in shown
        )
        return f'<ul class="legend">{items}</ul>'


@dataclass(frozen=True, slots=True)
class _Scale:
    """Maps run seconds to SVG x coordinates shared by both charts."""

    seconds: float

    def x(self, t: float) -> float:
        """The x coordinate of ``t`` seconds, clamped to the plot."""
        return _GUTTER + max(0.0, min(t, self.seconds)) / self.seconds * _PLOT_WIDTH

    def ticks(self) -> tuple[float, list[float]]:
        """The tick step and the ticks (about ten) from 0 to the end of the run."""
        step = _nice_step(self.seconds, 10)
        count = int(self.seconds / step + 1e-9)
        return step, [i * step for i in range(count + 1)]


def _time_axis(scale: _Scale, top: float, bottom: float) -> list[str]:
    """Vertical grid lines from ``top`` to ``bottom`` and time labels under them."""
    step, ticks = scale.ticks()
    right = _num(_VIEW_WIDTH - _RIGHT)
    parts = [
        f'<g class="axis"><line class="ax" x1="{_num(_GUTTER)}" x2="{right}"'
        f' y1="{_num(bottom)}" y2="{_num(bottom)}"/>'
    ]
    for t in ticks:
        x = _num(scale.x(t))
        parts.append(
            f'<line class="gl" x1="{x}" x2="{x}" y1="{_num(top)}" y2="{_num(bottom)}"/>'
            f'<text x="{x}" y="{_num(bottom + 15)}" text-anchor="middle">'
            f"{_text(_tick_label(t, step))}</text>"
        )
    parts.append("</g>")
    return parts


def _span_title(span: TimelineSpan) -> str:
    """Tooltip text of one span: label, then outcome/attempt/duration/times/thread, then detail."""
    lines = [
        _text(span.label, _LABEL_LIMIT),
        f"{_text(span.outcome)} · attempt {span.attempt}"
        f" · {_duration(max(0.0, span.end - span.start))}"
        f" · {span.start:.3f}–{span.end:.3f} s · {_text(span.thread, _LABEL_LIMIT)}",
    ]
    if span.detail:
        lines.append(_text(span.detail, _LABEL_LIMIT))
    return "\n".join(lines)


def _timeline_row(
    spans: list[TimelineSpan], scale: _Scale, palette: _Palette, y: float, merge: float
) -> list[str]:
    """One worker's row: wide spans as rects, narrow ones merged per aggregate bucket."""
    parts: list[str] = []
    buckets: dict[int, Counter[str]] = {}
    extent: dict[int, tuple[float, float]] = {}
    for span in spans:
        x0 = scale.x(span.start)
        x1 = scale.x(max(span.end, span.start))
        if x1 - x0 >= merge:
            parts.append(
                f'<rect x="{_num(x0)}" y="{_num(y)}" width="{_num(x1 - x0)}"'
                f' height="{_num(_ROW_HEIGHT)}" class="{palette.css_class[span.outcome]}">'
                f"<title>{_span_title(span)}</title></rect>"
            )
            continue
        index = int((x0 - _GUTTER) / merge)
        buckets.setdefault(index, Counter())[span.outcome] += 1
        low, high = extent.get(index, (span.start, span.end))
        extent[index] = (min(low, span.start), max(high, span.end))
    aggregates: list[str] = []
    for index in sorted(buckets):
        counts = buckets[index]
        total = sum(counts.values())
        low, high = extent[index]
        # Drawn over the time its spans really took (not the bucket's grid cell),
        # so consecutive work shows no false gaps and no false overlap.
        x = scale.x(low)
        width = max(_MIN_AGGREGATE_WIDTH, scale.x(high) - x)
        summary = " · ".join(f"{counts[n]} {_text(n)}" for n in palette.order if counts[n])
        aggregates.append(
            f'<g class="agg" data-n="{total}"><title>{total} spans,'
            f" {low:.3f}–{high:.3f} s\n{summary}</title>"
        )
        offset = 0.0
        for name in palette.order:
            if counts[name]:
                height = _ROW_HEIGHT * counts[name] / total
                aggregates.append(
                    f'<rect x="{_num(x)}" y="{_num(y + offset)}" width="{_num(width)}"'
                    f' height="{height:.2f}" class="{palette.css_class[name]}"/>'
                )
                offset += height
        aggregates.append("</g>")
    # Aggregates first: the rarer, wide spans stay on top and hoverable.
    return aggregates + parts


def _timeline_svg(data: ReportData, scale: _Scale, palette: _Palette) -> tuple[str, float]:
    """The timeline SVG and the merge width it used."""
    by_thread: dict[str, list[TimelineSpan]] = {}
    for span in data.spans:
        by_thread.setdefault(span.thread, []).append(span)
    threads = sorted(by_thread, key=_natural_key)
    # A row holds at most about _PLOT_WIDTH / merge separate spans and as many
    # aggregates, so this keeps the whole timeline near the budget.
    merge = max(MIN_SPAN_WIDTH, len(threads) * _PLOT_WIDTH / TIMELINE_BUDGET)
    rows_bottom = _TOP + len(threads) * _ROW_PITCH
    height = rows_bottom + _AXIS_HEIGHT
    parts = [
        f'<svg id="timeline" class="chart" viewBox="0 0 {_num(_VIEW_WIDTH)} {_num(height)}"'
        f' role="img" aria-label="timeline of {len(threads)} lanes">'
    ]
    for i in range(0, len(threads), 2):
        y = _TOP + i * _ROW_PITCH - (_ROW_PITCH - _ROW_HEIGHT) / 2
        parts.append(
            f'<rect class="band" x="0" y="{_num(y)}" width="{_num(_VIEW_WIDTH)}"'
            f' height="{_num(_ROW_PITCH)}"/>'
        )
    parts.extend(_time_axis(scale, _TOP - 4, rows_bottom))
    for i, thread in enumerate(threads):
        spans = by_thread[thread]
        y = _TOP + i * _ROW_PITCH
        busy = sum(max(0.0, s.end - s.start) for s in spans)
        share = f", busy {100 * busy / scale.seconds:.0f}%"
        parts.append(
            f'<g class="row" data-thread="{_text(thread)}">'
            f'<text class="lbl" x="{_num(_GUTTER - 8)}" y="{_num(y + _ROW_HEIGHT - 3)}"'
            f' text-anchor="end"><title>{_text(thread)}: {len(spans)} spans{share}</title>'
            f"{_text(thread, _NAME_LIMIT)}</text>"
        )
        parts.extend(_timeline_row(spans, scale, palette, y, merge))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts), merge


def _throughput_svg(data: ReportData, scale: _Scale, palette: _Palette) -> tuple[str, float]:
    """Stacked bars of URLs finished per time bucket; returns the SVG and the bucket width."""
    width = _nice_step(scale.seconds, _THROUGHPUT_BUCKETS)
    bucket_count = max(1, math.ceil(scale.seconds / width - 1e-9))
    bars: list[Counter[str]] = [Counter() for _ in range(bucket_count)]
    for span in data.spans:
        if span.outcome in COMPLETION_OUTCOMES:
            index = min(bucket_count - 1, max(0, int(span.end / width)))
            bars[index][span.outcome] += 1
    peak = max((sum(bar.values()) for bar in bars), default=0)
    y_step = max(1.0, _nice_step(peak, 4)) if peak else 1.0
    y_max = max(y_step, math.ceil(peak / y_step) * y_step)
    top, bottom = 10.0, 10.0 + _THROUGHPUT_HEIGHT
    height = bottom + _AXIS_HEIGHT

    def y_of(count: float) -> float:
        return bottom - count / y_max * _THROUGHPUT_HEIGHT

    parts = [
        f'<svg id="throughput" class="chart" viewBox="0 0 {_num(_VIEW_WIDTH)} {_num(height)}"'
        f' role="img" aria-label="URLs finished per {_text(_duration(width))}">'
    ]
    parts.extend(_time_axis(scale, top, bottom))
    parts.append('<g class="axis">')
    for i in range(int(y_max / y_step + 1e-9) + 1):
        value = i * y_step
        y = _num(y_of(value))
        parts.append(
            f'<line class="gl" x1="{_num(_GUTTER)}" x2="{_num(_VIEW_WIDTH - _RIGHT)}"'
            f' y1="{y}" y2="{y}"/><text x="{_num(_GUTTER - 8)}" y="{y}" dy="4"'
            f' text-anchor="end">{value:g}</text>'
        )
    parts.append("</g>")
    for index, bar in enumerate(bars):
        total = sum(bar.values())
        if not total:
            continue
        start = index * width
        x0 = scale.x(start)
        bar_width = max(0.5, scale.x(start + width) - x0 - 1)
        summary = " · ".join(f"{bar[n]} {_text(n)}" for n in COMPLETION_OUTCOMES if bar[n])
        parts.append(
            f'<g class="bar" data-n="{total}"><title>{start:g}–{start + width:g} s:'
            f" {summary} ({total / width:.1f}/s)</title>"
        )
        level = 0
        for name in COMPLETION_OUTCOMES:
            if bar[name]:
                y1 = y_of(level)
                level += bar[name]
                y0 = y_of(level)
                parts.append(
                    f'<rect x="{_num(x0)}" y="{y0:.2f}" width="{_num(bar_width)}"'
                    f' height="{y1 - y0:.2f}" class="{palette.css_class[name]}"/>'
                )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts), width


def _share_bar(share: float, css_class: str) -> str:
    width = _num(100 * share)
    return (
        '<svg class="share" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect width="{width}" height="8" class="{css_class}"/></svg>'
    )


def _states_table(counts: Mapping[str, int], palette: _Palette) -> str:
    states = list(_STATES) + sorted(set(counts) - set(_STATES))
    total = sum(counts.get(s, 0) for s in states)
    rows = []
    for state in states:
        count = counts.get(state, 0)
        share = count / total if total else 0.0
        rows.append(
            f'<tr data-state="{_text(state)}"><td>{_text(state)}</td><td class="n">{count:,}</td>'
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


def _reasons_table(reasons: Sequence[tuple[str, int]]) -> str:
    if not reasons:
        return '<p class="note">No errors.</p>'
    rows = "".join(
        f'<tr><td class="n">{count:,}</td><td class="reason">{_text(reason, 500)}</td></tr>'
        for reason, count in reasons
    )
    return (
        '<table id="reasons"><thead><tr><th class="n">URLs</th><th>reason</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _hosts_table(hosts: Sequence[tuple[str, int, int]]) -> str:
    rows = "".join(
        f'<tr><td class="reason">{_text(host)}</td><td class="n">{done:,}</td>'
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
        f'<tr><th>{_text(key)}</th><td class="reason">{_text(value)}</td></tr>'
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
    palette = _Palette(outcomes | set(COMPLETION_OUTCOMES) | set(_STATES) | set(data.counts))
    run_end = max((max(s.start, s.end) for s in data.spans), default=0.0)
    scale = _Scale(max(data.elapsed, run_end, 1e-3))
    finished = data.finished
    if finished is None:
        finished = sum(1 for span in data.spans if span.outcome in COMPLETION_OUTCOMES)
    rate = finished / data.elapsed if data.elapsed > 0 else 0.0
    total = sum(data.counts.values())
    threads = len({span.thread for span in data.spans})

    started = data.started_at.isoformat(sep=" ", timespec="seconds")
    cards = [("URLs", total, "pending")] + [
        (state, data.counts.get(state, 0), state) for state in _STATES
    ]
    card_html = "".join(
        f'<div class="card" id="card-{_text(key)}" data-colour="{_text(colour)}">'
        f'<span class="v">{value:,}</span><span class="k">{_text(key)}</span></div>'
        for key, value, colour in cards
    )
    # The card borders take their outcome colour from a per-report rule.
    style_cards = "".join(
        f'.card[data-colour="{state}"]{{border-left-color:{palette.colour[state]}}}\n'
        for state in _STATES
    )
    style = STYLE + palette.style() + style_cards
    csp = (
        f"default-src 'none'; style-src {_sha256(style)}; script-src {_sha256(SCRIPT)};"
        " base-uri 'none'; form-action 'none'"
    )

    if data.spans:
        timeline, merge = _timeline_svg(data, scale, palette)
        timeline_note = (
            '<p class="note">One row per lane (a worker thread, or one request in flight'
            " at a time for the fetch stage); one bar per attempt, coloured by"
            f" outcome. Spans under {merge:.3g} px are merged into stacked bars that keep"
            ' their counts. <span class="js-only">Hover a bar for its URL, attempt and'
            " duration.</span></p>"
        )
        throughput, bucket = _throughput_svg(data, scale, palette)
        throughput_note = (
            f'<p class="note">URLs finished (done or failed) per {_text(_duration(bucket))},'
            " by the time their last attempt ended.</p>"
        )
    else:
        timeline = '<p class="note">No work was recorded in this run.</p>'
        timeline_note = ""
        throughput, throughput_note = "", ""
    hosts = (
        f'<section class="after"><h2>Hosts</h2>{_hosts_table(data.hosts)}</section>'
        if data.hosts
        else ""
    )
    body = f"""<main>
<h1>{_text(data.title)}</h1>
<p class="meta">started <b>{_text(started)}</b> · elapsed <b>{_text(_duration(data.elapsed))}</b>
· <b id="rate">{rate:,.1f}</b> docs/s · <b id="bytes">{_text(human_bytes(data.bytes_total))}</b>
stored · <b>{threads}</b> lanes</p>
<div class="cards">{card_html}</div>
<section><h2>Timeline</h2>{palette.legend(outcomes)}{timeline}{timeline_note}</section>
<section><h2>Throughput</h2>{throughput}{throughput_note}</section>
<div class="grid2">
<section><h2>States</h2>{_states_table(data.counts, palette)}</section>
<section><h2>Top error reasons</h2>{_reasons_table(data.error_reasons)}</section>
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
<title>{_text(data.title)}</title>
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
