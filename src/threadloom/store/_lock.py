"""An exclusive, non-blocking lock between processes on a lock file (POSIX ``flock``),
removed when it is released.

Why a file of its own: the lock cannot be taken on the SQLite file itself. SQLite locks
it with POSIX (``fcntl``) record locks, and POSIX drops every such lock a process holds
on a file when the process closes *any* descriptor of that file: closing our own lock
descriptor would silently release the locks of this process's SQLite connections
(https://www.sqlite.org/howtocorrupt.html, 2.2). SQLite's own exclusive locking mode
would keep readers out (``status`` during a fetch), and a claim written into the
database cannot tell a live writer from one killed by kill -9. A ``flock`` on a file
nobody else opens has none of these problems, and the kernel drops it when its holder
dies.

Why removing it is safe: unlinking a lock file can break mutual exclusion. If B opens
the file, A (the holder) unlinks it and releases its lock, B's ``flock`` succeeds on the
unlinked file while C creates a new file under the same name and locks that: B and C
both believe they hold the lock. So the holder unlinks the file *while it still holds
the lock*, and a process that gets the lock checks that the name still leads to the
file it locked (same device and inode); if not, it lost that race to an unlink and opens
the name again. Then the file under the name is only ever created (``O_CREAT`` on a free
name) or unlinked by its holder, and whoever holds the lock on the file the name leads
to is the one holder. A process killed before it could unlink leaves the file behind,
unlocked; the next writer takes it over and removes it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from threadloom.store._types import StoreBusyError, StoreError

if sys.platform != "win32":
    import fcntl

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ProcessLock:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) until `release`,
    which removes the file (see the module docstring for why that is safe).

    Raises `StoreBusyError` naming ``what`` if another process (or another open store in
    this process) holds it, and `StoreError` (one line, naming neither ``path`` nor
    ``what``: the caller puts the store's path in front) if the file cannot be created
    (a read-only location, no permission). The kernel drops the lock when the process
    dies, kill -9 included, so a crash never leaves a store locked. On Windows there is
    no lock and no file.
    """

    def __init__(self, path: Path, *, what: str) -> None:
        self._path = path
        self._fd: int | None = None
        if sys.platform == "win32":
            return
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o666)
            except OSError as exc:
                raise StoreError(f"cannot be written ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreBusyError(
                    f"{what} is open for writing by another process (or store object);"
                    " wait for it to finish, or open with readonly=True"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            if _still_named(fd, path):
                self._fd = fd
                return
            # The holder we waited for unlinked the file before we locked it: the lock
            # we hold is on a file nobody else will ever open. Try the name again.
            os.close(fd)

    def release(self) -> None:
        """Remove the file, then drop the lock (in that order: see the module
        docstring); idempotent. A file that cannot be removed is left, unlocked; one
        that is no longer ours (someone deleted ours by hand and another writer
        created its own) is left to its holder."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                if _still_named(self._fd, self._path):
                    os.unlink(self._path)
            os.close(self._fd)
            self._fd = None


def _still_named(fd: int, path: Path) -> bool:
    """True if ``path`` leads to the file open on ``fd`` (it was not unlinked or
    replaced since; a symlink is followed, as ``os.open`` followed it)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def lock_held(path: Path) -> bool:
    """Whether some open file description holds a ``flock`` on the lock file at ``path``
    now (a `ProcessLock` of this process or another); False if there is no such file.

    Checked without taking the lock for more than a moment: a shared lock that can be
    taken means no exclusive holder, and it is dropped at once. A holder that dies
    right after this call is not seen (the answer is a snapshot). On Windows: always
    True (there are no lock files to ask).
    """
    if sys.platform == "win32":
        return True
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the shared lock if it was taken
    return False


def check_holder(lock_path: Path) -> None:
    """Raise `StoreError` unless a writer holds the lock file at ``lock_path``: a shared
    writer joins a run in progress, never a store whose run has stopped (a worker left
    behind by a killed client must not write on into a store nobody watches)."""
    if not lock_held(lock_path):
        raise StoreError(
            "not open for writing by any process; a shared writer joins a running fetch only"
        )
