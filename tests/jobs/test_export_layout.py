"""End to end: ``threadloom fetch`` then ``threadloom export --format dir --layout
host-path``: wget-style HOST/PATH files; flat stays the default."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from threadloom.cli import main
from threadloom.server import FaultServer, document


def fetch(tmp_path: Path, urls: list[str]) -> Path:
    (tmp_path / "urls.txt").write_text("".join(f"{url}\n" for url in urls))
    store = tmp_path / "out.db"
    result = CliRunner().invoke(
        main, ["fetch", "-q", "--retries", "0", "-o", str(store), str(tmp_path / "urls.txt")]
    )
    assert result.exit_code in (0, 1), result.output
    return store


def test_host_path_layout_writes_wget_style_names(tmp_path: Path, server: FaultServer) -> None:
    urls = [
        server.url("/docs/1.xml"),
        server.url("/docs/2.xml?x=1"),
        server.url("/redirect/1?doc=3"),
        server.url("/docs/../docs/4.xml"),
        server.url("/status/404"),
    ]
    store = fetch(tmp_path, urls)
    target = tmp_path / "site"
    result = CliRunner().invoke(
        main,
        ["export", str(store), "--format", "dir", "--layout", "host-path", "--to", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert "4 documents written" in result.output
    host = server.url("/").split("/")[2].replace(":", "+")
    files = {
        str(path.relative_to(target)): path.read_bytes()
        for path in target.rglob("*")
        if path.is_file()
    }
    assert files == {
        f"{host}/docs/1.xml": document(1, server.seed),
        f"{host}/docs/2.xml@x=1": document(2, server.seed),
        f"{host}/redirect/1@doc=3": document(3, server.seed),
        f"{host}/docs/4.xml": document(4, server.seed),
    }
    again = CliRunner().invoke(
        main,
        ["export", str(store), "--format", "dir", "--layout", "host-path", "--to", str(target)],
    )
    assert again.exit_code == 2
    assert "not empty; --layout host-path writes into a new or empty directory" in again.output


def test_flat_is_the_default_and_layout_is_for_dir_only(
    tmp_path: Path, server: FaultServer
) -> None:
    store = fetch(tmp_path, [server.url("/docs/1.xml")])
    flat = CliRunner().invoke(
        main, ["export", str(store), "--format", "dir", "--to", str(tmp_path / "flat")]
    )
    assert flat.exit_code == 0, flat.output
    names = [p.name for p in (tmp_path / "flat").iterdir() if not p.name.startswith(".")]
    assert len(names) == 1
    assert "/" not in names[0]
    assert names[0].endswith(".xml")
    misuse = CliRunner().invoke(main, ["export", str(store), "--layout", "host-path"])
    assert misuse.exit_code == 2
    assert "--layout is for --format dir only" in misuse.output


def test_help_lists_formats_and_layouts_with_defaults() -> None:
    result = CliRunner().invoke(main, ["export", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "[jsonl|warc|parquet|dir]" in text
    assert "[default: jsonl]" in text
    assert "[flat|host-path]" in text
    assert "[default: flat]" in text
