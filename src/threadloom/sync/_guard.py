"""Race helpers: state that may only be touched while its lock is held.

The seeds' two races (a counter whose ``+= 1`` loses updates; a dict that changes size
while another thread iterates it) happen only under an unlucky interleaving.  Declaring
the state as guarded turns them into an :class:`UnguardedAccessError` at the very first
unguarded access, whatever the interleaving.
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, TypeVar, overload

from threadloom.sync import _state
from threadloom.sync._errors import UnguardedAccessError
from threadloom.sync._lock import Lock, RLock

T = TypeVar("T")


def _check(lock: Lock | RLock, what: str, access: str) -> None:
    if lock._owner is not _state.current_state():
        thread = _state.thread_name(_state.get_ident())
        raise UnguardedAccessError(
            f"{what} {access} by thread {thread!r} without holding {lock._describe()}; "
            f"wrap the access in 'with lock:'"
        )


def _require_lock(lock: object) -> Lock | RLock:
    if not isinstance(lock, Lock | RLock):
        raise TypeError(
            f"a guard needs a threadloom.sync Lock or RLock (they know their owner), "
            f"not {type(lock).__name__}"
        )
    return lock


class Guarded(Generic[T]):
    """A value that may only be used while the calling thread holds ``lock``.

    ``.value`` (read or assignment) raises :class:`UnguardedAccessError` unless the
    calling thread holds the lock; ``with guarded as value:`` acquires the lock and
    yields the value. The check covers reaching the value, not what is done with a
    reference kept after the lock is released: do not keep one.
    """

    __slots__ = ("_lock", "_value")

    def __init__(self, value: T, lock: Lock | RLock) -> None:
        self._lock = _require_lock(lock)
        self._value = value

    @property
    def lock(self) -> Lock | RLock:
        """The lock that guards the value."""
        return self._lock

    @property
    def value(self) -> T:
        """The value; UnguardedAccessError unless the calling thread holds the lock."""
        _check(self._lock, "guarded value", "read")
        return self._value

    @value.setter
    def value(self, value: T) -> None:
        _check(self._lock, "guarded value", "written")
        self._value = value

    def __enter__(self) -> T:
        self._lock.acquire()
        return self._value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def __repr__(self) -> str:
        return f"<threadloom.sync.Guarded by {self._lock._describe()}>"


class guarded_by(Generic[T]):
    """An attribute that may only be used while its lock is held.

    ``lock`` is the lock itself, or the name of the instance attribute that holds it::

        class Counter:
            value = guarded_by[int]("lock")

            def __init__(self) -> None:
                self.lock = Lock()
                self.value = 0          # the first assignment initialises, unchecked

    Every later read or assignment raises :class:`UnguardedAccessError` unless the
    calling thread holds the lock.
    """

    def __init__(self, lock: Lock | RLock | str) -> None:
        self._lock = lock if isinstance(lock, str) else _require_lock(lock)
        self._name = "<unnamed>"
        self._key = "_guarded_<unnamed>"

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = f"{owner.__name__}.{name}"
        self._key = f"_guarded_{name}"

    def _lock_of(self, obj: object) -> Lock | RLock:
        if isinstance(self._lock, str):
            return _require_lock(getattr(obj, self._lock))
        return self._lock

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> guarded_by[T]: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> T | guarded_by[T]:
        if obj is None:
            return self
        _check(self._lock_of(obj), self._name, "read")
        try:
            value: T = vars(obj)[self._key]
        except KeyError:
            raise AttributeError(f"{self._name} has not been set") from None
        return value

    def __set__(self, obj: object, value: T) -> None:
        if self._key in vars(obj):
            _check(self._lock_of(obj), self._name, "written")
        vars(obj)[self._key] = value
