"""`IDLE`: the input item that means "nothing to read yet" (its own module: the fetch's
plain path and its input readers use it without loading pipelines)."""

from __future__ import annotations

from typing import Final

__all__ = ["IDLE"]


class _Idle:
    """The type of :data:`IDLE` (one instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IDLE"


IDLE: Final = _Idle()
"""An input item that means "nothing to read yet": the run skips it and delivers the
results that are ready before it reads the input again.

Input is read by the thread that iterates the results, so while ``next(input)`` waits
for data, finished results wait too. An input that may wait long (a pipe, a queue, a
table being filled) should wait briefly and yield IDLE instead; the results then flow
while it waits, and its own brief wait paces the loop."""
