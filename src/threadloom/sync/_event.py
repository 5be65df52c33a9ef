"""Event: the standard semantics, with visible waiters."""

from __future__ import annotations

import warnings

from threadloom.sync import _order, _state
from threadloom.sync._condition import Condition
from threadloom.sync._state import WaitRecord
from threadloom.sync._stats import EventStatistics, waiters_of


class Event(_state.Unowned):
    """A drop-in ``threading.Event``: a flag threads can wait for.

    ``wait()`` returns True as soon as the flag is set, even if it is cleared again
    before the waiter runs; its blocked waiters are listed by the watchdog.
    """

    def __init__(self) -> None:
        self._cond = Condition(_state.allocate_lock())
        self._flag = False
        self._records: list[WaitRecord] = []
        self._site = _state.creation_site()
        self._label = _order.new_label("Event", self._site)

    def _at_fork_reinit(self) -> None:
        self._cond._at_fork_reinit()

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._flag

    def isSet(self) -> bool:
        """Deprecated alias of :meth:`is_set`, as in ``threading``."""
        warnings.warn(
            "isSet() is deprecated, use is_set() instead", DeprecationWarning, stacklevel=2
        )
        return self.is_set()

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        with self._cond:
            self._flag = True
            self._cond.notify_all()

    def clear(self) -> None:
        """Reset the flag."""
        with self._cond:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the flag is set or ``timeout`` seconds pass; return the flag's verdict."""
        with self._cond:
            if self._flag:
                return True
            return self._cond._wait(timeout, self, self._records)

    def statistics(self) -> EventStatistics:
        """A frozen snapshot: the flag and the waiters."""
        return EventStatistics(self._label, self._flag, waiters_of(self._records))

    def __repr__(self) -> str:
        state = "set" if self._flag else "unset"
        return (
            f"<threadloom.Event at {id(self):#x} {self._label} "
            f"waiters={len(self._records)}: {state}>"
        )
