"""`DirectoryStore`: bodies as files in one flat directory, the index in a hidden SQLite file."""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Final

from threadloom.store._base import Store
from threadloom.store._db import open_error
from threadloom.store._lock import ProcessLock, check_holder
from threadloom.store._names import MAX_NAME_BYTES, file_name_for
from threadloom.store._places import ensure_parent_directory
from threadloom.store._refresh import RefreshUpdate
from threadloom.store._types import NotAStoreError, StoreError, StoreWriteError
from threadloom.store._writer import DEFAULT_WRITER_SETTINGS, WriterSettings

INDEX_NAME: Final = ".threadloom.db"
LOCK_NAME: Final = ".threadloom.lock"
TEMP_PREFIX: Final = ".threadloom-tmp-"
OWN_PREFIX: Final = ".threadloom"
"""Every name the store itself puts in the directory, besides bodies, starts with this."""

# O_NOFOLLOW: a symlink planted under one of our names is never followed (POSIX only;
# Windows has no symlinks an unprivileged attacker can plant in the same way).
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_BINARY: Final = getattr(os, "O_BINARY", 0)


class DirectoryStore(Store):
    """Each done URL's body is a file named by `file_name_for` in one directory.

    The index (states, input order, attempts, ...) is ``.threadloom.db`` inside the
    directory, so resume, status and export work as for `SqliteStore`.

    A body is written (in the recording thread) to a fresh temporary name
    (``.threadloom-tmp-*``, created exclusively, never through a symlink) and renamed onto
    its final name with `os.replace`; only then is the URL's row queued for the writer.
    So a partial file never appears under a final name, and a crash between the rename and
    the commit leaves a complete file whose URL is still pending: the next run fetches it
    again and replaces the file. Temporary files left by a crash are deleted when the store
    is next opened for writing. A pre-planted symlink under a final name is replaced by
    the rename, never written through; `read_body` refuses to follow one. A body that
    cannot be written (a full disk) makes `record` raise `StoreWriteError`.

    Bodies are not fsync'ed: a power loss (not a process crash) may leave a done URL
    whose file is empty or missing; `Store.export`'s ``sha256`` tells.

    Recognising a store: a directory is a store if it holds the index. An empty
    directory (or one holding only files whose names start with ``.threadloom``, left
    by a crash before the index was created) is adopted; any other directory raises
    `NotAStoreError` and is left as it was: bodies never land among a user's files.

    One process at a time may open a directory store for writing (a lock file,
    ``.threadloom.lock``, removed when the store is closed; POSIX); a second raises
    `StoreBusyError`. Read-only opens (``readonly=True``) are always allowed, and so are
    shared opens (``shared=True``, `open_store`) while the writer holds the lock.
    """

    kind: ClassVar[str] = "directory"

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        readonly: bool = False,
        settings: WriterSettings = DEFAULT_WRITER_SETTINGS,
        create_dirs: bool = False,
        shared: bool = False,
    ) -> None:
        """Open the directory store at ``path``, creating the directory if ``create``
        (its parents too if ``create_dirs``, see `ensure_parent_directory`);
        ``settings`` tunes the writer thread; ``shared``: as one more writer beside the
        process holding the store's lock (`open_store`; `StoreError` if none holds it)."""
        directory = Path(path)
        _check_ours(directory)
        create = create and not shared
        if create and not readonly:
            ensure_parent_directory(directory, create_dirs=create_dirs)
            directory.mkdir(exist_ok=True)
        elif not (directory / INDEX_NAME).is_file():
            raise FileNotFoundError(f"no directory store at {str(path)!r} (no {INDEX_NAME})")
        # Resolved once: later writes use this real path, whatever happens to symlinks
        # above it.
        self._directory = directory.resolve(strict=True)
        self._prefix = os.path.join(self._directory, "")  # "<directory>/" for names
        # Temporary names: this process's id and a count. Unique among the writers of
        # this directory (one process at a time holds its lock), and no random bytes
        # to ask the kernel for per file.
        self._temp_prefix = f"{self._prefix}{TEMP_PREFIX}{os.getpid()}-"
        self._temp_ids = itertools.count()
        self._lock: ProcessLock | None = None
        if shared:
            check_holder(self._directory / LOCK_NAME)
        elif not readonly:
            self._lock = ProcessLock(self._directory / LOCK_NAME, what=str(path))
        index = self._directory / INDEX_NAME
        try:
            if not readonly and not shared:
                # Not for a shared writer: the others' files in progress are not left over.
                self._remove_temporary_files()
            super().__init__(
                str(path), index, create=create, readonly=readonly, settings=settings, shared=shared
            )
        except sqlite3.Error as exc:
            self._release_kind()
            raise open_error(exc, index, index=True) from exc
        except BaseException:
            self._release_kind()
            raise

    @property
    def directory(self) -> Path:
        """The resolved directory holding the bodies."""
        return self._directory

    def _keep_body(self, url: str, body: bytes) -> str:
        """Write ``body`` under its final name (see the class docstring); return the name.

        Raises `StoreWriteError` (the `OSError` as its cause) if the file cannot be
        written (a full disk, a read-only location): the temporary file is removed, a
        file of an earlier run under the final name is left as it was, and the URL, not
        recorded, stays pending. Outcomes recorded before are unaffected.
        """
        try:
            return self._write_file(file_name_for(url), body)
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write a body file in {self._directory}: {exc.strerror or exc};"
                " outcomes not committed stay pending and are fetched again on resume"
            ) from exc

    def _keep_new_body(self, url: str, body: bytes) -> tuple[str, str | None]:
        """Write a refreshed URL's new body under the name its row does not use now
        (`alternate_name`), so the file of the committed row stays whole until the new
        row is committed; return that name and the old one, which `_committed` removes
        once the new row is committed. A crash in between leaves one extra file, which
        the URL's next refresh writes over. Errors as `_keep_body`."""
        with self._reading() as conn:
            row = conn.execute("SELECT body_ref FROM urls WHERE url = ?", (url,)).fetchone()
        current = None if row is None or row[0] is None else str(row[0])
        name = file_name_for(url)
        if current == name:
            name = alternate_name(name)
        try:
            return self._write_file(name, body), current
        except OSError as exc:
            raise StoreWriteError(
                f"cannot write a body file in {self._directory}: {exc.strerror or exc};"
                " the stored body is kept"
            ) from exc

    def _committed(self, batch: Sequence[object]) -> None:
        """Remove the files that refreshed rows, now committed, no longer name."""
        for item in batch:
            if not isinstance(item, RefreshUpdate) or item.item is None:
                continue
            old = item.superseded
            if old and old != item.item[0][-1] and _plain_name(old):
                with contextlib.suppress(OSError):
                    os.unlink(self._prefix + old)

    def _write_file(self, name: str, body: bytes) -> str:
        # Four system calls a file (open, write, close, rename), each a moment without
        # the GIL for this thread: a Python file object would add three more (fstat,
        # lseek, ioctl), and a random name one (getrandom).
        temporary = f"{self._temp_prefix}{next(self._temp_ids)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
        try:
            fd = os.open(temporary, flags, 0o666)
        except FileExistsError:
            # Left by an earlier process with this id and not yet cleaned up (the
            # store removes such files when it opens): fall back to a random name.
            # (os.urandom, as secrets.token_hex does: secrets costs ~3 ms of imports.)
            temporary = f"{self._prefix}{TEMP_PREFIX}{os.urandom(8).hex()}"
            fd = os.open(temporary, flags, 0o666)
        try:
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temporary, self._prefix + name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return name

    def _load_body(self, conn: sqlite3.Connection, seq: int, body_ref: str | None) -> bytes | None:
        if body_ref is None:
            return None
        if os.sep in body_ref or (os.altsep and os.altsep in body_ref) or body_ref in {".", ".."}:
            raise StoreError(f"index names a body outside the directory: {body_ref!r}")
        try:
            fd = os.open(self._directory / body_ref, os.O_RDONLY | _NOFOLLOW | _BINARY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"cannot read {body_ref!r} in {self._directory} ({exc.strerror});"
                " a symlink there is refused"
            ) from exc
        with open(fd, "rb", closefd=True) as file:
            return file.read()

    def _remove_temporary_files(self) -> None:
        with os.scandir(self._directory) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    # unlink removes a symlink itself, never its target.
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    def _release_kind(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def alternate_name(name: str) -> str:
    """The second name of a body file (`file_name_for`'s name with ``~1`` after its
    hash, the readable part cut by two characters if the name would pass
    `MAX_NAME_BYTES`): a refreshed body goes under the name its row does not use."""
    stem, dot, extension = (
        name.rpartition(".") if "." in name.rpartition("~")[2] else (name, "", "")
    )
    readable, tilde, digest = stem.rpartition("~")
    alternate = f"{readable}{tilde}{digest}~1{dot}{extension}"
    if len(alternate) > MAX_NAME_BYTES:
        alternate = f"{readable[:-2]}{tilde}{digest}~1{dot}{extension}"
    return alternate


def _plain_name(name: str) -> bool:
    """Whether ``name`` is one component, safe to remove from the directory."""
    return os.sep not in name and not (os.altsep and os.altsep in name) and name not in {".", ".."}


def _check_ours(directory: Path) -> None:
    """Raise `NotAStoreError` if ``directory`` exists, has no index and holds an entry
    the store did not put there (see `DirectoryStore`). Stops at the first such entry."""
    if (directory / INDEX_NAME).is_file() or not directory.is_dir():
        return
    with os.scandir(directory) as entries:
        if any(not entry.name.startswith(OWN_PREFIX) for entry in entries):
            raise NotAStoreError(
                "not a threadloom store (a directory that is not empty and holds no store)"
            )
