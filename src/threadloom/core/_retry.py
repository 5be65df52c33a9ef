"""Retry policy: an immutable value that says whether and when to try a task again."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import CoreError

__all__ = ["Retry", "RetryLater"]

RetryOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


class RetryLater(CoreError):
    """Raise from a task to ask for another attempt after ``delay`` seconds.

    The pool honours it whenever the task's :class:`Retry` policy has attempts left, even
    if ``retry_on`` would not match; without a policy (or with none left) it fails the
    future like any other exception. ``delay`` is capped by ``Retry.max_retry_after``.
    """

    def __init__(self, delay: float, message: str = "") -> None:
        super().__init__(message or f"retry requested in {delay:g} s")
        self.retry_after: float = float(delay)


@dataclass(frozen=True, slots=True)
class Retry:
    """When to retry a failed task and how long to wait first.

    attempts: total attempts including the first (1 means never retry).
    backoff: delay before the second attempt, in seconds.
    multiplier: each further delay is the previous one times this.
    max_backoff: ceiling for the computed delay.
    jitter: the computed delay is multiplied by a uniform factor in
        ``[1 - jitter, 1 + jitter]`` so that many failing tasks do not retry in lock-step.
    retry_on: a tuple of exception types to retry, or a predicate ``exc -> bool``.
        Exceptions that are not ``Exception`` (KeyboardInterrupt, SystemExit) are never
        retried.
    max_retry_after: ceiling for a delay the task asks for itself, through an exception
        with a numeric ``retry_after`` attribute (an HTTP ``Retry-After``, or
        :class:`RetryLater`). Such a delay replaces the computed backoff and gets no jitter.

    The pool re-schedules a retry on its scheduler thread; no worker sleeps.
    """

    attempts: int = 3
    backoff: float = 0.1
    multiplier: float = 2.0
    max_backoff: float = 30.0
    jitter: float = 0.1
    retry_on: RetryOn = (Exception,)
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry.attempts must be >= 1, got {self.attempts}")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"Retry.{name} must be a finite number >= 0, got {value}")
        if self.multiplier < 1:
            raise ValueError(f"Retry.multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Retry.jitter must be within [0, 1], got {self.jitter}")

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """True if a task whose ``attempt``-th attempt (1-based) raised ``exc`` gets another."""
        if attempt >= self.attempts or not isinstance(exc, Exception):
            return False
        if isinstance(exc, RetryLater):
            return True
        if isinstance(self.retry_on, tuple):
            return isinstance(exc, self.retry_on)
        return bool(self.retry_on(exc))

    def delay(self, exc: BaseException, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``, after attempt ``attempt`` raised."""
        asked = getattr(exc, "retry_after", None)
        if isinstance(asked, int | float) and not isinstance(asked, bool) and asked >= 0:
            return min(float(asked), self.max_retry_after)
        base = min(self.backoff * self.multiplier ** (attempt - 1), self.max_backoff)
        if self.jitter:
            base *= 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base)
