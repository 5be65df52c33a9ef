"""The SVG charts of the HTML report: the timeline of every lane and the throughput.

Split from ``_report`` (which lays out the page): the charts, their scales, palette and
the text helpers both use. See ``_report``'s docstring for the merge width that keeps
the timeline's size bounded.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


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


COMPLETION_OUTCOMES = ("done", "failed")
"""Span outcomes that finish a URL: the throughput chart counts these by end time."""

MIN_SPAN_WIDTH = 2.0
"""The smallest merge width, in SVG units (a timeline row is about 1,000 units wide)."""

TIMELINE_BUDGET = 12_000
"""Rows times bars per row the timeline aims to stay under (each bar is about 100-200 bytes)."""

STATES = ("done", "failed", "invalid", "pending")
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


def esc(value: object, limit: int | None = None) -> str:
    """``value`` as HTML/XML-safe text (quotes escaped too), cut to ``limit`` characters."""
    text = _UNSAFE_CHARS.sub("\ufffd", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=True)


def num(value: float) -> str:
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


def duration(seconds: float) -> str:
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


def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly this inline style or script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


class Palette:
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
            f' class="{self.css_class[n]}"/></svg>{esc(n)}</li>'
            for n in self.order
            if n in shown
        )
        return f'<ul class="legend">{items}</ul>'


@dataclass(frozen=True, slots=True)
class Scale:
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


def _time_axis(scale: Scale, top: float, bottom: float) -> list[str]:
    """Vertical grid lines from ``top`` to ``bottom`` and time labels under them."""
    step, ticks = scale.ticks()
    right = num(_VIEW_WIDTH - _RIGHT)
    parts = [
        f'<g class="axis"><line class="ax" x1="{num(_GUTTER)}" x2="{right}"'
        f' y1="{num(bottom)}" y2="{num(bottom)}"/>'
    ]
    for t in ticks:
        x = num(scale.x(t))
        parts.append(
            f'<line class="gl" x1="{x}" x2="{x}" y1="{num(top)}" y2="{num(bottom)}"/>'
            f'<text x="{x}" y="{num(bottom + 15)}" text-anchor="middle">'
            f"{esc(_tick_label(t, step))}</text>"
        )
    parts.append("</g>")
    return parts


def _count_scale(peak: float) -> tuple[float, float]:
    """A count axis for values up to ``peak``: (step between labels, top of the axis),
    about four whole-number steps; (1, 1) for nothing to show."""
    step = max(1.0, _nice_step(peak, 4)) if peak else 1.0
    return step, max(step, math.ceil(peak / step) * step)


def _count_axis(
    y_step: float, y_max: float, y_of: Callable[[float], float], *, grid: bool
) -> list[str]:
    """Labels of a count axis left of the plot (and horizontal grid lines with ``grid``)."""
    parts = ['<g class="axis">']
    for i in range(int(y_max / y_step + 1e-9) + 1):
        value = i * y_step
        y = num(y_of(value))
        line = (
            f'<line class="gl" x1="{num(_GUTTER)}" x2="{num(_VIEW_WIDTH - _RIGHT)}"'
            f' y1="{y}" y2="{y}"/>'
            if grid
            else ""
        )
        parts.append(
            f'{line}<text x="{num(_GUTTER - 8)}" y="{y}" dy="4" text-anchor="end">{value:g}</text>'
        )
    parts.append("</g>")
    return parts


def _span_title(span: TimelineSpan) -> str:
    """Tooltip text of one span: label, then outcome/attempt/duration/times/thread, then detail."""
    lines = [
        esc(span.label, _LABEL_LIMIT),
        f"{esc(span.outcome)} · attempt {span.attempt}"
        f" · {duration(max(0.0, span.end - span.start))}"
        f" · {span.start:.3f}–{span.end:.3f} s · {esc(span.thread, _LABEL_LIMIT)}",
    ]
    if span.detail:
        lines.append(esc(span.detail, _LABEL_LIMIT))
    return "\n".join(lines)


def _timeline_row(
    spans: list[TimelineSpan], scale: Scale, palette: Palette, y: float, merge: float
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
                f'<rect x="{num(x0)}" y="{num(y)}" width="{num(x1 - x0)}"'
                f' height="{num(_ROW_HEIGHT)}" class="{palette.css_class[span.outcome]}">'
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
        summary = " · ".join(f"{counts[n]} {esc(n)}" for n in palette.order if counts[n])
        aggregates.append(
            f'<g class="agg" data-n="{total}"><title>{total} spans,'
            f" {low:.3f}–{high:.3f} s\n{summary}</title>"
        )
        offset = 0.0
        for name in palette.order:
            if counts[name]:
                height = _ROW_HEIGHT * counts[name] / total
                aggregates.append(
                    f'<rect x="{num(x)}" y="{num(y + offset)}" width="{num(width)}"'
                    f' height="{height:.2f}" class="{palette.css_class[name]}"/>'
                )
                offset += height
        aggregates.append("</g>")
    # Aggregates first: the rarer, wide spans stay on top and hoverable.
    return aggregates + parts


def timeline_svg(
    spans: Sequence[TimelineSpan], scale: Scale, palette: Palette
) -> tuple[str, float]:
    """The timeline SVG and the merge width it used."""
    by_thread: dict[str, list[TimelineSpan]] = {}
    for span in spans:
        by_thread.setdefault(span.thread, []).append(span)
    threads = sorted(by_thread, key=_natural_key)
    # A row holds at most about _PLOT_WIDTH / merge separate spans and as many
    # aggregates, so this keeps the whole timeline near the budget.
    merge = max(MIN_SPAN_WIDTH, len(threads) * _PLOT_WIDTH / TIMELINE_BUDGET)
    rows_bottom = _TOP + len(threads) * _ROW_PITCH
    height = rows_bottom + _AXIS_HEIGHT
    parts = [
        f'<svg id="timeline" class="chart" viewBox="0 0 {num(_VIEW_WIDTH)} {num(height)}"'
        f' role="img" aria-label="timeline of {len(threads)} lanes">'
    ]
    for i in range(0, len(threads), 2):
        y = _TOP + i * _ROW_PITCH - (_ROW_PITCH - _ROW_HEIGHT) / 2
        parts.append(
            f'<rect class="band" x="0" y="{num(y)}" width="{num(_VIEW_WIDTH)}"'
            f' height="{num(_ROW_PITCH)}"/>'
        )
    parts.extend(_time_axis(scale, _TOP - 4, rows_bottom))
    for i, thread in enumerate(threads):
        row_spans = by_thread[thread]
        y = _TOP + i * _ROW_PITCH
        busy = sum(max(0.0, s.end - s.start) for s in row_spans)
        share = f", busy {100 * busy / scale.seconds:.0f}%"
        parts.append(
            f'<g class="row" data-thread="{esc(thread)}">'
            f'<text class="lbl" x="{num(_GUTTER - 8)}" y="{num(y + _ROW_HEIGHT - 3)}"'
            f' text-anchor="end"><title>{esc(thread)}: {len(row_spans)} spans{share}</title>'
            f"{esc(thread, _NAME_LIMIT)}</text>"
        )
        parts.extend(_timeline_row(row_spans, scale, palette, y, merge))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts), merge


def throughput_svg(
    spans: Sequence[TimelineSpan], scale: Scale, palette: Palette
) -> tuple[str, float]:
    """Stacked bars of URLs finished per time bucket; returns the SVG and the bucket width."""
    width = _nice_step(scale.seconds, _THROUGHPUT_BUCKETS)
    bucket_count = max(1, math.ceil(scale.seconds / width - 1e-9))
    bars: list[Counter[str]] = [Counter() for _ in range(bucket_count)]
    for span in spans:
        if span.outcome in COMPLETION_OUTCOMES:
            index = min(bucket_count - 1, max(0, int(span.end / width)))
            bars[index][span.outcome] += 1
    peak = max((sum(bar.values()) for bar in bars), default=0)
    y_step, y_max = _count_scale(peak)
    top, bottom = 10.0, 10.0 + _THROUGHPUT_HEIGHT
    height = bottom + _AXIS_HEIGHT

    def y_of(count: float) -> float:
        return bottom - count / y_max * _THROUGHPUT_HEIGHT

    parts = [
        f'<svg id="throughput" class="chart" viewBox="0 0 {num(_VIEW_WIDTH)} {num(height)}"'
        f' role="img" aria-label="URLs finished per {esc(duration(width))}">'
    ]
    parts.extend(_time_axis(scale, top, bottom))
    parts.extend(_count_axis(y_step, y_max, y_of, grid=True))
    for index, bar in enumerate(bars):
        total = sum(bar.values())
        if not total:
            continue
        start = index * width
        x0 = scale.x(start)
        bar_width = max(0.5, scale.x(start + width) - x0 - 1)
        summary = " · ".join(f"{bar[n]} {esc(n)}" for n in COMPLETION_OUTCOMES if bar[n])
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
                    f'<rect x="{num(x0)}" y="{y0:.2f}" width="{num(bar_width)}"'
                    f' height="{y1 - y0:.2f}" class="{palette.css_class[name]}"/>'
                )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts), width


_LIMITS_HEIGHT = 120.0
_LIMIT_HOSTS = 8
"""Hosts drawn in the per-host limit chart: those whose limit changed most."""
_LIMIT_COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def limits_svg(changes: Sequence[tuple[float, str, int]], scale: Scale) -> str:
    """A step line per host of its limit over time (``(seconds, host, limit)`` in time
    order), for the :data:`_LIMIT_HOSTS` hosts with the most changes."""
    by_host: dict[str, list[tuple[float, int]]] = {}
    for t, host, limit in changes:
        by_host.setdefault(host, []).append((t, limit))
    hosts = sorted(by_host, key=lambda h: (-len(by_host[h]), h))[:_LIMIT_HOSTS]
    peak = max((limit for h in hosts for _, limit in by_host[h]), default=1)
    y_step, y_max = _count_scale(peak)
    top, bottom = 10.0, 10.0 + _LIMITS_HEIGHT

    def y_of(value: float) -> float:
        return bottom - value / y_max * _LIMITS_HEIGHT

    parts = [
        f'<svg id="limits" class="chart" viewBox="0 0 {num(_VIEW_WIDTH)}'
        f' {num(bottom + _AXIS_HEIGHT)}" role="img" aria-label="per-host limit over time">'
    ]
    parts.extend(_time_axis(scale, top, bottom))
    parts.extend(_count_axis(y_step, y_max, y_of, grid=False))
    end = scale.x(scale.seconds)
    for index, host in enumerate(hosts):
        points: list[str] = []
        previous: int | None = None
        for t, limit in by_host[host]:
            x = scale.x(t)
            if previous is not None:
                points.append(f"{num(x)},{num(y_of(previous))}")
            points.append(f"{num(x)},{num(y_of(limit))}")
            previous = limit
        if previous is not None:
            points.append(f"{num(end)},{num(y_of(previous))}")
        colour = _LIMIT_COLOURS[index % len(_LIMIT_COLOURS)]
        parts.append(
            f'<polyline class="limit" fill="none" stroke="{colour}" stroke-width="1.5"'
            f' points="{" ".join(points)}"><title>{esc(host)}:'
            f" {len(by_host[host])} changes, last {previous}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)
