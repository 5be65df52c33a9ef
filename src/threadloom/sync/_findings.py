"""Findings (lock-order cycles, deadlocks) and the listeners that want to hear of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from threadloom.sync import _rules, _state

FindingKind = Literal["lock-order", "deadlock"]


@dataclass(frozen=True)
class Finding:
    """One problem found at run time.

    ``kind`` is ``"lock-order"`` (a cycle in the lock-order graph: a deadlock that can
    happen) or ``"deadlock"`` (threads that were about to block forever). ``summary`` is
    one line; ``details`` is the full explanation with stacks; ``thread`` is the name of
    the thread that found it. ``sites`` are the ``(file, line)`` where its locks were
    created (suppression rules match them); ``files`` are the source files of the code
    that took or waited for its locks, the innermost frame of each stack
    (``--threadloom-own-code-only`` looks for the project's own files there).
    """

    kind: FindingKind
    summary: str
    details: str
    thread: str
    sites: tuple[tuple[str, int], ...] = ()
    files: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.details


Listener = Callable[[Finding], None]

_findings: list[Finding] = []
_suppressed: list[Finding] = []
_listeners: list[Listener] = []
# A plain lock of the _thread module: never instrumented, so recording a finding can not
# itself produce a finding.
_lock = _state.allocate_lock()


def publish(finding: Finding) -> bool:
    """Record a finding and hand it to every listener (in the finding thread).

    Returns False, recording it only in :func:`suppressed`, when a ``lock-order`` rule
    (see ``_rules``) matches one of its lock-order finding's locks.
    """
    if finding.kind == "lock-order" and _rules.suppressed(finding.sites) is not None:
        with _lock:
            _suppressed.append(finding)
        return False
    with _lock:
        _findings.append(finding)
        listeners = list(_listeners)
    for listener in listeners:
        listener(finding)
    return True


def findings() -> tuple[Finding, ...]:
    """Every finding recorded since the start (or the last :func:`clear_findings`)."""
    with _lock:
        return tuple(_findings)


def suppressed() -> tuple[Finding, ...]:
    """The findings a suppression rule matched since the start (or the last clear)."""
    with _lock:
        return tuple(_suppressed)


def clear_findings() -> None:
    """Forget the recorded findings, suppressed ones included (listeners stay subscribed)."""
    with _lock:
        _findings.clear()
        _suppressed.clear()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(finding)`` for each future finding; returns a function that unsubscribes.

    The listener runs in the thread that found the problem, before a warning is issued or
    an exception raised there; it must not block.
    """
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe
