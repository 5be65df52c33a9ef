"""Per-key admission: at most ``limit`` running tasks per key, at most one start per
``1/rate`` seconds, and a FIFO of the tasks waiting for their key (ordered by priority
once a task with a priority parks there).

:class:`KeyGate` owns every per-key structure; the pool asks it questions and starts what
it hands back. Every method is called with the pool's lock held (the gate has no lock of
its own: its state changes together with the pool's counters). The gate admits any
`Gated` item: the pool's tasks, or the fetch job's URLs on its plain path, whose one
thread is the lock.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from ._gated import Gated
from ._priority import PriorityWaiting
from ._scheduler import Scheduler, _Entry

__all__ = ["KeyGate"]

_G = TypeVar("_G", bound=Gated)

_NONE: tuple[()] = ()


class _KeyState(Generic[_G]):
    __slots__ = (
        "active",
        "dropped",
        "interval",
        "limit",
        "next_start",
        "rate",
        "requested",
        "tick",
        "waiting",
    )

    def __init__(self, limit: int | None, requested: int | None, rate: float | None) -> None:
        self.limit = sys.maxsize if limit is None else limit
        # The key_limit of the submit call that brought the key into use: what the key's
        # limit falls back to when set_key_limit(key, None) drops an explicit one.
        self.requested = requested
        self.rate = rate  # the submit call's key_rate (set_rate's, if any, wins)
        # Rate limit: at most one start per `interval` seconds for the key.
        self.interval = 0.0 if rate is None else 1.0 / rate
        self.next_start = 0.0
        self.tick: _Entry | None = None  # scheduler entry that re-checks the key
        self.active = 0
        # FIFO until a task with a priority parks here (see _priority).
        self.waiting: deque[_G] | PriorityWaiting[_G] = deque()
        self.dropped = 0  # tasks in `waiting` that were cancelled there (Task.dropped)

    def has_waiting(self) -> bool:
        """True if a task still to start waits behind the key."""
        return len(self.waiting) > self.dropped


class KeyGate(Generic[_G]):
    """Admits, parks, drops, releases and drains the keyed tasks of one pool.

    A task's key is checked when a worker reaches the task, not at submit: a slot is never
    reserved by a task still queued behind others. ``task.keyed`` is True while the task
    holds one of its key's slots; the gate sets it when it grants the slot and clears it
    when the slot comes back. The methods that free room return the parked tasks that may
    start now (each already holds its slot), oldest first: the caller starts them.
    """

    __slots__ = (
        "_default",
        "_default_rate",
        "_keys",
        "_limits",
        "_on_tick",
        "_rates",
        "_scheduler",
        "_spacing",
        "_stopping",
    )

    def __init__(
        self,
        default_limit: int | None,
        scheduler: Scheduler,
        on_tick: Callable[[Hashable], None],
        *,
        default_rate: float | None = None,
    ) -> None:
        self._default = default_limit
        # The rate of a key whose items carry none (a pool has none: rates come with
        # each submit call's key_rate).
        self._default_rate = default_rate
        self._scheduler = scheduler
        # Called on the scheduler thread when a rate-limited key may start its next task;
        # it takes the pool lock and calls tick().
        self._on_tick = on_tick
        self._keys: dict[Hashable, _KeyState[_G]] = {}
        self._limits: dict[Hashable, int] = {}  # set_key_limit's explicit limits
        self._rates: dict[Hashable, float] = {}  # set_rate's, kept for the pool's life
        # set_spacing's (a throttle's): seconds between starts, on top of the rate.
        self._spacing: dict[Hashable, float] = {}
        self._stopping = False

    def __len__(self) -> int:
        """Keys with tasks running or waiting (or whose rate still holds)."""
        return len(self._keys)

    def admit(self, task: _G) -> bool:
        """True if ``task`` may start now (taking a slot of its key if the key is capped);
        False if it must wait: the caller then parks it (or lets it through if it was
        cancelled meanwhile)."""
        key = task.key
        state = self._keys.get(key)
        if state is None:
            limit = self._limit(key, task.key_limit)
            rate = task.key_rate
            if rate is None:
                rate = self._default_rate
            if self._rates:
                rate = self._rates.get(key, rate)
            spacing = self._spacing.get(key, 0.0) if self._spacing else 0.0
            if limit is None and rate is None and not spacing:
                return True
            state = self._keys[key] = _KeyState(limit, task.key_limit, rate)
            state.interval = max(state.interval, spacing)
        if state.has_waiting() or state.active >= state.limit:
            return False
        if state.interval:
            now = time.monotonic()
            if now < state.next_start:
                return False
            state.next_start = now + state.interval
        state.active += 1
        task.keyed = True
        return True

    def park(self, task: _G) -> None:
        """Queue ``task`` (just refused by :meth:`admit`) behind its key."""
        key = task.key
        state = self._keys[key]
        # Refused for its rate alone (room, nobody ahead): nothing frees a slot, so the
        # scheduler must come back when the rate allows.
        rate_only = not state.has_waiting() and state.active < state.limit
        if task.priority and type(state.waiting) is deque:
            state.waiting = PriorityWaiting(state.waiting)
        state.waiting.append(task)
        if rate_only:
            self._arm(key, state)

    def drop(self, task: _G) -> Sequence[_G] | None:
        """``task``, parked, was cancelled: mark it so that it costs no start when its
        key reaches it. None if its key is gone (drained); else the tasks to start."""
        key = task.key
        state = self._keys.get(key)
        if state is None:
            return None
        task.dropped = True
        state.dropped += 1
        return self._pump(key, state)

    def release(self, task: _G) -> Sequence[_G]:
        """``task`` gives its slot back; returns the tasks to start."""
        task.keyed = False
        key = task.key
        state = self._keys[key]
        state.active -= 1
        return self._pump(key, state)

    def tick(self, key: Hashable) -> Sequence[_G]:
        """The scheduler's call for a rate-limited key: the tasks its rate lets start."""
        state = self._keys.get(key)
        if state is None:
            return _NONE
        state.tick = None
        return self._pump(key, state)

    def set_limit(self, key: Hashable, limit: int | None) -> Sequence[_G]:
        """Set (None: drop) the explicit limit of ``key``; returns the tasks to start."""
        if limit is None:
            self._limits.pop(key, None)
        else:
            self._limits[key] = limit
        state = self._keys.get(key)
        if state is None:
            return _NONE
        effective = self._limit(key, state.requested)
        state.limit = sys.maxsize if effective is None else effective
        return self._pump(key, state)

    def set_rate(self, key: Hashable, rate: float) -> Sequence[_G]:
        """Start at most ``rate`` (> 0) tasks of ``key`` per second from now on, for the
        pool's life (a key that comes back uses it); returns the tasks to start.

        For a key with state, the next start moves to 1/``rate`` after the last one: a
        slower rate holds waiting tasks back longer, a faster one releases them sooner.
        """
        self._rates[key] = rate
        state = self._keys.get(key)
        if state is None:
            return _NONE
        return self._retime(key, state, max(1.0 / rate, self._spacing.get(key, 0.0)))

    def set_spacing(self, key: Hashable, interval: float) -> Sequence[_G]:
        """At least ``interval`` seconds between two starts of ``key`` (0: none), on top
        of its rate (the longer of the two spacings holds), from now on and for the
        pool's life; returns the tasks to start. A throttle's back-off uses it."""
        if interval > 0:
            self._spacing[key] = interval
        else:
            self._spacing.pop(key, None)
        state = self._keys.get(key)
        if state is None:
            return _NONE
        rate = self._rates.get(key, state.rate)
        return self._retime(key, state, max(0.0 if rate is None else 1.0 / rate, interval))

    def spacing(self, key: Hashable) -> float:
        """The spacing :meth:`set_spacing` gave ``key`` (0: none)."""
        return self._spacing.get(key, 0.0)

    def _retime(self, key: Hashable, state: _KeyState[_G], interval: float) -> Sequence[_G]:
        """Give ``key`` the spacing ``interval``: its next start moves to ``interval``
        after its last one."""
        if not interval:
            state.next_start = 0.0  # _pump reads no clock for a key without spacing
        elif state.interval:
            state.next_start += interval - state.interval  # was the last start + old
        state.interval = interval
        if state.tick is not None:
            # Armed for the old next start: _pump re-arms it for the new one.
            state.tick.cancel()
            state.tick = None
        return self._pump(key, state)

    def stop_ticks(self) -> None:
        """Shutdown: cancel the ticks of idle keys and arm none for keys going idle.

        An idle key's tick only forgets the key once its rate allows: it would keep the
        scheduler thread (and so the interpreter's exit) waiting for nothing. The state
        stays: tasks already accepted still honour its rate.
        """
        self._stopping = True
        for state in self._keys.values():
            if state.active == 0 and not state.waiting and state.tick is not None:
                state.tick.cancel()
                state.tick = None

    def drain(self) -> list[_G]:
        """Remove and return every parked task not dropped; forget keys left idle."""
        drained: list[_G] = []
        for key, state in list(self._keys.items()):
            for task in state.waiting:
                if not task.dropped:  # a dropped one is settled already
                    drained.append(task)
            state.waiting.clear()
            state.dropped = 0
            if state.active == 0:
                if state.tick is not None:
                    state.tick.cancel()
                del self._keys[key]
        return drained

    def _limit(self, key: Hashable, requested: int | None) -> int | None:
        """The cap on running tasks of ``key`` (None: no cap): the ``set_key_limit`` one,
        else ``requested`` (a submit call's ``key_limit``), else the pool's default."""
        return self._limits.get(key) or requested or self._default

    def _pump(self, key: Hashable, state: _KeyState[_G]) -> Sequence[_G]:
        """Hand slots to waiting tasks while the limit and rate allow; drop idle state."""
        now = time.monotonic() if state.interval else 0.0
        started: list[_G] | None = None
        while state.waiting and state.active < state.limit:
            if state.waiting[0].dropped:
                state.waiting.popleft()
                state.dropped -= 1
                continue
            if now < state.next_start:
                self._arm(key, state)
                return started or _NONE
            successor = state.waiting.popleft()
            successor.keyed = True
            state.active += 1
            if state.interval:
                state.next_start = now + state.interval
            if started is None:
                started = [successor]
            else:
                started.append(successor)
        if state.active == 0 and not state.waiting:
            if now < state.next_start:
                # Forget the key once its rate allows; after shutdown no tick (see
                # stop_ticks).
                if not self._stopping:
                    self._arm(key, state)
            else:
                if state.tick is not None:
                    state.tick.cancel()
                del self._keys[key]  # keys come and go: keep no state for idle ones
        return started or _NONE

    def _arm(self, key: Hashable, state: _KeyState[_G]) -> None:
        if state.tick is None:
            on_tick = self._on_tick
            state.tick = self._scheduler.call_at(state.next_start, lambda: on_tick(key))
