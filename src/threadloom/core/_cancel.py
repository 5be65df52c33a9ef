"""Cooperative cancellation: a token per task, readable from inside the task.

A running Python thread cannot be stopped from outside, so cancellation is a request:
the pool sets the task's token (on deadline, on ``Future.cancel()``, on
``shutdown(cancel_futures=True)``, on Ctrl-C) and the task decides when to stop by
checking :func:`cancel_requested` or waiting on :meth:`CancelToken.wait` instead of sleeping.
"""

from __future__ import annotations

import threading
import time

from ._errors import CoreError
from ._waiting import wait_slice

__all__ = ["CancelToken", "TaskCancelled", "cancel_requested", "cancelled", "current_token"]

# Guards the lazy creation of a token's Event against a concurrent set(); one lock for
# all tokens because both operations are rare and tiny, and a lock per token would make
# every task pay for an allocation it almost never uses.
_token_lock = threading.Lock()


class TaskCancelled(CoreError):
    """Raised by :meth:`CancelToken.raise_if_set` inside a task whose token is set.

    ``reason`` says who asked: ``"deadline"``, ``"cancel"``, ``"shutdown"`` or
    ``"interrupt"`` (Ctrl-C), or whatever string was passed to :meth:`CancelToken.set`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"task cancelled ({reason})")
        self.reason = reason


class CancelToken:
    """A one-way flag asking a task to stop; once set it stays set.

    Thread-safe. Cheap to create: the :class:`threading.Event` behind :meth:`wait` is only
    allocated when someone waits.
    """

    __slots__ = ("_event", "_reason")

    def __init__(self) -> None:
        self._reason: str | None = None
        self._event: threading.Event | None = None

    def set(self, reason: str = "cancel") -> None:
        """Request cancellation. The first reason wins; later calls change nothing."""
        with _token_lock:
            if self._reason is None:
                self._reason = reason
            event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        """True once cancellation has been requested."""
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why the token was set (see :class:`TaskCancelled`), or None while not set."""
        return self._reason

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the token is set or ``timeout`` seconds pass; return :meth:`is_set`.

        Use it instead of ``time.sleep`` in a task so that a cancellation ends the pause.
        """
        if self._reason is not None:
            return True
        with _token_lock:
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        # set() may have run between the first check and the Event's creation; it
        # stored the reason under the lock, so checking again closes the gap.
        if self.is_set():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while not event.wait(wait_slice(deadline)):
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def raise_if_set(self) -> None:
        """Raise :class:`TaskCancelled` if the token is set; otherwise do nothing."""
        reason = self._reason
        if reason is not None:
            raise TaskCancelled(reason)

    def __repr__(self) -> str:
        state = "unset" if self._reason is None else f"set ({self._reason})"
        return f"<CancelToken {state}>"


class _Current(threading.local):
    token: CancelToken | None = None


_current = _Current()

# Returned outside tasks so callers never need a None check; nobody can set it because
# it never leaves this module except through current_token(), whose docs say so.
_NEVER = CancelToken()


def current_token() -> CancelToken:
    """The cancellation token of the pool task running in this thread.

    Outside a task it returns a token that is never set by the pool (setting it yourself
    affects every caller outside a task, so don't).
    """
    token = _current.token
    return _NEVER if token is None else token


def cancel_requested() -> bool:
    """True if the pool task running in this thread has been asked to stop.

    It becomes true on the task's deadline, on ``future.cancel()`` while it runs, on
    ``shutdown(cancel_futures=True)`` and on Ctrl-C in a thread waiting on the pool.
    Always False outside a task. (Not ``Future.cancelled()``: the task's future is not
    cancelled by then, since it was running; its token was set.)
    """
    token = _current.token
    return token is not None and token._reason is not None


# The name this function had first, documented in earlier releases: it read like
# ``Future.cancelled()``, which answers another question. Kept so that code using it runs.
cancelled = cancel_requested
