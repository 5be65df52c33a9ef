"""``threadloom fetch --refresh``: done URLs fetched again with conditional requests from
the stored heads, end to end through the CLI against the FaultServer's ``/versioned``
documents, for every store kind."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from threadloom.cli import main
from threadloom.server import FaultServer
from threadloom.store import open_store
from threadloom.store._db import SCHEMA_VERSION

KINDS = {"sqlite": "s.db", "directory": "d/", "jsonl": "s.jsonl"}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write_urls(tmp_path: Path, urls: list[str]) -> str:
    path = tmp_path / "urls.txt"
    path.write_text("".join(f"{url}\n" for url in urls))
    return str(path)


def state(store: str, url: str) -> tuple[dict[str, object], bytes | None]:
    with open_store(store, readonly=True) as opened:
        row = opened.lookup(url)
        assert row is not None
        return row, opened.read_body(url)


def status(store: str) -> dict[str, int]:
    result = run("status", "--json", store)
    assert result.exit_code == 0, result.output
    counts: dict[str, int] = json.loads(result.output)
    return counts


def text(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_304_keeps_the_body_and_a_changed_document_replaces_it(
    tmp_path: Path, server: FaultServer, kind: str
) -> None:
    store = f"{tmp_path}/{KINDS[kind]}"
    same, changed = server.url(f"/versioned/same-{kind}"), server.url(f"/versioned/new-{kind}")
    urls = write_urls(tmp_path, [same, changed])
    assert run("fetch", "-q", "-o", store, urls).exit_code == 0
    before, old_body = state(store, changed)
    assert server.bump_version(f"new-{kind}") == 2

    result = run("fetch", "--refresh", "-o", store, urls)

    assert result.exit_code == 0, result.output
    assert "refreshed 2: 1 unchanged, 1 changed, 0 failed to refresh" in text(result.output)
    # The stored validators went out as conditions.
    assert server.versioned_conditions(f"same-{kind}")[-1] == (
        f'"same-{kind}-v1"',
        "Tue, 02 Jan 2024 00:00:00 GMT",
    )
    kept, kept_body = state(store, same)
    assert kept_body == f'<doc key="same-{kind}" version="1"/>\n'.encode()
    assert kept["refresh_result"] == "confirmed"
    assert isinstance(kept["confirmed_at"], str)
    assert kept["fetched_at"] < kept["confirmed_at"]
    assert kept["headers"]["etag"] == f'"same-{kind}-v1"'  # type: ignore[index]
    new, new_body = state(store, changed)
    assert new_body == f'<doc key="new-{kind}" version="2"/>\n'.encode() != old_body
    assert new["sha256"] == hashlib.sha256(new_body).hexdigest() != before["sha256"]
    assert new["headers"]["etag"] == f'"new-{kind}-v2"'  # type: ignore[index]
    assert (new["refresh_result"], new["confirmed_at"]) == ("changed", None)
    assert new["attempts"] == 2
    counts = status(store)
    assert (counts["refresh_confirmed"], counts["refresh_changed"]) == (1, 1)
    if kind == "directory":
        # The replaced body's old file is gone: one file per document.
        assert len([p for p in Path(store).iterdir() if not p.name.startswith(".")]) == 2


@pytest.mark.parametrize(
    ("validators", "conditions"),
    [
        ("etag", ('"{key}-v1"', "")),
        ("lm", ("", "Tue, 02 Jan 2024 00:00:00 GMT")),
        ("none", ("", "")),
    ],
)
def test_one_validator_or_none(
    tmp_path: Path, server: FaultServer, validators: str, conditions: tuple[str, str]
) -> None:
    key = f"only-{validators}"
    url = server.url(f"/versioned/{key}?validators={validators}")
    store = str(tmp_path / "s.db")
    urls = write_urls(tmp_path, [url])
    assert run("fetch", "-q", "-o", store, urls).exit_code == 0

    unchanged = run("fetch", "-q", "--refresh", "-o", store, urls)
    assert unchanged.exit_code == 0, unchanged.output
    sent = server.versioned_conditions(key)[-1]
    assert sent == (conditions[0].format(key=key), conditions[1])
    row, body = state(store, url)
    # With no validator the body itself is compared (same SHA-256: confirmed).
    assert row["refresh_result"] == "confirmed"
    assert body == f'<doc key="{key}" version="1"/>\n'.encode()

    server.bump_version(key)
    changed = run("fetch", "-q", "--refresh", "-o", store, urls)
    assert changed.exit_code == 0, changed.output
    row, body = state(store, url)
    assert row["refresh_result"] == "changed"
    assert body == f'<doc key="{key}" version="2"/>\n'.encode()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_changed_document_is_processed_again(
    tmp_path: Path, server: FaultServer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "proc_body.py").write_text(
        "def text(response):\n    return response.body.decode()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    store = f"{tmp_path}/{KINDS[kind]}"
    key = f"proc-{kind}"
    url = server.url(f"/versioned/{key}")
    urls = write_urls(tmp_path, [url, server.url(f"/versioned/proc-same-{kind}")])
    assert run("fetch", "-q", "--process", "proc_body:text", "-o", store, urls).exit_code == 0
    server.bump_version(key)

    result = run("fetch", "--refresh", "--process", "proc_body:text", "-o", store, urls)

    assert result.exit_code == 0, result.output
    assert "processed 1 (proc_body:text)" in text(result.output), "only the changed one"
    row, _body = state(store, url)
    assert row["processed"] == f'<doc key="{key}" version="2"/>\n'


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_failed_refresh_keeps_the_stored_document(tmp_path: Path, kind: str) -> None:
    store = f"{tmp_path}/{KINDS[kind]}"
    with FaultServer() as origin:
        gone, broken = origin.url("/versioned/gone"), origin.url("/versioned/broken")
        urls = write_urls(tmp_path, [gone, broken])
        assert run("fetch", "-q", "-o", store, urls).exit_code == 0
        before = {url: state(store, url) for url in (gone, broken)}
        origin.set_versioned_status("gone", 404)
        origin.set_versioned_status("broken", 503)
        result = run("fetch", "--refresh", "--retries", "1", "-o", store, urls)
        assert origin.statistics().by_path["/versioned/broken"] == 3, "retried, then given up"
    assert state(store, gone)[0]["refresh_error"] == "HTTP 404 Not Found"
    assert str(state(store, broken)[0]["refresh_error"]).startswith("HTTP 503")
    assert result.exit_code == 1, result.output
    assert "refreshed 2: 0 unchanged, 0 changed, 2 failed to refresh" in text(result.output)
    # The server is gone: a network error keeps it too.
    unreachable = run(
        "fetch", "-q", "--refresh", "--retries", "0", "--timeout", "2", "-o", store, urls
    )
    assert unreachable.exit_code == 1
    for url, (row_before, body_before) in before.items():
        row, body = state(store, url)
        assert (row["state"], body, row["sha256"]) == ("done", body_before, row_before["sha256"])
        assert row["headers"] == row_before["headers"]
        assert row["refresh_result"] == "failed"
        assert row["confirmed_at"] is None
        assert isinstance(row["refresh_error"], str)
    assert state(store, gone)[0]["refresh_error"] == "connection refused"
    counts = status(store)
    assert (counts["done"], counts["refresh_failed"]) == (2, 2)


def test_refresh_older_than_selects_only_stale_urls(tmp_path: Path, server: FaultServer) -> None:
    store = str(tmp_path / "s.db")
    old, fresh = server.url("/versioned/old"), server.url("/versioned/fresh")
    urls = write_urls(tmp_path, [old, fresh])
    assert run("fetch", "-q", "-o", store, urls).exit_code == 0
    # As if "old" had been fetched two days ago.
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("UPDATE urls SET fetched_at = fetched_at - 2 * 86400 WHERE url = ?", (old,))
    conn.close()
    pending = server.url("/versioned/new-in-list")
    urls = write_urls(tmp_path, [old, fresh, pending])

    result = run("fetch", "--refresh-older-than", "1d", "-o", store, urls)

    assert result.exit_code == 0, result.output
    assert "refreshed 1: 1 unchanged" in text(result.output)
    assert len(server.versioned_conditions("old")) == 2
    assert len(server.versioned_conditions("fresh")) == 1, "not stale: not requested"
    assert len(server.versioned_conditions("new-in-list")) == 1, "fetched as usual"
    assert status(store)["done"] == 3
    # The confirmation makes "old" fresh: a second run refreshes nothing.
    again = run("fetch", "--refresh-older-than", "12h", "-o", store, urls)
    assert again.exit_code == 0
    assert "nothing to fetch: 3 of 3 already done" in text(again.output)
    assert "nothing to refresh" in text(again.output)
    assert len(server.versioned_conditions("old")) == 2
    # Every done URL is older than 0 s.
    every = run("fetch", "--refresh-older-than", "0", "-o", store, urls)
    assert "refreshed 3: 3 unchanged" in text(every.output)


@pytest.mark.parametrize("bad", ["3x", "-1h", "h", "1h1h", "soon", ""])
def test_a_bad_duration_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    urls = write_urls(tmp_path, ["http://127.0.0.1:9/"])
    result = run("fetch", "--refresh-older-than", bad, "-o", str(tmp_path / "s.db"), urls)
    assert result.exit_code == 2
    assert "is not a duration (examples: 90s, 30m, 12h, 7d" in text(result.output)
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kill_9_mid_refresh_then_rerun_loses_nothing(
    tmp_path: Path, kind: str, threadloom_process: Callable[..., Any]
) -> None:
    store = f"{tmp_path}/{KINDS[kind]}"
    count = 40
    with FaultServer() as origin:
        keys = [f"k{n}" for n in range(count)]
        urls = write_urls(tmp_path, [origin.url(f"/versioned/{key}?ms=40") for key in keys])
        assert run("fetch", "-q", "-j", "8", "-o", store, urls).exit_code == 0
        for key in keys:
            origin.bump_version(key)
        first = origin.statistics().requests
        process = threadloom_process("fetch", "-q", "-j", "2", "--refresh", "-o", store, urls)
        stopped = process.kill9(
            lambda: origin.wait_for(lambda stats: stats.requests >= first + count // 2, timeout=30)
        )
        assert stopped.returncode == -signal.SIGKILL
        # Every URL is still done, with a whole document, old or new, whose digest is
        # the one recorded (a directory store's file is the one its row names).
        halfway = {}
        with open_store(store, readonly=True) as opened:
            for row in opened.export():
                body = opened.read_body(str(row["url"]))
                assert row["state"] == "done"
                assert body is not None
                assert row["sha256"] == hashlib.sha256(body).hexdigest()
                halfway[str(row["url"])] = body
        assert len(halfway) == count
        replaced = sum(b'version="2"' in body for body in halfway.values())
        assert 0 < replaced < count, "the kill landed mid-refresh"

        rerun = run("fetch", "-q", "--refresh", "-o", store, urls)

        assert rerun.exit_code == 0, rerun.output
    with open_store(store, readonly=True) as opened:
        rows = list(opened.export())
        assert len(rows) == count
        for row in rows:
            body = opened.read_body(str(row["url"]))
            assert body is not None
            assert b'version="2"' in body
            assert row["sha256"] == hashlib.sha256(body).hexdigest()
    counts = status(store)
    # Those replaced before the kill are confirmed by their new ETag, the rest change.
    assert counts["refresh_confirmed"] >= replaced
    assert counts["refresh_confirmed"] + counts["refresh_changed"] == count
    if kind == "directory":
        bodies = [p for p in Path(store).iterdir() if not p.name.startswith(".")]
        # At most the files of the transfers in flight at the kill are left over.
        assert count <= len(bodies) <= count + 4


def test_a_schema_2_store_is_migrated_and_refreshed(
    tmp_path: Path, server: FaultServer, schema_2_store: Callable[[Path], sqlite3.Connection]
) -> None:
    url = server.url("/versioned/legacy")
    body = b'<doc key="legacy" version="1"/>\n'
    head = 'HTTP/1.1 200 OK\r\nETag: "legacy-v1"\r\nContent-Type: application/xml\r\n'
    store = str(tmp_path / "old.db")
    conn = schema_2_store(tmp_path / "old.db")
    with conn:
        conn.execute(
            "INSERT INTO urls (url, state, http_status, size, sha256, attempts, fetched_at,"
            " response_head) VALUES (?, 'done', 200, ?, ?, 1, ?, ?)",
            (url, len(body), hashlib.sha256(body).hexdigest(), time.time() - 3600, head),
        )
        conn.execute("INSERT INTO bodies VALUES (1, ?)", (body,))
    conn.close()
    # Read-only, as it is: no refresh recorded yet.
    assert status(store)["refresh_confirmed"] == 0
    urls = write_urls(tmp_path, [url])

    result = run("fetch", "-q", "--refresh-older-than", "30m", "-o", store, urls)

    assert result.exit_code == 0, result.output
    assert server.versioned_conditions("legacy") == [('"legacy-v1"', "")]
    row, kept = state(store, url)
    assert kept == body
    assert row["refresh_result"] == "confirmed"
    conn = sqlite3.connect(store)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == (str(SCHEMA_VERSION),)


def test_ctrl_c_mid_refresh_exits_130_and_the_rerun_finishes(
    tmp_path: Path, threadloom_process: Callable[..., Any]
) -> None:
    store = str(tmp_path / "s.db")
    with FaultServer() as origin:
        keys = [f"c{n}" for n in range(30)]
        urls = write_urls(tmp_path, [origin.url(f"/versioned/{key}?ms=100") for key in keys])
        assert run("fetch", "-q", "-j", "8", "-o", store, urls).exit_code == 0
        for key in keys:
            origin.bump_version(key)
        first = origin.statistics().requests
        process = threadloom_process("fetch", "-j", "2", "--refresh", "-o", store, urls)
        stopped = process.interrupt(
            lambda: origin.wait_for(lambda stats: stats.requests >= first + 6, timeout=30)
        )
        assert stopped.returncode == 130, stopped.output
        assert stopped.seconds < 5.0
        assert "interrupted" in stopped.output
        rerun = run("fetch", "-q", "--refresh", "-o", store, urls)
        assert rerun.exit_code == 0, rerun.output
    with open_store(store, readonly=True) as opened:
        for row in opened.export():
            body = opened.read_body(str(row["url"]))
            assert body is not None
            assert b'version="2"' in body


def test_help_lists_the_refresh_options_with_their_defaults() -> None:
    result = run("fetch", "--help")
    assert result.exit_code == 0
    help_text = text(result.output)
    assert "--refresh First fetch the store's done URLs again" in help_text
    assert "a failed refresh keeps the stored body." in help_text
    assert "URLs not done yet are fetched as usual. Default: off." in help_text
    assert "--refresh-older-than DURATION With --refresh (implied)" in help_text
    assert "(90s, 30m, 12h, 7d, 2w, 1h30m; a bare number is seconds)." in help_text
    assert "Default: every done URL." in help_text


def test_the_report_and_status_say_what_the_refresh_found(
    tmp_path: Path, server: FaultServer
) -> None:
    store = str(tmp_path / "s.db")
    urls = write_urls(tmp_path, [server.url("/versioned/rep-a"), server.url("/versioned/rep-b")])
    assert run("fetch", "-q", "-o", store, urls).exit_code == 0
    server.bump_version("rep-b")
    report = tmp_path / "r.html"

    result = run("fetch", "-q", "--refresh", "--report", str(report), "-o", store, urls)

    assert result.exit_code == 0, result.output
    page = report.read_text(encoding="utf-8")
    assert "refreshed 2: 1 unchanged, 1 changed, 0 failed to refresh" in page
    assert "every done URL" in page  # the run's settings
    table = text(run("status", store).output)
    assert "done │ 2 last refresh: unchanged │ 1 last refresh: changed │ 1 failed" in table
