"""Global settings of the detectors: what to do about lock-order cycles, how to key locks.

Defaults come from the environment (read once, at import) and can be changed with
:func:`configure`:

- ``THREADLOOM_SYNC_MODE``: ``off``, ``warn`` (default) or ``raise``.
- ``THREADLOOM_SYNC_KEY``: ``instance`` (default) or ``site``.
- ``THREADLOOM_SYNC_DEADLOCKS``: ``1`` (default) or ``0``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, get_args

Mode = Literal["off", "warn", "raise"]
Key = Literal["instance", "site"]

_LEVELS: dict[str, int] = {"off": 0, "warn": 1, "raise": 2}


@dataclass(frozen=True)
class Config:
    """The detectors' settings (see :func:`configure`)."""

    mode: Mode
    key: Key
    deadlocks: bool
    sites: bool


class _Settings:
    """The mutable form read on the hot path (one attribute load per check)."""

    __slots__ = ("deadlocks", "key", "level", "mode", "sites", "slice")

    def __init__(self) -> None:
        self.mode: Mode = "warn"
        self.level = 1
        self.key: Key = "instance"
        self.deadlocks = True
        self.sites = False
        # How long one blocking wait slice lasts before the wait-for graph is checked
        # again: a deadlock is noticed at most about this long after it forms.
        self.slice = 0.05


settings = _Settings()


def configure(
    *,
    mode: Mode | None = None,
    key: Key | None = None,
    deadlocks: bool | None = None,
    sites: bool | None = None,
) -> Config:
    """Change the detectors' settings for the whole process; returns the new settings.

    - ``mode``: what an acquisition that closes a lock-order cycle does. ``"off"``: lock
      order is not tracked (the hot path then costs a flag test); ``"warn"`` (default):
      :class:`LockOrderWarning` once per new cycle; ``"raise"``: :class:`LockOrderError`
      before the lock is taken.
    - ``key``: ``"instance"`` (default) checks every lock separately; ``"site"`` merges all
      locks created at one source line (e.g. one per object of a class) into one node, so
      two instances of one class are checked together. It applies to locks created after
      the call; two locks of the same site nested inside each other are then not a cycle.
    - ``deadlocks``: raise :class:`DeadlockError` instead of blocking forever (default True).
    - ``sites``: record where every acquisition happened (``statistics().acquired_at``)
      for locks created after the call. Default False: a lock records acquisition sites
      from its first contended acquisition on, which keeps the uncontended path cheap.
    """
    if mode is not None:
        if mode not in _LEVELS:
            raise ValueError(f"mode must be one of {sorted(_LEVELS)}, not {mode!r}")
        settings.mode = mode
        settings.level = _LEVELS[mode]
    if key is not None:
        if key not in get_args(Key):
            raise ValueError(f"key must be 'instance' or 'site', not {key!r}")
        settings.key = key
    if deadlocks is not None:
        settings.deadlocks = bool(deadlocks)
    if sites is not None:
        settings.sites = bool(sites)
    return current_config()


def current_config() -> Config:
    """The settings in force."""
    return Config(
        mode=settings.mode, key=settings.key, deadlocks=settings.deadlocks, sites=settings.sites
    )


def _from_environment() -> None:
    mode = os.environ.get("THREADLOOM_SYNC_MODE", "").strip().lower()
    key = os.environ.get("THREADLOOM_SYNC_KEY", "").strip().lower()
    deadlocks = os.environ.get("THREADLOOM_SYNC_DEADLOCKS", "").strip()
    if mode in _LEVELS:
        settings.mode = mode  # type: ignore[assignment]
        settings.level = _LEVELS[mode]
    if key in get_args(Key):
        settings.key = key  # type: ignore[assignment]
    if deadlocks in ("0", "1"):
        settings.deadlocks = deadlocks == "1"


_from_environment()
