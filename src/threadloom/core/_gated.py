"""``Gated``: what the per-key gate (`._keys.KeyGate`) and a key's priority order
(`._priority.PriorityWaiting`) read and mark on the items they admit.

A pool's `Task` is one; the fetch job's plain path (``jobs/_direct.py``) admits its own
URL records through a gate of its own, so per-host limits and rates are one piece of
code whichever way a URL is fetched.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

__all__ = ["Gated"]


class Gated(Protocol):
    """An item a `KeyGate` admits: its key, its own limit and rate (None: the gate's
    defaults), its priority and its order among equal priorities (lower first); the
    gate sets ``keyed`` while the item holds a slot of its key, and ``dropped`` when it
    was cancelled while parked."""

    keyed: bool
    dropped: bool

    @property
    def key(self) -> Hashable | None: ...

    @property
    def key_limit(self) -> int | None: ...

    @property
    def key_rate(self) -> float | None: ...

    @property
    def priority(self) -> int: ...

    @property
    def order(self) -> int: ...
