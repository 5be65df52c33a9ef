"""The HTML report of a fetch run: structure, escaping, size, and a real headless Chromium."""

from __future__ import annotations

import heapq
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import zlib
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from threadloom.jobs._report import (
    ReportData,
    TimelineSpan,
    render_report,
    write_report,
)
from threadloom.jobs._report_assets import SCRIPT

HOSTILE = (
    "http://h.example/</script><script>document.documentElement"
    ".setAttribute('data-pwned','1')</script>",
    'http://h.example/"><svg onload="alert(1)"><img src=x onerror=alert(2)>',
    "http://h.example/</title></svg><iframe src=//evil.example></iframe>&amp;\x00\x07\ud800",
)


def _simulate(
    n: int, workers: int = 8, seed: int = 1, mean: float = 0.02, hostile: bool = False
) -> ReportData:
    """A run of ``n`` URLs on ``workers`` threads: lognormal latency, some retries and failures."""
    rng = random.Random(seed)
    free = [(0.0, f"fetch-{i}") for i in range(workers)]
    heapq.heapify(free)
    spans: list[TimelineSpan] = []
    counts = Counter({"done": 0, "failed": 0, "invalid": 2, "pending": 0})
    for k in range(n):
        url = HOSTILE[k % len(HOSTILE)] if hostile and k % 50 == 0 else f"http://a.test/{k}.xml"
        attempt = 1
        while True:
            start, thread = heapq.heappop(free)
            end = start + rng.lognormvariate(0, 0.8) * mean
            roll = rng.random()
            outcome = (
                "done" if roll > 0.06 else "retry" if roll > 0.02 and attempt < 3 else "failed"
            )
            detail = None if outcome == "done" else "HTTP 503 Service Unavailable"
            spans.append(TimelineSpan(thread, start, end, url, outcome, attempt, detail))
            heapq.heappush(free, (end, thread))
            if outcome != "retry":
                counts[outcome] += 1
                break
            attempt += 1
    return ReportData(
        title="threadloom fetch urls.txt",
        started_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        elapsed=max(s.end for s in spans) + 0.01,
        spans=spans,
        counts=dict(counts),
        error_reasons=[("HTTP 503 Service Unavailable", counts["failed"]), ("not a URL", 2)],
        bytes_total=n * 2048,
        settings={"jobs": str(workers), "per-host": "4", "store": "threadloom.db"},
        hosts=[("a.test", counts["done"], counts["failed"])],
    )


class _Tree(HTMLParser):
    """Every start tag with its attributes, script bodies, and all text (entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def _parse(page: str) -> _Tree:
    tree = _Tree()
    tree.feed(page)
    tree.close()
    return tree


def _svg(page: str, svg_id: str) -> ElementTree.Element:
    """The inline SVG with this id, parsed as XML (which it must be, escaping included)."""
    match = re.search(rf'<svg id="{svg_id}".*?</svg>', page, re.DOTALL)
    assert match, f"no <svg id={svg_id!r}> in the report"
    return ElementTree.fromstring(match.group(0))


def _rows(timeline: ElementTree.Element) -> list[ElementTree.Element]:
    return [g for g in timeline.iter("g") if g.get("class") == "row"]


def test_one_row_per_thread_in_natural_order_and_a_rect_per_wide_span() -> None:
    threads = ["w-10", "w-2", "w-1", "other"]
    spans = [
        TimelineSpan(t, i * 1.0, i * 1.0 + 0.8, f"http://a.test/{t}/{i}", "done", 1, None)
        for t in threads
        for i in range(3)
    ]
    spans.append(TimelineSpan("w-2", 3.0, 3.5, "http://a.test/x", "timeout", 2, "stalled"))
    data = ReportData(
        title="t",
        started_at=datetime(2025, 1, 1),
        elapsed=4.0,
        spans=spans,
        counts={"done": 12, "failed": 1},
        error_reasons=[("stalled", 1)],
        bytes_total=1,
        settings={},
    )
    page = render_report(data)
    rows = _rows(_svg(page, "timeline"))
    assert [row.get("data-thread") for row in rows] == ["other", "w-1", "w-2", "w-10"]
    for row in rows:
        rects = row.findall("rect")
        expected = 4 if row.get("data-thread") == "w-2" else 3
        assert len(rects) == expected
        for rect in rects:
            title = rect.findtext("title") or ""
            assert title.startswith("http://a.test/")
            assert "attempt" in title
    # An outcome the report does not know still gets a colour of its own and a legend entry.
    timeout_rect = next(
        r for r in _svg(page, "timeline").iter("rect") if "stalled" in (r.findtext("title") or "")
    )
    css_class = timeout_rect.get("class")
    style = "".join(_parse(page).styles)
    fills = dict(re.findall(r"\.(o\d+)\{fill:(#[0-9a-f]{6})\}", style))
    assert fills[css_class] not in {v for k, v in fills.items() if k != css_class}
    assert ">timeout</li>" in page


def test_counts_table_and_header_figures() -> None:
    data = _simulate(300, workers=4)
    page = render_report(data)
    table = re.search(r'<table id="states">.*?</table>', page, re.DOTALL)
    assert table
    cells = dict(
        re.findall(r'<tr data-state="(\w+)">.*?<t[dh] class="n">([\d,]+)</t[dh]>', table.group(0))
    )
    total = sum(data.counts.values())
    assert {k: int(v.replace(",", "")) for k, v in cells.items()} == {**data.counts, "total": total}
    for state, count in data.counts.items():
        share = f"{100 * count / total:.1f}%"
        assert re.search(rf'<tr data-state="{state}">.*?{re.escape(share)}', table.group(0))
    finished = sum(1 for s in data.spans if s.outcome in ("done", "failed"))
    assert f'<b id="rate">{finished / data.elapsed:,.1f}</b>' in page
    assert '<b id="bytes">600.0 KiB</b>' in page
    # The throughput bars count exactly the finished URLs.
    bars = [g for g in _svg(page, "throughput").iter("g") if g.get("class") == "bar"]
    assert sum(int(g.get("data-n", "0")) for g in bars) == finished


def test_hostile_strings_are_escaped_everywhere() -> None:
    data = _simulate(200, workers=3, hostile=True, mean=0.5)
    hostile_fields = ReportData(
        title=HOSTILE[0],
        started_at=data.started_at,
        elapsed=data.elapsed,
        spans=[
            *data.spans,
            TimelineSpan(HOSTILE[1], 0.0, data.elapsed, HOSTILE[2], HOSTILE[0], 1, HOSTILE[1]),
        ],
        counts={**data.counts, HOSTILE[1]: 1},
        error_reasons=[(h, 1) for h in HOSTILE],
        bytes_total=0,
        settings={HOSTILE[0]: HOSTILE[1]},
        hosts=[(HOSTILE[2], 1, 1)],
    )
    page = render_report(hostile_fields)
    tree = _parse(page)
    assert tree.scripts == [SCRIPT]
    tags = {tag for tag, _ in tree.tags}
    assert not tags & {"img", "iframe", "object", "embed", "link", "base", "form"}
    for tag, attrs in tree.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
    text = "".join(tree.text)
    # The payloads are shown as text (NUL, BEL and the lone surrogate replaced), not run.
    assert HOSTILE[0] in text
    assert HOSTILE[1] in text
    assert "http://h.example/</title></svg><iframe src=//evil.example></iframe>&amp;" in text
    assert "\x00" not in page
    assert "\ufffd" in text
    # Both SVGs are well-formed XML and hold no foreign elements.
    for svg_id in ("timeline", "throughput"):
        svg = _svg(page, svg_id)
        assert {el.tag for el in svg.iter()} <= {"svg", "g", "rect", "line", "text", "title"}
    page.encode("utf-8")  # lone surrogates were replaced, so the file can be written


def test_no_external_references() -> None:
    page = render_report(_simulate(100, hostile=True))
    tree = _parse(page)
    for tag, attrs in tree.tags:
        for name, value in attrs.items():
            assert name not in {"src", "href", "xlink:href", "action", "srcset", "poster"}, tag
            if tag != "meta":
                assert "://" not in (value or ""), (tag, name, value)
    style = "".join(tree.styles)
    assert "url(" not in style
    assert "@import" not in style
    csp = next(
        a["content"] for t, a in tree.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp
    assert csp.startswith("default-src 'none';")
    assert "unsafe-inline" not in csp


def test_fifty_thousand_spans_are_merged_and_counted() -> None:
    data = _simulate(48_000, workers=16, mean=0.003)
    assert len(data.spans) >= 50_000
    page = render_report(data)
    size = len(page.encode("utf-8"))
    assert size < 3_000_000, f"{size} bytes for {len(data.spans)} spans"
    timeline = _svg(page, "timeline")
    rows = _rows(timeline)
    assert len(rows) == 16
    drawn = sum(len(row.findall("rect")) for row in rows)
    merged = sum(
        int(g.get("data-n", "0"))
        for row in rows
        for g in row.findall("g")
        if g.get("class") == "agg"
    )
    assert merged > 0
    assert drawn + merged == len(data.spans)


def test_run_without_spans_still_renders() -> None:
    data = ReportData(
        title="nothing to do",
        started_at=datetime(2025, 1, 1),
        elapsed=0.0,
        spans=[],
        counts={"done": 5},
        error_reasons=[],
        bytes_total=0,
        settings={"store": "x.db"},
    )
    page = render_report(data)
    assert 'id="timeline"' not in page
    assert "No work was recorded in this run." in page
    assert "No errors." in page
    assert '<b id="rate">0.0</b>' in page


def test_write_report_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    data = _simulate(50)
    write_report(data, target)
    assert target.read_text(encoding="utf-8") == render_report(data)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    with pytest.raises(FileNotFoundError):
        write_report(data, tmp_path / "missing" / "report.html")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --- a real browser -----------------------------------------------------------------------------


def _chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but `chromium` is not on PATH (.ci/run installs Debian's chromium)")
    pytest.skip("`chromium` is not on PATH (apt-get install chromium); CI=true makes this fail")


def _run_chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[bytes]:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1400,1000",
        *args,
    ]
    # A session of its own, so a hung browser is ended with all its helper processes.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as process:
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"chromium did not finish within 60 s: {command}")
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.fixture(scope="module")
def browser_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportData]:
    tmp = tmp_path_factory.mktemp("report")
    data = _simulate(2_000, workers=8, mean=0.01, hostile=True)
    path = tmp / "report.html"
    write_report(data, path)
    return path, data


def _png_pixels(png: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, bytes per pixel and the raw pixels of an 8-bit RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, depth
    assert colour in (2, 6), colour
    assert interlace == 0, interlace
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        out += line
        prev = line
    return width, height, bpp, bytes(out)


def test_chromium_renders_the_report_dom(
    browser_report: tuple[Path, ReportData], tmp_path: Path
) -> None:
    path, data = browser_report
    dom = _run_chromium(["--dump-dom", path.as_uri()], tmp_path).stdout.decode()
    assert re.search(r'<html[^>]*data-js="ready"', dom), "the inline script did not run (CSP?)"
    assert not re.search(r"<html[^>]*data-pwned", dom), "a hostile URL ran a script"
    assert '<svg id="timeline"' in dom
    assert '<svg id="throughput"' in dom
    assert dom.count('<g class="row"') == 8
    assert f'<span class="v">{data.counts["done"]:,}</span>' in dom
    assert f'<span class="v">{data.counts["failed"]:,}</span>' in dom
    assert not re.search(r"<(img|iframe)\b", dom)


def test_chromium_screenshot_is_not_blank(
    browser_report: tuple[Path, ReportData], tmp_path: Path
) -> None:
    path, _ = browser_report
    shot = tmp_path / "shot.png"
    _run_chromium([f"--screenshot={shot}", path.as_uri()], tmp_path)
    png = shot.read_bytes()
    assert len(png) > 20_000
    width, height, bpp, pixels = _png_pixels(png)
    assert (width, height) == (1400, 1000)
    colours = Counter(pixels[i : i + 3] for i in range(0, len(pixels), bpp * 7))
    assert len(colours) > 20
    # The outcome colours come from the style sheet, so seeing them proves the CSS
    # (allowed by its CSP hash) applied and the SVG timeline painted.
    done, failed = bytes.fromhex("2da44e"), bytes.fromhex("cf222e")
    assert colours[done] > 500, colours.most_common(8)
    assert colours[failed] > 5, colours.most_common(8)
