"""A run with nothing to fetch says so (summary, progress, report); an input without a
single URL is a warning, not silence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_a_resumed_run_with_nothing_left_says_so(tmp_path: Path, server: FaultServer) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/docs/{n}.xml") + "\n" for n in range(6)))
    store = str(tmp_path / "s.db")
    runner = CliRunner()
    assert runner.invoke(main, ["fetch", "-q", "-o", store, str(urls)]).exit_code == 0
    report = tmp_path / "again.html"
    again = runner.invoke(main, ["fetch", "-o", store, "--report", str(report), str(urls)])
    assert again.exit_code == 0, again.output
    text = one_line(again.output)
    assert "nothing to fetch: 6 of 6 already done" in text
    assert "docs/s" not in text, "no speed for a run that fetched nothing"
    assert "/?" not in again.stderr, "no progress line with an unknown total"
    assert again.stderr == ""
    html = report.read_text(encoding="utf-8")
    assert 'id="headline">nothing to fetch: 6 of 6 already done' in html
    assert not re.search(r"<b>\d+</b> lanes", html), "no lane count for a run without work"
    assert 'id="rate"' not in html
    assert "Nothing was fetched in this run." in html
    assert '<svg id="throughput"' not in html, "no empty throughput chart"


@pytest.mark.parametrize("content", ["", "\n\n# only a comment\n"])
def test_an_input_without_urls_is_a_warning(tmp_path: Path, content: str) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(content)
    result = CliRunner().invoke(main, ["fetch", "-o", str(tmp_path / "s.db"), str(urls)])
    assert result.exit_code == 0
    assert result.stderr == f"threadloom: {urls}: no URLs in the list\n"
    assert "nothing to fetch: no URLs in" in one_line(result.stdout)
    quiet = CliRunner().invoke(main, ["fetch", "-q", "-o", str(tmp_path / "s.db"), str(urls)])
    assert quiet.stderr == f"threadloom: {urls}: no URLs in the list\n", "-q keeps warnings"
    assert quiet.stdout == ""


def test_stdin_without_urls_is_a_warning(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["fetch", "-o", str(tmp_path / "s.db"), "-"], input="")
    assert result.exit_code == 0
    assert result.stderr == "threadloom: stdin: no URLs in the list\n"


def test_urls_already_in_the_store_are_not_an_empty_list(
    tmp_path: Path, server: FaultServer
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(server.url("/docs/1.xml") + "\nnot a url\n")
    store = str(tmp_path / "s.db")
    CliRunner().invoke(main, ["fetch", "-q", "-o", store, str(urls)])
    again = CliRunner().invoke(main, ["fetch", "-q", "-o", store, str(urls)])
    assert again.stderr == ""
