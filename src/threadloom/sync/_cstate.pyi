"""The calling thread's threadloom.sync state, kept in the thread state's dict (C)."""

def get() -> object:
    """The object set() stored for the calling thread, or None."""

def set(value: object, /) -> None:
    """Store ``value`` for the calling thread (until the thread ends)."""
