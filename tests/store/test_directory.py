"""Directory store: files under safe names, atomic replace, temp cleanup, symlinks, lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from threadloom.store import (
    DirectoryStore,
    Outcome,
    State,
    StoreBusyError,
    StoreError,
    file_name_for,
    open_store,
)
from threadloom.store._directory import INDEX_NAME, TEMP_PREFIX

HOSTILE = [
    "http://x/../../escape.txt",
    "http://x/%2e%2e%2f%2e%2e%2fescape",
    "http://x/a%2Fb%5C..%5Cc",
    "http://x/..\\..\\win.ini",
    "http://con/aux.txt",
    "http://x/" + "z" * 600,
    "http://x/trailing.",
    "http://x/?q=/../../etc/passwd",
]


def test_bodies_are_files_named_from_the_url(tmp_path: Path) -> None:
    with open_store(f"{tmp_path}/out/") as store:
        store.add_urls(["http://127.0.0.1:8080/docs/1.xml"])
        store.record(Outcome("http://127.0.0.1:8080/docs/1.xml", State.DONE, 200, b"<a/>"))
        store.flush()
    name = file_name_for("http://127.0.0.1:8080/docs/1.xml")
    assert (tmp_path / "out" / name).read_bytes() == b"<a/>"
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        [name, INDEX_NAME, *_wal_files(tmp_path / "out")]
    )


def _wal_files(directory: Path) -> list[str]:
    return [n for n in os.listdir(directory) if n.startswith(INDEX_NAME + "-")]


def test_hostile_urls_stay_inside_the_directory(tmp_path: Path) -> None:
    outside_before = sorted(os.listdir(tmp_path))
    with open_store(f"{tmp_path}/out/") as store:
        store.add_urls(HOSTILE)
        for url in HOSTILE:
            store.record(Outcome(url, State.DONE, 200, url.encode()))
        store.flush()
        for url in HOSTILE:
            assert store.read_body(url) == url.encode()
    assert sorted(os.listdir(tmp_path)) == sorted([*outside_before, "out"])
    names = [n for n in os.listdir(tmp_path / "out") if not n.startswith(".")]
    assert len(names) == len(HOSTILE)
    for name in names:
        assert (tmp_path / "out" / name).is_file()
        assert len(name.encode()) <= 255


def test_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    url = "http://x/target.xml"
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    directory = tmp_path / "out"
    open_store(f"{directory}/").close()
    (directory / file_name_for(url)).symlink_to(outside)
    with open_store(directory) as store:
        store.record(Outcome(url, State.DONE, 200, b"fetched"))
        store.flush()
        assert store.read_body(url) == b"fetched"
        # A symlink planted after the write is refused on read.
        os.unlink(directory / file_name_for(url))
        (directory / file_name_for(url)).symlink_to(outside)
        with pytest.raises(StoreError, match="symlink"):
            store.read_body(url)
    assert outside.read_bytes() == b"precious"


def test_planted_temp_symlink_is_removed_without_touching_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    directory = tmp_path / "out"
    open_store(f"{directory}/").close()
    (directory / f"{TEMP_PREFIX}planted").symlink_to(outside)
    (directory / f"{TEMP_PREFIX}partial").write_bytes(b"half a bo")
    (directory / "user-file.txt").write_bytes(b"kept")
    with open_store(directory):
        pass
    assert sorted(os.listdir(directory)) == sorted(
        [INDEX_NAME, "user-file.txt", *_wal_files(directory)]
    )
    assert outside.read_bytes() == b"precious"


def test_a_second_writer_is_refused_but_readers_are_welcome(tmp_path: Path) -> None:
    with open_store(f"{tmp_path}/out/") as store:
        store.add_urls(["http://x/1"])
        with pytest.raises(StoreBusyError, match="open for writing"):
            DirectoryStore(tmp_path / "out")
        with open_store(tmp_path / "out", readonly=True) as reader:
            assert reader.counts().pending == 1
    with open_store(tmp_path / "out") as again:
        assert again.counts().pending == 1


def test_readonly_open_does_not_clean_temp_files_of_a_running_writer(tmp_path: Path) -> None:
    with open_store(f"{tmp_path}/out/"):
        temp = tmp_path / "out" / f"{TEMP_PREFIX}in-flight"
        temp.write_bytes(b"being written")
        with open_store(tmp_path / "out", readonly=True):
            assert temp.exists()
