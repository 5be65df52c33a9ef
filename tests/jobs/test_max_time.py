"""``threadloom fetch --max-time``: a host trickling its body cannot stall a run beyond
the bound, the URL fails once (not once per retry) with the reason in the store, and
the default bound follows ``--timeout``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from threadloom.cli import main
from threadloom.jobs import MAX_TIME_FACTOR, FetchOptions
from threadloom.server import FaultServer

#: 10 bytes a second of a megabyte: 28 hours, and never 0.1 s without data.
TRICKLE = "/drip?size=1000000&rate=10"


def _rows(store: Path) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(main, ["export", str(store), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return {row["url"]: row for row in map(json.loads, result.output.splitlines())}


def _fetch(tmp_path: Path, urls: list[str], *options: str) -> tuple[int, float, Path]:
    """Run ``threadloom fetch`` as a user would (a child process); return its exit
    status, its wall time and the store."""
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
    store = tmp_path / "out.db"
    command = [sys.executable, "-m", "threadloom", "fetch", "-q", *options, "-o", str(store)]
    started = time.monotonic()
    completed = subprocess.run(
        [*command, str(listing)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.stderr == "", completed.stderr
    return completed.returncode, time.monotonic() - started, store


def test_a_trickling_host_cannot_stall_the_run(tmp_path: Path, server: FaultServer) -> None:
    trickle = server.url(TRICKLE)
    stall = server.url("/delay?ms=30000")
    docs = [server.document_url(n) for n in range(6)]
    code, elapsed, store = _fetch(
        tmp_path,
        [trickle, stall, *docs],
        *("--timeout", "0.5", "--max-time", "1", "--retries", "2", "-j", "4"),
    )
    assert code == 1
    # The trickle's one attempt (1 s) and the stall's three (0.5 s each, and the
    # backoff between them) run side by side; Python's start-up is the rest.
    assert elapsed < 8.0
    rows = _rows(store)
    assert all(rows[url]["state"] == "done" for url in docs)
    assert rows[trickle]["state"] == "failed"
    assert re.fullmatch(
        r"exceeded --max-time of 1 s: \d+ of 1000000 bytes received", rows[trickle]["error"]
    ), rows[trickle]["error"]
    # The rule: an attempt cut by --max-time is not retried (another would trickle as
    # long again); one cut by --timeout is.
    assert rows[trickle]["attempts"] == 1
    assert rows[stall]["attempts"] == 3
    assert rows[stall]["error"] == "timed out after 0.5 s with no data"
    status = CliRunner().invoke(main, ["status", str(store), "--json"])
    assert json.loads(status.output)["failed"] == 2


def test_the_default_max_time_follows_timeout(tmp_path: Path, server: FaultServer) -> None:
    # No --max-time: 10 x --timeout. Before --max-time existed this run never ended.
    code, elapsed, store = _fetch(tmp_path, [server.url(TRICKLE)], "--timeout", "0.25")
    assert code == 1
    assert 2.5 <= elapsed < 6.0
    [row] = _rows(store).values()
    assert row["error"].startswith("exceeded --max-time of 2.5 s: ")
    assert row["attempts"] == 1


@pytest.mark.parametrize(("max_time", "code"), [("1", 1), ("0", 0)])
def test_max_time_0_is_no_limit(
    tmp_path: Path, server: FaultServer, max_time: str, code: int
) -> None:
    # A steady 1000 B/s for ~1.4 s: never stalled, only a total limit can cut it.
    url = server.url("/drip?size=1500&rate=1000")
    result, _elapsed, store = _fetch(
        tmp_path, [url], "--timeout", "0.5", "--max-time", max_time, "--retries", "0"
    )
    assert result == code
    assert _rows(store)[url]["state"] == ("done" if code == 0 else "failed")


def test_max_time_is_in_the_help() -> None:
    result = CliRunner().invoke(main, ["fetch", "--help"])
    text = " ".join(result.output.split())
    assert "--max-time SECONDS" in text
    assert f"Default: {MAX_TIME_FACTOR} times --timeout (300 s with the default --timeout)" in text
    assert "0 for no limit" in text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "-1 is not between 0 and 864000 seconds"),
        ("1e7", "1e7 is not between 0 and 864000 seconds"),
        ("nan", "nan is not a finite number"),
        ("inf", "inf is not a finite number"),
    ],
)
def test_unusable_max_times_are_usage_errors(tmp_path: Path, value: str, message: str) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("", encoding="utf-8")
    args = ["fetch", "-q", "-o", str(tmp_path / "o.db"), "--max-time", value, str(urls)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--max-time'" in result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("options", "limit"),
    [
        (FetchOptions(), 300.0),
        (FetchOptions(timeout=0.5), 5.0),
        (FetchOptions(timeout=0.5, max_time=2), 2),
        (FetchOptions(max_time=0), None),
        (FetchOptions(timeout=86_400.0 * 30), 2147483.647),  # libcurl's longest limit
    ],
)
def test_attempt_time_limit(options: FetchOptions, limit: float | None) -> None:
    assert options.attempt_time_limit == limit


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf"), 3e6])
def test_fetch_options_refuse_unusable_max_times(value: float) -> None:
    with pytest.raises(ValueError, match=r"max-time must be from 0 to 2147483\.647 seconds"):
        FetchOptions(max_time=value)
