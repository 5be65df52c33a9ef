"""A user's data: a path that holds something that is not a threadloom store is refused
and left exactly as it was; an empty file or directory becomes a store; stores written
before recognition existed still open; every kind needs an existing directory unless
``create_dirs``; no lock file outlives a writer."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if sys.platform != "win32":
    import fcntl

from threadloom.store import (
    MissingDirectoryError,
    NotAStoreError,
    Outcome,
    State,
    StoreBusyError,
    StoreError,
    open_store,
    parent_directory,
)
from threadloom.store._lock import ProcessLock, _still_named

# JSON lines that are not threadloom's: a user's records, an export of a store (spaces
# after separators, pending states), text, a single JSON value, bytes.
FOREIGN_JSONL = {
    "user records": b'{"id": 1, "name": "ada"}\n{"id": 2, "name": "grace"}\n',
    "user urls": b'{"url":"http://a/1"}\n',
    "no newline": b'{"url":"http://a/1","state":"done"}',
    "export file": b'{"url": "http://a/1", "state": "done", "http_status": 200, "size": 4}\n',
    "pending record": b'{"url":"http://a/1","state":"pending","http_status":null,"size":null}\n',
    "text": b"my notes\nabout threads\n",
    "one blank line": b"\n",
    "binary": bytes(range(256)) * 4,
}

# Written by threadloom before stores were recognised (git c46327c): three outcomes, the
# second failed, the third a base64 body. Their recognition must never change.
LEGACY_JSONL = (
    b'{"url":"http://127.0.0.1:9/a","state":"done","http_status":200,"size":4,"sha256":'
    b'"29114363f749a0226b6988dda3ca2492a954117ab6b5f382706c20300dabc079","attempts":1,'
    b'"error":null,"fetched_at":"2023-11-14T22:13:20.000Z","content_type":"text/xml",'
    b'"final_url":null,"processed":null,"process_error":null,"body":"<a/>","encoding":"utf-8"}\n'
    b'{"url":"http://127.0.0.1:9/b","state":"failed","http_status":503,"size":null,"sha256":'
    b'null,"attempts":4,"error":"HTTP 503 Service Unavailable","fetched_at":'
    b'"2023-11-14T22:13:21.000Z","content_type":null,"final_url":null,"processed":null,'
    b'"process_error":null,"body":null,"encoding":null}\n'
    b'{"url":"http://127.0.0.1:9/c","state":"done","http_status":200,"size":2,"sha256":'
    b'"b3d510ef04275ca8e698e5b3cbb0ece3949ef9252f0cdc839e9ee347409a2209","attempts":1,'
    b'"error":null,"fetched_at":"2023-11-14T22:13:22.000Z","content_type":null,"final_url":'
    b'null,"processed":{"root":"x"},"process_error":null,"body":"//4=","encoding":"base64"}\n'
)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: name -> sha256 of a file's content, or its type."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"symlink to {os.readlink(path)}"
        elif path.is_file():
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[name] = "directory"
    return found


@pytest.mark.parametrize("content", FOREIGN_JSONL.values(), ids=FOREIGN_JSONL.keys())
@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read"])
def test_a_jsonl_file_threadloom_did_not_write_is_refused_untouched(
    tmp_path: Path, content: bytes, readonly: bool
) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(content)
    os.utime(path, (1_000_000_000, 1_000_000_000))
    before = snapshot(tmp_path)
    with pytest.raises(NotAStoreError, match=r"^not a threadloom store \(its first line"):
        open_store(path, readonly=readonly)
    assert snapshot(tmp_path) == before, "nothing changed, nothing created beside it"
    assert path.stat().st_mtime == 1_000_000_000


def test_a_jsonl_file_of_a_user_is_refused_even_with_an_index_beside_it(tmp_path: Path) -> None:
    # The user deleted a store's file and wrote their own under the same name.
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1"])
    path.write_bytes(FOREIGN_JSONL["user records"])
    before = snapshot(tmp_path)
    with pytest.raises(NotAStoreError):
        open_store(path)
    assert snapshot(tmp_path) == before


def test_a_store_whose_first_url_escapes_long_is_still_recognised(tmp_path: Path) -> None:
    # 5,500 emoji: a valid URL of 5,509 characters, ~66 KB once JSON escapes each.
    url = "http://h/" + "\U0001f600" * 5500
    path = tmp_path / "big.jsonl"
    with open_store(path) as store:
        store.add_urls([url])
        store.record(Outcome(url, State.DONE, 200, b"one"))
    with open_store(path, readonly=True) as store:
        assert store.counts().done == 1


def test_lines_another_program_appended_are_refused_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://a/1", "http://a/2"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
    ours = path.stat().st_size
    with open(path, "ab") as file:
        file.write(b'{"note": "added by hand"}\n')
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match=f"the line at byte {ours} is not a threadloom outcome"):
        open_store(path)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["empty file", "legacy file alone", "legacy store"])
def test_empty_and_legacy_jsonl_files_are_stores(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "out.jsonl"
    if kind == "empty file":
        path.touch()
    else:
        path.write_bytes(LEGACY_JSONL)
    if kind == "legacy store":  # its index, and the lock file every old writer left
        with open_store(path) as store:
            store.add_urls(f"http://127.0.0.1:9/{name}" for name in "abcd")
        (tmp_path / "out.jsonl.threadloom.lock").touch()
    with open_store(path) as store:
        store.add_urls(f"http://127.0.0.1:9/{name}" for name in "abcd")
        pending = [record.url for record in store.pending()]
        store.record(Outcome("http://127.0.0.1:9/d", State.DONE, 200, b"<d/>"))
        store.flush()
        if kind == "empty file":
            assert pending == [f"http://127.0.0.1:9/{name}" for name in "abcd"]
        else:
            assert pending == ["http://127.0.0.1:9/b", "http://127.0.0.1:9/d"]
            assert store.read_body("http://127.0.0.1:9/c") == b"\xff\xfe"
            b = store.lookup("http://127.0.0.1:9/b")
            assert b is not None
            assert b["attempts"] == 4
    if kind != "empty file":
        assert path.read_bytes().startswith(LEGACY_JSONL), "old lines kept, new ones appended"
    last = json.loads(path.read_bytes().splitlines()[-1])
    assert last["url"] == "http://127.0.0.1:9/d"
    assert list(tmp_path.glob("*.lock")) == [], "no lock file left"


def test_a_first_line_cut_by_a_crash_is_still_recognised_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with open_store(path) as store:
        store.add_urls(["http://127.0.0.1:9/a"])
    path.write_bytes(LEGACY_JSONL[:120])  # the writer died in the middle of its first line
    with open_store(path) as store:
        assert [r.url for r in store.pending()] == ["http://127.0.0.1:9/a"]
    assert path.read_bytes() == b""


def test_a_non_empty_directory_that_is_not_a_store_is_refused_untouched(tmp_path: Path) -> None:
    directory = tmp_path / "photos"
    directory.mkdir()
    (directory / "cat.jpg").write_bytes(b"\xff\xd8 a cat")
    (directory / ".hidden").write_text("mine")
    (directory / "sub").mkdir()
    (directory / "sub" / "dog.jpg").write_bytes(b"\xff\xd8 a dog")
    before = snapshot(tmp_path)
    for path in (directory, f"{directory}/"):
        with pytest.raises(NotAStoreError, match=r"not a threadloom store \(a directory that"):
            open_store(path)
        with pytest.raises(NotAStoreError):
            open_store(path, readonly=True)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("leftovers", [[], [".threadloom.lock"], [".threadloom-tmp-7-0"]])
def test_an_empty_directory_becomes_a_store(tmp_path: Path, leftovers: list[str]) -> None:
    # Names the store itself puts there (a crash before the index existed) do not count.
    directory = tmp_path / "out"
    directory.mkdir()
    for name in leftovers:
        (directory / name).touch()
    with open_store(directory) as store:
        store.add_urls(["http://a/1"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
    with open_store(directory, readonly=True) as store:
        assert store.read_body("http://a/1") == b"one"
    assert not [n for n in os.listdir(directory) if n.endswith(".lock") or "-tmp-" in n]


def test_a_directory_store_from_before_still_resumes_and_keeps_user_files(tmp_path: Path) -> None:
    directory = tmp_path / "out"
    with open_store(f"{directory}/") as store:
        store.add_urls(["http://a/1", "http://a/2"])
        store.record(Outcome("http://a/1", State.DONE, 200, b"one"))
    (directory / ".threadloom.lock").touch()  # every old writer left it
    (directory / "notes.txt").write_text("added later by the user")
    with open_store(directory) as store:
        assert [r.url for r in store.pending()] == ["http://a/2"]
        store.record(Outcome("http://a/2", State.DONE, 200, b"two"))
    assert (directory / "notes.txt").read_text() == "added later by the user"
    assert not (directory / ".threadloom.lock").exists()


def test_a_file_that_is_not_sqlite_under_a_db_name_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my notes\n")
    before = snapshot(tmp_path)
    with pytest.raises(NotAStoreError, match="not a SQLite database"):
        open_store(path)
    assert snapshot(tmp_path) == before


# -- the directory a store goes in -------------------------------------------------------

KINDS = ["x.db", "k.jsonl", "d/"]


@pytest.mark.parametrize("store", KINDS)
def test_every_kind_needs_an_existing_directory(tmp_path: Path, store: str) -> None:
    path = f"{tmp_path}/no/such/dir/{store}"
    missing = f"{tmp_path}/no/such/dir"  # for d/ as for the files: the store is created
    with pytest.raises(MissingDirectoryError) as info:
        open_store(path)
    assert str(info.value) == f"no such directory: {missing}"
    assert info.value.directory == missing
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("store", KINDS)
def test_create_dirs_creates_the_missing_directories_for_every_kind(
    tmp_path: Path, store: str
) -> None:
    path = f"{tmp_path}/no/such/dir/{store}"
    with open_store(path, create_dirs=True) as opened:
        opened.add_urls(["http://a/1"])
    with open_store(path, readonly=True) as opened:
        assert opened.counts().pending == 1
    assert parent_directory(path) == tmp_path / "no" / "such" / "dir"


@pytest.mark.parametrize("store", KINDS)
@pytest.mark.parametrize("create_dirs", [False, True])
def test_a_file_where_a_directory_should_be_is_one_line(
    tmp_path: Path, store: str, create_dirs: bool
) -> None:
    (tmp_path / "a-file").write_text("keep")
    with pytest.raises(StoreError, match=f"^not a directory: {tmp_path}/a-file$"):
        open_store(f"{tmp_path}/a-file/sub/{store}", create_dirs=create_dirs)
    assert (tmp_path / "a-file").read_text() == "keep"


def test_parent_directory_is_the_same_rule_for_every_kind() -> None:
    assert parent_directory("a/b/x.db") == Path("a/b")
    assert parent_directory("a/b/x.jsonl") == Path("a/b")
    assert parent_directory("a/b/") == Path("a")
    assert parent_directory("x.db") == Path(".")
    assert parent_directory("/") == Path("/")


# -- the lock file ----------------------------------------------------------------------


@pytest.mark.parametrize("store", KINDS)
def test_no_lock_file_outlives_a_writer(tmp_path: Path, store: str) -> None:
    path = f"{tmp_path}/{store}"
    with open_store(path):
        assert list(tmp_path.rglob("*.lock")), "locked while open"
        with pytest.raises(StoreBusyError):
            open_store(path)
    assert list(tmp_path.rglob("*.lock")) == []
    with open_store(path, readonly=True):
        assert list(tmp_path.rglob("*.lock")) == [], "readers take no lock"


@pytest.mark.skipif(sys.platform == "win32", reason="no lock on Windows")
def test_a_lock_taken_on_a_file_its_holder_removed_is_not_a_lock(tmp_path: Path) -> None:
    # The race removal opens: B opens the lock file, the holder A removes it and lets
    # go, B locks the removed file. B must see that it holds nothing.
    path = tmp_path / "x.lock"
    holder = ProcessLock(path, what="x")
    late = os.open(path, os.O_RDWR)
    try:
        holder.release()
        assert not path.exists()
        fcntl.flock(late, fcntl.LOCK_EX | fcntl.LOCK_NB)  # succeeds: nobody else has it
        assert not _still_named(late, path)
        third = ProcessLock(path, what="x")  # a new file under the name
        with pytest.raises(StoreBusyError):
            ProcessLock(path, what="x")
        third.release()
    finally:
        os.close(late)


# Each of two processes takes the lock, claims a token file that must not exist (O_EXCL),
# removes it, and lets go, many times. Two holders at once would find the token there.
CONTEND = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from threadloom.store import StoreBusyError
    from threadloom.store._lock import ProcessLock

    lock, token, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    held = 0
    deadline = time.monotonic() + 60
    while held < rounds and time.monotonic() < deadline:
        try:
            owner = ProcessLock(lock, what="x")
        except StoreBusyError:
            continue
        try:
            os.close(os.open(token, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            print("two holders at once", flush=True)
            sys.exit(1)
        os.unlink(token)
        owner.release()
        held += 1
    print(held, flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="no lock on Windows")
def test_removing_the_lock_file_keeps_one_holder_at_a_time(tmp_path: Path) -> None:
    args = [str(tmp_path / "x.lock"), str(tmp_path / "token"), "1000"]
    children = [
        subprocess.Popen([sys.executable, "-c", CONTEND, *args], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = []
    for child in children:
        out, _ = child.communicate(timeout=90)
        outputs.append((child.returncode, out.strip()))
    assert outputs == [(0, "1000"), (0, "1000")]
    assert not (tmp_path / "x.lock").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="no lock on Windows")
def test_a_holder_never_removes_a_lock_file_that_is_not_its_own(tmp_path: Path) -> None:
    # Someone deleted the holder's file by hand and a second writer made its own: the
    # first, closing, must not remove the second's.
    path = tmp_path / "x.lock"
    first = ProcessLock(path, what="x")
    path.unlink()
    second = ProcessLock(path, what="x")
    first.release()
    assert path.exists()
    with pytest.raises(StoreBusyError):
        ProcessLock(path, what="x")
    second.release()
    assert not path.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="no lock on Windows")
@pytest.mark.parametrize("store", KINDS)
def test_a_lock_that_cannot_be_taken_names_no_internal_file(tmp_path: Path, store: str) -> None:
    # Something in the lock file's place (here a directory) fails its open.
    lock = tmp_path / ("d/.threadloom.lock" if store == "d/" else f"{store}.threadloom.lock")
    lock.mkdir(parents=True)
    with pytest.raises(StoreError) as info:
        open_store(f"{tmp_path}/{store}")
    assert str(info.value) == "cannot be written (Is a directory)"
    assert lock.is_dir()
