"""An exclusive, non-blocking lock between processes on a lock file (POSIX ``flock``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from threadloom.store._types import StoreBusyError, StoreError

if sys.platform != "win32":
    import fcntl


class ProcessLock:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) until `release`.

    Raises `StoreBusyError` naming ``what`` if another process (or another open store in
    this process) holds it, and `StoreError` if the lock file cannot be opened or created
    (a missing directory, a read-only location). The kernel drops the lock when the
    process dies, kill -9 included, so a crash never leaves a store locked. On Windows
    there is no lock.
    """

    def __init__(self, path: Path, *, what: str) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {path}: {exc.strerror}") from exc
        if sys.platform != "win32":
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                self._fd = None
                raise StoreBusyError(
                    f"{what} is open for writing by another process (or store object);"
                    " wait for it to finish, or open with readonly=True"
                ) from None

    def release(self) -> None:
        """Drop the lock; idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
