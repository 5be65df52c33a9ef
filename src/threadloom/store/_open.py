"""`open_store`: pick the store kind from the path's form."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from threadloom.store._base import Store
from threadloom.store._db import sqlite_files
from threadloom.store._directory import DirectoryStore
from threadloom.store._jsonl import INDEX_SUFFIX as JSONL_INDEX_SUFFIX
from threadloom.store._jsonl import LOCK_SUFFIX as JSONL_LOCK_SUFFIX
from threadloom.store._jsonl import JsonlStore
from threadloom.store._places import is_directory_form
from threadloom.store._sqlite import LOCK_SUFFIX as SQLITE_LOCK_SUFFIX
from threadloom.store._sqlite import SqliteStore
from threadloom.store._writer import WriterSettings

SQLITE_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")

ACCEPTED_FORMS: Final = (
    "a .db/.sqlite/.sqlite3 file (SQLite store), an existing directory or a path ending"
    " in '/' (directory store), or a .jsonl file (JSON-lines store)"
)


def open_store(
    path: str | os.PathLike[str],
    *,
    create: bool = True,
    readonly: bool = False,
    max_batch: int = 64,
    max_delay: float = 0.2,
    create_dirs: bool = False,
    shared: bool = False,
) -> Store:
    """Open the store at ``path``; its form picks the kind.

    - ``.db``, ``.sqlite``, ``.sqlite3``: `SqliteStore` (bodies inside the database);
    - an existing directory, or a path ending in ``/`` (or the OS separator):
      `DirectoryStore` (bodies as files);
    - ``.jsonl``: `JsonlStore` (outcomes appended as JSON lines).

    Suffixes are matched case-insensitively. ``create=False`` raises `FileNotFoundError`
    if the store does not exist; ``readonly=True`` (implies ``create=False``) opens
    without a writer thread and without repairing anything, for ``status`` and
    ``export`` while another process may be writing.

    A new store is created in an existing directory (`parent_directory`: for ``a/b/x.db``
    and for ``a/b/``, ``a/b`` and ``a``): if that is missing, every kind raises
    `MissingDirectoryError`, unless ``create_dirs`` creates it and its missing parents
    (``curl --create-dirs``). A path that holds something that is not a threadloom store
    of its kind (a user's ``.jsonl`` file, a non-empty directory without a store, a file
    that is not a SQLite database, another program's database) raises `NotAStoreError`
    and is left as it was; an empty file or directory becomes a store.

    Raises `ValueError` naming the path and the accepted forms for anything else,
    `StoreBusyError` if another process has the store open for writing, and
    `StoreError` (one line, without the path) for a store that cannot be used otherwise:
    a corrupt database, a read-only location. A store of another kind or a newer schema
    is a `ValueError`; failing to create a directory store's directory, an `OSError`.

    ``max_batch`` and ``max_delay`` tune the writer thread: a transaction commits at most
    ``max_batch`` outcomes, and an outcome waits at most about ``max_delay`` seconds
    before its transaction starts (`Store.flush` does not wait for the delay).

    ``shared=True`` opens an existing SQLite or directory store as one more writer
    beside the process that holds it open for writing (the client of ``fetch
    --processes``, whose worker processes record into its store): no lock is taken, and
    nothing is created, migrated or repaired (the holder did that). SQLite serialises
    the writers' transactions (WAL; a writer waits up to `BUSY_TIMEOUT_MS` for the
    others'); writers must record disjoint URLs (each URL's row is replaced by the
    last outcome committed). Raises `StoreError` if no process holds the store (a
    shared writer only joins a run in progress), `FileNotFoundError` if it does not
    exist, and `ValueError` for a JSON-lines store (its one file takes one appender).
    Needs a local file system: SQLite's locks between processes are unreliable on
    network file systems (https://www.sqlite.org/wal.html).
    """
    text = os.fspath(path)
    kind = store_kind(text)
    settings = WriterSettings(max_batch=max_batch, max_delay=max_delay)
    if shared:
        if kind is SqliteStore and not readonly:
            return SqliteStore(text, create=False, settings=settings, shared=True)
        if kind is DirectoryStore and not readonly:
            return DirectoryStore(text, create=False, settings=settings, shared=True)
        raise ValueError(f"{text!r}: only a SQLite or directory store opens shared for writing")
    return kind(
        text,
        create=create and not readonly,
        readonly=readonly,
        settings=settings,
        create_dirs=create_dirs,
    )


def store_kind(path: str | os.PathLike[str]) -> type[DirectoryStore | SqliteStore | JsonlStore]:
    """The kind `open_store` opens at ``path`` (see there), from its form alone; raises
    `ValueError` naming the path and the accepted forms for any other form."""
    text = os.fspath(path)
    if is_directory_form(text):
        return DirectoryStore
    if Path(text).suffix.lower() in SQLITE_SUFFIXES:
        return SqliteStore
    if Path(text).suffix.lower() == ".jsonl":
        return JsonlStore
    raise ValueError(f"cannot tell what kind of store {text!r} is; use {ACCEPTED_FORMS}")


def store_files(store: Store) -> tuple[Path, ...]:
    """The paths of ``store`` that writing to would damage it, symlinks resolved: the
    SQLite file with its ``-wal``, ``-shm`` and ``-journal`` and the lock file (there
    while a writer has the store open, or left by one killed); for a
    JSON-lines store also the ``.jsonl`` file; for a directory store the directory,
    standing for everything in it. Missing files are listed too: SQLite and the writer
    create them when they need them."""
    if isinstance(store, DirectoryStore):
        return (store.directory,)
    if isinstance(store, JsonlStore):
        path = Path(os.path.realpath(store.path))
        index = path.with_name(path.name + JSONL_INDEX_SUFFIX)
        return (path, *sqlite_files(index), path.with_name(path.name + JSONL_LOCK_SUFFIX))
    path = Path(os.path.realpath(store.location))
    return (*sqlite_files(path), path.with_name(path.name + SQLITE_LOCK_SUFFIX))


def store_owns(store: Store, path: str | Path) -> bool:
    """True if writing to ``path`` would damage ``store``: it is (symlinks resolved, or
    as a hard link) one of `store_files`, or inside a directory store's directory."""
    resolved = Path(os.path.realpath(path))
    return any(
        resolved.is_relative_to(own) or _same_file(resolved, own) for own in store_files(store)
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False
