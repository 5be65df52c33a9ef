"""The command line on stores it cannot use or targets it cannot write: one line, exit 2
for a usage error, exit 1 for a failed write, no traceback, the store untouched."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from threadloom.cli import main
from threadloom.server import FaultServer
from threadloom.store import Outcome, State, open_store

# The files_limited_to fixture (tests/conftest.py).
LimitFiles = Callable[[int], AbstractContextManager[None]]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_one_line(result: Result, code: int, text: str) -> None:
    """Exit ``code`` through click (not an escaped exception), ``text`` in the output."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert text in result.output
    assert "Traceback" not in result.output


def make_store(path: str, urls: int = 3) -> None:
    with open_store(path) as store:
        store.add_urls(f"http://127.0.0.1:9/{n}" for n in range(urls))
        for n in range(urls):
            body = f"<doc n='{n}'/>".encode()
            store.record(Outcome(f"http://127.0.0.1:9/{n}", State.DONE, 200, body))


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root``: name -> sha256 of its content."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# (store, --to): the store's own files, under other spellings, and a directory store's inside.
OWN_TARGETS = [
    ("x.db", "x.db"),
    ("x.db", "./x.db"),
    ("x.db", "x.db-wal"),
    ("x.db", "x.db-shm"),
    ("x.db", "x.db-journal"),
    ("x.db", "x.db.threadloom.lock"),
    ("x.db", "link-to-x.db"),
    ("x.db", "hard-link-to-x.db"),
    ("k.jsonl", "k.jsonl"),
    ("k.jsonl", "k.jsonl.threadloom.db"),
    ("k.jsonl", "k.jsonl.threadloom.lock"),
    ("d/", "d"),
    ("d/", "d/.threadloom.db"),
    ("d/", "d/new.jsonl"),
]


@pytest.mark.parametrize(("store", "target"), OWN_TARGETS)
@pytest.mark.parametrize("fmt", ["jsonl", "dir"])
def test_export_refuses_a_target_that_is_part_of_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str, target: str, fmt: str
) -> None:
    monkeypatch.chdir(tmp_path)
    make_store(store)
    os.symlink("x.db", "link-to-x.db")
    if os.path.exists("x.db"):
        os.link("x.db", "hard-link-to-x.db")
    before = snapshot(tmp_path)
    result = run("export", store, "--format", fmt, "--to", target)
    assert_one_line(result, 2, f"--to {target} is part of the store {store}")
    assert snapshot(tmp_path) == before
    assert run("status", store).exit_code == 0


def test_an_export_that_fails_leaves_the_earlier_file_and_no_partial_one(
    tmp_path: Path, files_limited_to: LimitFiles
) -> None:
    store, target = tmp_path / "x.db", tmp_path / "out.jsonl"
    make_store(str(store), urls=5_000)  # an export of about 1.8 MB
    target.write_text("the earlier export\n")
    with files_limited_to(1 << 20):
        result = run("export", str(store), "--to", str(target))
    assert_one_line(result, 1, f"threadloom: cannot write {target}: File too large")
    assert target.read_text() == "the earlier export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["x.db", "x.db.threadloom.lock", "out.jsonl"]
    )
    assert run("export", str(store), "--to", str(target)).exit_code == 0
    assert len(target.read_text().splitlines()) == 5_000


def test_export_write_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    store = str(tmp_path / "x.db")
    make_store(store)
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "a-file").write_text("keep me")
    cases = [
        (["--to", f"{tmp_path}/a-directory"], "Is a directory"),
        (["--to", f"{tmp_path}/missing/out.jsonl"], "No such file or directory"),
        (["--to", f"{tmp_path}/a-file/out.jsonl"], "Not a directory"),
        (["--format", "dir", "--to", f"{tmp_path}/a-file"], "File exists"),
    ]
    if os.path.exists("/dev/full"):
        cases.append((["--to", "/dev/full"], "No space left on device"))
    for args, reason in cases:
        result = run("export", store, *args)
        assert_one_line(result, 1, f"threadloom: cannot write {args[-1]}: {reason}")
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_export_to_a_file_keeps_its_mode_and_writes_through_a_symlink(tmp_path: Path) -> None:
    store = str(tmp_path / "x.db")
    make_store(store)
    target = tmp_path / "out.jsonl"
    target.write_text("old")
    target.chmod(0o640)
    (tmp_path / "link.jsonl").symlink_to("out.jsonl")
    assert run("export", store, "--to", str(tmp_path / "link.jsonl")).exit_code == 0
    assert (tmp_path / "link.jsonl").is_symlink()
    assert len(target.read_text().splitlines()) == 3
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_store_file_that_is_not_sqlite_is_a_usage_error(tmp_path: Path) -> None:
    store = tmp_path / "x.db"
    store.write_bytes(bytes(range(256)) * 40)
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/1\n")
    fetch = run("fetch", "-q", "-o", str(store), str(urls))
    assert_one_line(fetch, 2, f"store {store}: not a SQLite database")
    assert_one_line(run("status", str(store)), 2, f"{store}: not a SQLite database")
    assert_one_line(run("export", str(store)), 2, f"{store}: not a SQLite database")
    assert store.read_bytes() == bytes(range(256)) * 40


def test_fetch_refuses_another_programs_database(tmp_path: Path) -> None:
    store = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(store)) as conn:
        conn.executescript("CREATE TABLE urls (id INTEGER); INSERT INTO urls VALUES (1);")
    before = store.read_bytes()
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/1\n")
    result = run("fetch", "-q", "-o", str(store), str(urls))
    assert_one_line(result, 2, "a SQLite database that is not a threadloom store; refusing")
    assert store.read_bytes() == before


def test_a_full_disk_under_a_directory_store_is_one_line_and_keeps_what_was_done(
    tmp_path: Path, server: FaultServer, files_limited_to: LimitFiles
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{server.url('/docs/1.xml')}\n{server.url('/bytes?size=2000000')}\n")
    store = tmp_path / "d"
    with files_limited_to(1 << 20):
        result = run("fetch", "-q", "-j", "1", "-o", f"{store}/", str(urls))
    assert_one_line(result, 1, f"cannot write a body file in {store}: File too large")
    with open_store(store, readonly=True) as stored:
        rows = {row["url"]: row["state"] for row in stored.export()}
    assert rows == {server.url("/docs/1.xml"): "done", server.url("/bytes?size=2000000"): "pending"}


def test_a_second_fetch_into_a_sqlite_store_is_refused_and_kill_9_frees_it(
    tmp_path: Path, server: FaultServer
) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{server.url(f'/delay?ms=200&n={n}')}\n" for n in range(100)))
    store = tmp_path / "x.db"
    seen = server.statistics().requests
    first = subprocess.Popen(
        [sys.executable, "-m", "threadloom", "fetch", "-q", "-j", "1", "-o", str(store), str(urls)]
    )
    try:
        assert server.wait_for(lambda stats: stats.requests >= seen + 2, timeout=30)
        second = run("fetch", "-q", "-o", str(store), str(urls))
        assert_one_line(second, 2, "is open for writing by another process")
        assert run("status", str(store)).exit_code == 0
        assert run("export", str(store)).exit_code == 0
    finally:
        first.kill()
        first.wait()
    assert run("fetch", "-q", "-j", "8", "-o", str(store), str(urls)).exit_code == 0
