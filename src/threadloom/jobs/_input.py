"""Reading the URL list while fetching: input streams into the store on a thread of its
own, and the fetch stage follows the store, so a 50-million-line list starts fetching
after its first batch instead of after its last line.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from threadloom.store import AddResult, Store, UrlRecord


class InputReader:
    """Adds ``lines`` to ``store`` on a daemon thread named ``job-input``.

    ``done`` is set when the thread has finished, however it finished; :meth:`result`
    then returns the :class:`AddResult` or raises what ``add_urls`` raised. An OSError
    from reading ``lines`` ends the input instead (lines read so far are added) and is
    kept in ``read_error``. :meth:`stop`
    makes the thread stop after the line it is reading (Ctrl-C): lines read so far are
    committed, and adding the same input again completes it in order.
    """

    def __init__(self, store: Store, lines: Iterable[bytes | str]) -> None:
        self.done = threading.Event()
        self._store = store
        self._lines = lines
        self._stop = threading.Event()
        self._result: AddResult | None = None
        self.read_error: OSError | None = None
        """Why reading the input ended early (an unreadable file, a broken pipe), if it did."""
        self._error: BaseException | None = None
        # A daemon: a reader blocked on a silent stdin must not keep the process alive.
        self._thread = threading.Thread(target=self._read, name="job-input", daemon=True)
        self._thread.start()

    def _until_stopped(self) -> Iterator[bytes | str]:
        try:
            for line in self._lines:
                if self._stop.is_set():
                    return
                yield line
        except OSError as exc:
            # Ending the iteration normally lets add_urls commit every line read so far.
            self.read_error = exc

    def _read(self) -> None:
        try:
            self._result = self._store.add_urls(self._until_stopped())
        except BaseException as exc:  # handed to the consuming thread by result()
            self._error = exc
        finally:
            self.done.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the reader to stop and wait up to ``timeout`` seconds for it (only the first
        call waits). A reader blocked on input that never comes (a silent stdin) is left
        behind: it is a daemon, and what it read so far is committed."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout)

    def result(self) -> AddResult:
        """What ``add_urls`` returned (call once ``done`` is set); re-raises its error."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise RuntimeError("the input reader has not finished")
        return self._result


class PendingFollower:
    """Iterates the store's URLs still to do, following input that is still being added.

    Each pass reads `Store.pending` past the last ``seq`` seen; when a pass ends while
    the reader is still adding, it waits briefly and reads on. ``total`` is None until
    the input is complete, then the exact number of URLs this iteration yields.
    """

    def __init__(
        self,
        store: Store,
        include_failed: bool,
        reader: InputReader | None,
        *,
        poll: float = 0.05,
    ) -> None:
        self._store = store
        self._include_failed = include_failed
        self._reader = reader
        self._poll = poll
        self.yielded = 0
        self.total: int | None = None

    def __iter__(self) -> Iterator[UrlRecord]:
        after = 0
        while True:
            # Read before the pass: if the input was complete then, the pass sees it all.
            complete = self._reader is None or self._reader.done.is_set()
            if complete and self.total is None:
                self.total = self.yielded + self._store.count_pending(
                    self._include_failed, after=after
                )
            for record in self._store.pending(self._include_failed, after=after):
                after = record.seq
                self.yielded += 1
                yield record
            if complete:
                return
            assert self._reader is not None
            self._reader.done.wait(self._poll)
