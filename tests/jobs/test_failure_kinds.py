"""The summary, the HTML report and ``threadloom status`` agree on every kind of problem:
failed, invalid, processing failed, pending (an interrupted run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer

KINDS = ("failed", "invalid", "processing failed", "pending")
_ROW = re.compile(r"^\s*(done|failed|invalid|pending|processing failed)\s*[│┃|]\s*(\d+)", re.M)


def table_counts(output: str) -> dict[str, int]:
    """The counts of a rich table's rows (the summary's or status's)."""
    return {name: int(count) for name, count in _ROW.findall(output)}


def report_counts(html: str) -> dict[str, int]:
    """The report's problems table, checked against its cards."""
    rows = re.findall(r'<tr data-problem="([^"]+)"><td>[^<]*</td><td class="n">([\d,]+)<', html)
    counts = {kind: int(count.replace(",", "")) for kind, count in rows}
    cards = dict(
        re.findall(r'<div class="card" id="card-([\w-]+)"[^>]*><span class="v">([\d,]+)<', html)
    )
    for kind in ("failed", "invalid", "pending"):
        assert int(cards[kind].replace(",", "")) == counts[kind], (kind, cards)
    if counts["processing failed"]:
        assert int(cards["process-failed"]) == counts["processing failed"]
    else:
        assert "process-failed" not in cards
    return counts


def status_counts(store: str) -> tuple[dict[str, int], dict[str, int]]:
    """``status``'s table and its --json, by kind."""
    table = CliRunner().invoke(main, ["status", store])
    assert table.exit_code == 0, table.output
    fields = json.loads(CliRunner().invoke(main, ["status", "--json", store]).output)
    as_json = {kind: fields[kind] for kind in ("failed", "invalid", "pending")}
    as_json["processing failed"] = fields["process_failed"]
    return table_counts(table.output), as_json


def assert_agree(summary_out: str, report: Path, store: str, expected: dict[str, int]) -> None:
    summary = table_counts(summary_out)
    from_report = report_counts(report.read_text(encoding="utf-8"))
    from_status, from_json = status_counts(store)
    for kind in KINDS:
        shown = (summary.get(kind, 0), from_report[kind], from_status.get(kind, 0), from_json[kind])
        assert shown == (expected[kind],) * 4, (kind, shown)


def test_summary_report_and_status_agree_on_every_failure_kind(
    tmp_path: Path, server: FaultServer
) -> None:
    lines = [server.url(f"/docs/{n}.xml") for n in range(5)]
    lines += [server.url("/status/404"), server.url("/status/410")]  # fetch failures
    lines += ["not a url", "ftp://127.0.0.1/x"]  # invalid lines
    lines += [server.url(f"/bytes?size={n}") for n in (10, 20, 30)]  # not XML: processing fails
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    store = str(tmp_path / "s.db")
    report = tmp_path / "report.html"
    args = ["fetch", "--retries", "0", "--process", "xml", "--report", str(report)]
    result = CliRunner().invoke(main, [*args, "-o", store, str(urls)])
    assert result.exit_code == 1, result.output
    expected = {"failed": 2, "invalid": 2, "processing failed": 3, "pending": 0}
    assert_agree(result.output, report, store, expected)
    html = report.read_text(encoding="utf-8")
    assert "No errors." not in html
    assert "XML parse error" in html, "the processing reasons are listed"
    assert "processing failed for 3" in " ".join(result.output.split())


def test_they_agree_on_pending_urls_of_an_interrupted_run(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C as the user sends it: SIGINT to the process, from a processing call.
    (tmp_path / "interrupter.py").write_text(
        "import os, signal\n"
        "def check(response):\n"
        "    if response.url.endswith('/docs/3.xml'):\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return 1\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/docs/{n}.xml") + "\n" for n in range(40)))
    store = str(tmp_path / "s.db")
    report = tmp_path / "report.html"
    args = ["fetch", "-j", "1", "--process", "interrupter:check", "--report", str(report)]
    result = CliRunner().invoke(main, [*args, "-o", store, str(urls)])
    assert result.exit_code == 130, result.output
    pending = json.loads(CliRunner().invoke(main, ["status", "--json", store]).output)["pending"]
    assert pending >= 1
    expected = {"failed": 0, "invalid": 0, "processing failed": 0, "pending": pending}
    assert_agree(result.output, report, store, expected)
    assert "interrupted" in report.read_text(encoding="utf-8")
