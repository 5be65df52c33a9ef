"""The command line on stores it cannot use or targets it cannot write: one line, exit 2
for a usage error, exit 1 for a failed write, no traceback, the store untouched."""

from __future__ import annotations

import contextlib
import hashlib
import json
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


def assert_one_line(result: Result, code: int, text: str, *more: str) -> None:
    """Exit ``code`` through click (not an escaped exception), ``text`` and ``more`` in
    the output, on one line."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert any(text in line and all(m in line for m in more) for line in result.output.splitlines())
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
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.db", "out.jsonl"])
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


# -- a user's data: files and directories that are not threadloom stores --------------

USER_JSONL = b'{"id": 1, "name": "ada"}\n{"id": 2, "name": "grace"}\n'


def user_data(root: Path) -> None:
    """A user's JSON lines, text under a .jsonl name, a directory of their files."""
    (root / "mine.jsonl").write_bytes(USER_JSONL)
    (root / "notes.jsonl").write_text("not json at all\n")
    (root / "photos").mkdir()
    (root / "photos" / "cat.jpg").write_bytes(b"\xff\xd8 a cat")
    (root / "photos" / ".config").write_text("hidden, still theirs")


@pytest.mark.parametrize("store", ["mine.jsonl", "notes.jsonl", "photos/", "photos"])
def test_fetch_refuses_a_users_file_or_directory_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    user_data(tmp_path)
    Path("urls.txt").write_text("http://127.0.0.1:9/1\n")
    before = snapshot(tmp_path)
    result = run("fetch", "-q", "-o", store, "urls.txt")
    assert_one_line(
        result, 2, f"Error: store {store}: not a threadloom store (", "; choose another -o path"
    )
    assert snapshot(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["mine.jsonl", "notes.jsonl", "photos", "urls.txt"]
    )


@pytest.mark.parametrize("store", ["mine.jsonl", "notes.jsonl", "photos"])
@pytest.mark.parametrize("command", ["status", "export"])
def test_status_and_export_of_a_users_file_say_it_is_not_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    user_data(tmp_path)
    before = snapshot(tmp_path)
    result = run(command, store)
    assert_one_line(result, 2, f"Error: {store}: not a threadloom store (")
    assert snapshot(tmp_path) == before


def test_export_dir_refuses_a_users_directory_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make_store("x.db")
    user_data(tmp_path)
    before = snapshot(tmp_path / "photos")
    result = run("export", "x.db", "--format", "dir", "--to", "photos")
    assert_one_line(
        result, 2, "Error: --to photos: not a threadloom store (", "; choose another --to path"
    )
    assert snapshot(tmp_path / "photos") == before


@pytest.mark.parametrize("store", ["empty.jsonl", "empty/", "empty.db"])
def test_fetch_adopts_an_empty_file_or_directory_and_leaves_no_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FaultServer, store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    if store.endswith("/"):
        Path(store).mkdir()
    else:
        Path(store).touch()
    Path("urls.txt").write_text(f"{server.url('/docs/1.xml')}\n{server.url('/docs/2.xml')}\n")
    assert run("fetch", "-q", "-o", store, "urls.txt").exit_code == 0
    assert json.loads(run("status", "--json", store).output)["done"] == 2
    assert list(tmp_path.rglob("*.lock")) == []


@pytest.mark.parametrize("store", ["old.jsonl", "old/", "old.db"])
def test_a_store_from_before_resumes_and_its_lock_file_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FaultServer, store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    urls = [server.url(f"/docs/{n}.xml") for n in range(4)]
    make_store(store, urls=0)
    with open_store(store) as old:  # two of four done, as an interrupted run leaves it
        old.add_urls(urls)
        for url in urls[:2]:
            old.record(Outcome(url, State.DONE, 200, b"<old/>"))
    lock = "old/.threadloom.lock" if store == "old/" else f"{store}.threadloom.lock"
    Path(lock).touch()  # every writer before this version left one
    Path("urls.txt").write_text("".join(f"{url}\n" for url in urls))
    seen = server.statistics().requests
    assert run("fetch", "-q", "-o", store, "urls.txt").exit_code == 0
    assert server.statistics().requests - seen == 2, "only the two not done are fetched"
    with open_store(store, readonly=True) as done:
        assert done.read_body(urls[0]) == b"<old/>"
        assert done.counts().done == 4
    assert not Path(lock).exists()


# -- the directory a store goes in ----------------------------------------------------


@pytest.mark.parametrize("store", ["no/such/dir/x.db", "no/such/dir/x.jsonl", "no/such/dir/d/"])
def test_a_missing_directory_is_refused_alike_for_every_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("urls.txt").write_text("http://127.0.0.1:9/1\n")
    result = run("fetch", "-q", "-o", store, "urls.txt")
    assert_one_line(
        result, 2, "Error: no/such/dir: no such directory (use --create-dirs to create it)"
    )
    assert "lock" not in result.output
    assert sorted(os.listdir(tmp_path)) == ["urls.txt"]


@pytest.mark.parametrize("store", ["no/such/dir/x.db", "no/such/dir/x.jsonl", "no/such/dir/d/"])
def test_create_dirs_creates_them_for_every_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: FaultServer, store: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("urls.txt").write_text(f"{server.url('/docs/1.xml')}\n")
    assert run("fetch", "-q", "--create-dirs", "-o", store, "urls.txt").exit_code == 0
    assert json.loads(run("status", "--json", store).output)["done"] == 1
    assert list(tmp_path.rglob("*.lock")) == []


@pytest.mark.parametrize("create_dirs", [[], ["--create-dirs"]])
def test_a_file_in_the_way_of_the_directory_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, create_dirs: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("urls.txt").write_text("http://127.0.0.1:9/1\n")
    result = run("fetch", "-q", *create_dirs, "-o", "urls.txt/sub/x.db", "urls.txt")
    assert_one_line(result, 2, "Error: store urls.txt/sub/x.db: not a directory: urls.txt")
    assert Path("urls.txt").read_text() == "http://127.0.0.1:9/1\n"


def test_create_dirs_creates_nothing_for_a_path_of_no_store_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("urls.txt").write_text("http://127.0.0.1:9/1\n")
    result = run("fetch", "-q", "--create-dirs", "-o", "a/b/out.txt", "urls.txt")
    assert_one_line(result, 2, "cannot tell what kind of store 'a/b/out.txt' is")
    assert sorted(os.listdir(tmp_path)) == ["urls.txt"]
