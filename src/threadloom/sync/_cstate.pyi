"""The calling thread's threadloom.sync state, kept in the thread state's dict (C)."""

from collections.abc import Callable

def current() -> object:
    """The object set() stored for the calling thread; if none, what the factory returns."""

def set(value: object, /) -> None:
    """Store ``value`` for the calling thread (until the thread ends)."""

def set_factory(factory: Callable[[], object], /) -> None:
    """What current() calls in a thread that has no state yet."""
