"""``threadloom demo``: its summary and report carry its own title and say that the
documents were processed as XML."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from threadloom.cli import main


def test_demo_summary_shows_processing_under_its_own_title(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--documents", "12", "--latency", "0", "--out-dir", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    stdout = result.stdout
    assert "threadloom demo: 12 XML documents, 4 at a time" in stdout
    assert "threadloom fetch" not in stdout
    assert "processed 12 (xml)" in " ".join(stdout.split())
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<h1>threadloom demo: 12 XML documents, 4 at a time</h1>" in html
    assert "processed 12 (xml)" in html
