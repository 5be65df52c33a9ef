"""``threadloom fetch``'s option values and URL list argument: what is refused as a
usage error (exit 2) and what is accepted, and that --timeout means what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from threadloom.cli import fetch as fetch_module
from threadloom.cli import main
from threadloom.jobs import FetchOptions
from threadloom.server import FaultServer


def export_rows(store: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, ["export", str(store), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timeout", "inf", "inf is not a finite number"),
        ("--timeout", "nan", "nan is not a finite number"),
        ("--timeout", "0", "0 is not between 0.001 and 86400 seconds"),
        ("--timeout", "1e300", "1e300 is not between 0.001 and 86400 seconds"),
        ("--rate", "nan", "nan is not a finite number"),
        ("--rate", "inf", "inf is not a finite number"),
        ("--rate", "1e-300", "1e-300 is not at least 0.0000116 (one request a day)"),
        ("--max-size", "99999999999999999999", "is more than 9223372036854775807 bytes"),
        ("--max-size", "8EiB", "'8EiB' is not a size (examples: 500K, 10M, 1GiB, 0 for no limit)"),
        ("--max-size", "-1", "'-1' is not a size (examples: 500K, 10M, 1GiB, 0 for no limit)"),
        ("--max-size", "10Q", "'10Q' is not a size (examples: 500K, 10M, 1GiB, 0 for no limit)"),
        ("--max-size", "M", "'M' is not a size"),
        ("--max-size", "1e6", "'1e6' is not a size"),
        ("--max-size", "0.4", "'0.4' is not a size"),
        # More digits than Python turns into an int (4,300), and a sliver of a byte
        # written with more fraction digits than are kept: no traceback, no "no limit".
        ("--max-size", "9" * 5000, "is more than 9223372036854775807 bytes"),
        ("--max-size", "0." + "0" * 70 + "1K", "is not a size"),
    ],
)
def test_unusable_values_are_usage_errors(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("", encoding="utf-8")
    args = ["fetch", "-q", "-o", str(tmp_path / "o.db"), option, value, str(urls)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert message in result.output


@pytest.fixture
def seen_options(monkeypatch: pytest.MonkeyPatch) -> list[FetchOptions]:
    """The FetchOptions each fetch command would run with (the run itself is skipped)."""
    seen: list[FetchOptions] = []

    def fake_run_fetch(_store: str, _lines: object, options: FetchOptions, **_: object) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(fetch_module, "run_fetch", fake_run_fetch)
    return seen


@pytest.mark.parametrize(
    ("args", "max_size", "rate", "timeout"),
    [
        ([], 100 * 1024 * 1024, None, 30.0),
        (["--max-size", "0"], None, None, 30.0),
        (["--max-size", str(2**63 - 1)], 2**63 - 1, None, 30.0),
        (["--max-size", "10M"], 10 * 1024 * 1024, None, 30.0),
        (["--max-size", "500k"], 500 * 1024, None, 30.0),
        (["--max-size", "1GiB"], 1024**3, None, 30.0),
        (["--max-size", "1.5 mb"], 1536 * 1024, None, 30.0),
        (["--max-size", "2T"], 2 * 1024**4, None, 30.0),
        (["--max-size", "100B"], 100, None, 30.0),
        (["--max-size", "0.5k"], 512, None, 30.0),
        (["--max-size", "1.9"], 1, None, 30.0),
        (["--rate", "0.0000116", "--timeout", "0.001"], 100 * 1024 * 1024, 0.0000116, 0.001),
        (["--rate", "1e300", "--timeout", "86400"], 100 * 1024 * 1024, 1e300, 86400.0),
    ],
)
def test_accepted_values_reach_the_job(
    tmp_path: Path,
    seen_options: list[FetchOptions],
    args: list[str],
    max_size: int | None,
    rate: float | None,
    timeout: float,
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["fetch", "-q", *args, str(urls)])
    assert result.exit_code == 0, result.output
    [options] = seen_options
    assert (options.max_size, options.rate, options.timeout) == (max_size, rate, timeout)


def test_help_shows_the_default_size_as_a_person_writes_it() -> None:
    result = CliRunner().invoke(main, ["fetch", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--max-size SIZE" in result.output
    assert "[default: 100 MiB]" in result.output
    assert "9223372036854775807" not in result.output


def test_a_stall_after_some_data_is_cut_after_timeout(tmp_path: Path, server: FaultServer) -> None:
    # Was cut ~7 s late: the job's libcurl low-speed check averages over ~5 s.
    urls = tmp_path / "urls.txt"
    urls.write_text(server.url("/stall?after=100") + "\n", encoding="utf-8")
    store = tmp_path / "o.db"
    started = time.monotonic()
    args = ["fetch", "-q", "--retries", "0", "--timeout", "0.5", "-o", str(store), str(urls)]
    result = CliRunner().invoke(main, args)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert elapsed < 2.0
    [row] = export_rows(store)
    assert row["error"] == "timed out after 0.5 s with no data (after 100 bytes)"


def test_a_fifo_is_a_url_list(tmp_path: Path, server: FaultServer) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    lines = "".join(f"{server.url(f'/docs/{n}.xml')}\n" for n in range(3))

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as writer:  # blocks until the fetch opens it
            writer.write(lines)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    store = tmp_path / "o.db"
    result = CliRunner().invoke(main, ["fetch", "-q", "-o", str(store), str(fifo)])
    feeder.join(10)
    assert result.exit_code == 0, result.output
    assert [row["state"] for row in export_rows(store)] == ["done"] * 3


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_process_substitution_is_a_url_list(tmp_path: Path, server: FaultServer) -> None:
    # What `threadloom fetch <(cat urls.txt)` passes: /dev/fd/N, the read end of a pipe.
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w", encoding="utf-8") as writer:
        writer.write("".join(f"{server.url(f'/docs/{n}.xml')}\n" for n in range(3)))
    store = tmp_path / "o.db"
    try:
        command = ["fetch", "-q", "-o", str(store), f"/dev/fd/{read_end}"]
        completed = subprocess.run(
            [sys.executable, "-m", "threadloom", *command],
            pass_fds=(read_end,),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(read_end)
    assert completed.returncode == 0, completed.stderr
    assert [row["state"] for row in export_rows(store)] == ["done"] * 3


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.txt", "missing.txt: no such file"), (".", "is a directory")],
)
def test_a_missing_url_list_or_a_directory_is_a_usage_error(
    tmp_path: Path, name: str, message: str
) -> None:
    result = CliRunner().invoke(main, ["fetch", "-o", str(tmp_path / "o.db"), str(tmp_path / name)])
    assert result.exit_code == 2
    assert message in result.output


def test_process_imports_a_module_from_the_current_directory(
    tmp_path: Path, server: FaultServer
) -> None:
    # As the `threadloom` script runs: -P keeps the current directory off sys.path, which
    # `python -m` would otherwise add (that is how users ran into PYTHONPATH=.).
    (tmp_path / "helpers.py").write_text("def size(body):\n    return len(body)\n")
    (tmp_path / "lazy_helper.py").write_text("TAG = 'lazy'\n")
    (tmp_path / "myproc.py").write_text(
        "import helpers  # a module beside it, imported with it\n"
        "\n"
        "def summary(response):\n"
        "    import lazy_helper  # imported at the first call\n"
        "    return {\n"
        "        'size': helpers.size(response.body),\n"
        "        'status': response.status,\n"
        "        'url': response.url,\n"
        "        'final_url': response.final_url,\n"
        "        'type': response.content_type,\n"
        "        'header': response.headers.get('content-type'),\n"
        "        'version': response.http_version,\n"
        "        'redirects': response.redirects,\n"
        "        'timed': response.elapsed > 0,\n"
        "        'tag': lazy_helper.TAG,\n"
        "    }\n"
    )
    url = server.url("/docs/1.xml")
    (tmp_path / "urls.txt").write_text(url + "\n")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    command = ["fetch", "-q", "-o", "o.db", "--process", "myproc:summary", "urls.txt"]
    completed = subprocess.run(
        [sys.executable, "-P", "-m", "threadloom", *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    [row] = export_rows(tmp_path / "o.db")
    assert row["process_error"] is None
    processed = row["processed"]
    assert processed == {
        "size": row["size"],
        "status": 200,
        "url": url,
        "final_url": url,
        "type": row["content_type"],
        "header": row["content_type"],
        "version": "1.1",
        "redirects": 0,
        "timed": True,
        "tag": "lazy",
    }
