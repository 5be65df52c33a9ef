"""Adaptive concurrency: a policy value (:class:`Throttle`) and the per-key controller
that applies it (:class:`KeyThrottle`).

The rule is AIMD, the one TCP congestion control and Envoy's and Netflix's adaptive
concurrency limiters settled on, because it is the simple rule that converges: on a sign
of overload (an attempt slower than the target latency, or an error the policy calls
overload, such as HTTP 429/503 or a timeout) the limit is multiplied by ``backoff``; on a
healthy attempt it grows by ``increase`` per round (a round is ``limit`` completions, so
each completion adds ``increase / limit``). Until the first sign of overload it grows by one
per completion (it doubles each round: "slow start"), so a high ceiling is found in a few
rounds instead of one step per round.

Two details keep it from over-reacting:
- One cut per round. When a server is overloaded, every attempt in flight comes back slow at
  about the same time; cutting once per slow completion would take the limit to the floor
  at once. An overload sign only counts if its attempt started after the last cut.
- A plateau near the last cut. Within one of the limit the last cut started from, growth
  is :data:`PLATEAU` times slower (TCP CUBIC's idea): that limit overloaded the key, the
  one below it probably did not, so the key spends its time just under the level that
  hurt instead of in the sawtooth's valleys and peaks. Past it, growth is normal again
  (the key may have got faster).
- Below the floor, spacing. At ``min_limit`` with overload still reported, concurrency
  cannot drop further, so starts are spaced out instead (``interval`` starts at the target
  latency and doubles, and a ``Retry-After`` the error carries is honoured as the
  spacing); healthy completions halve it again, and drop it below the target latency,
  before the limit grows.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["PLATEAU", "KeyThrottle", "Throttle", "ThrottleDecision"]

PLATEAU = 8.0
"""How many times slower a limit grows within one of the limit its last cut started from."""

OverloadOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


@dataclass(frozen=True, slots=True)
class Throttle:
    """How a key's concurrency adapts to the latency and errors of its tasks.

    target_latency: seconds; an attempt that takes longer is a sign of overload.
    start: the limit before anything is observed (default: ``min_limit``).
    min_limit, max_limit: the limit stays within these (``max_limit`` is the ceiling a
        user would otherwise set as a fixed limit).
    increase: added to the limit per healthy round, after the first sign of overload.
    backoff: the limit is multiplied by this on a sign of overload (0 < backoff < 1).
    max_interval: ceiling, in seconds, for the spacing between starts used once the limit
        is at ``min_limit`` and overload is still reported.
    overload_on: exception types, or a predicate ``exc -> bool``, that are signs of
        overload. Whatever it says, an exception with a numeric ``retry_after`` attribute
        (an HTTP Retry-After) is one too. Other failures (a 404, a refused connection)
        say nothing about load and change nothing.
    latency_factor: if given (> 1), the target follows the key: an attempt is slow when
        it takes longer than ``max(target_latency, latency_factor x the fastest
        successful attempt of the key so far)``, so ``target_latency`` becomes a floor
        (below it, latency is noise) and one policy fits hosts of any speed. The fastest
        attempt is the one least queued, which is how the key answers when it is not
        overloaded (the "minimum RTT" of delay-based congestion control).
    """

    target_latency: float
    start: int | None = None
    min_limit: int = 1
    max_limit: int = 64
    increase: float = 1.0
    backoff: float = 0.5
    max_interval: float = 60.0
    overload_on: OverloadOn = (TimeoutError,)
    latency_factor: float | None = None

    def __post_init__(self) -> None:
        if self.latency_factor is not None and not (
            self.latency_factor > 1 and math.isfinite(self.latency_factor)
        ):
            raise ValueError(f"Throttle.latency_factor must be > 1, got {self.latency_factor}")
        if not (self.target_latency > 0 and math.isfinite(self.target_latency)):
            raise ValueError(f"Throttle.target_latency must be > 0 s, got {self.target_latency}")
        if self.min_limit < 1:
            raise ValueError(f"Throttle.min_limit must be >= 1, got {self.min_limit}")
        if self.max_limit < self.min_limit:
            raise ValueError(
                f"Throttle.max_limit ({self.max_limit}) must be >= min_limit ({self.min_limit})"
            )
        if self.start is not None and not self.min_limit <= self.start <= self.max_limit:
            raise ValueError(
                f"Throttle.start must be within [{self.min_limit}, {self.max_limit}],"
                f" got {self.start}"
            )
        if not (self.increase > 0 and math.isfinite(self.increase)):
            raise ValueError(f"Throttle.increase must be > 0, got {self.increase}")
        if not 0 < self.backoff < 1:
            raise ValueError(f"Throttle.backoff must be within (0, 1), got {self.backoff}")
        if not (self.max_interval >= 0 and math.isfinite(self.max_interval)):
            raise ValueError(f"Throttle.max_interval must be >= 0 s, got {self.max_interval}")

    @property
    def initial_limit(self) -> int:
        """The limit a key starts with: ``start``, or ``min_limit`` when not given."""
        return self.min_limit if self.start is None else self.start

    def is_overload(self, exc: BaseException) -> bool:
        """True if a task failing with ``exc`` is a sign its key is overloaded."""
        if retry_after_of(exc) is not None:
            return True
        if isinstance(self.overload_on, tuple):
            return isinstance(exc, self.overload_on)
        return bool(self.overload_on(exc))


def retry_after_of(exc: BaseException | None) -> float | None:
    """The seconds an error asks to wait (its numeric ``retry_after``), or None."""
    asked = getattr(exc, "retry_after", None)
    if isinstance(asked, int | float) and not isinstance(asked, bool) and asked >= 0:
        return float(asked)
    return None


@dataclass(frozen=True, slots=True)
class ThrottleDecision:
    """A change a :class:`KeyThrottle` made to its key, for the caller to apply and trace.

    key: the key it is about. time: ``time.monotonic()`` of the observation that caused it.
    limit: tasks of the key allowed to run at once from now on. interval: seconds between
    two starts of the key (0: no spacing). reason: ``"slow start"``, ``"healthy"``,
    ``"slow"`` (latency above target), ``"overload"`` or ``"retry-after"``.
    """

    key: Hashable
    time: float
    limit: int
    interval: float
    reason: str


class KeyThrottle:
    """The state of one key under a :class:`Throttle`; thread-safe.

    Feed it every finished attempt of the key with :meth:`observe`; it returns a
    :class:`ThrottleDecision` when the key's limit or spacing changes, and None when
    nothing the caller applies has changed.
    """

    def __init__(self, policy: Throttle, key: Hashable) -> None:
        self.policy = policy
        self.key = key
        self._lock = threading.Lock()
        self._limit = float(policy.initial_limit)
        self._interval = 0.0
        self._slow_start = True
        self._last_cut = -math.inf
        self._fastest = math.inf  # latency_factor: the fastest successful attempt
        self._ceiling = math.inf  # the limit the last cut started from

    @property
    def limit(self) -> int:
        """Tasks of the key allowed to run at once now."""
        return int(self._limit)

    @property
    def interval(self) -> float:
        """Seconds between two starts of the key now (0: no spacing)."""
        return self._interval

    def observe(
        self, started: float, finished: float, error: BaseException | None = None
    ) -> ThrottleDecision | None:
        """Account for one attempt that ran from ``started`` to ``finished`` (monotonic
        seconds) and ended with ``error`` (None for success)."""
        policy = self.policy
        if error is not None and not policy.is_overload(error):
            return None  # a failure that says nothing about load
        took = finished - started
        with self._lock:
            before = (int(self._limit), self._interval)
            target = policy.target_latency
            if policy.latency_factor is not None:
                if error is None and took < self._fastest:
                    self._fastest = took
                target = max(target, policy.latency_factor * self._fastest)
            if error is not None or took > target:
                if started < self._last_cut:
                    return None  # this round was already cut
                reason = self._cut(finished, retry_after_of(error), error is not None)
            else:
                reason = self._grow()
            after = (int(self._limit), self._interval)
        if after == before:
            return None
        return ThrottleDecision(self.key, finished, after[0], after[1], reason)

    def _cut(self, now: float, retry_after: float | None, failed: bool) -> str:
        policy = self.policy
        self._slow_start = False
        self._last_cut = now
        if retry_after is not None:
            # The server said when to come back: one start per that many seconds, from
            # the floor, until healthy answers earn concurrency back.
            if self._limit > policy.min_limit:
                self._ceiling = self._limit
            self._limit = float(policy.min_limit)
            self._interval = min(max(self._interval, retry_after), policy.max_interval)
            return "retry-after"
        if self._limit > policy.min_limit:
            self._ceiling = self._limit
            self._limit = max(float(policy.min_limit), self._limit * policy.backoff)
        elif policy.max_interval > 0:
            # Starts cannot overlap less: space them out instead.
            doubled = max(self._interval * 2, policy.target_latency)
            self._interval = min(doubled, policy.max_interval)
        return "overload" if failed else "slow"

    def _grow(self) -> str:
        policy = self.policy
        if self._interval > 0:
            # Spacing began at target_latency when it was doubled from nothing; halved
            # below that it is dropped, so recovery takes as many steps as the back-off.
            halved = self._interval / 2
            self._interval = halved if halved >= policy.target_latency else 0.0
            return "healthy"
        if self._slow_start:
            self._limit = min(float(policy.max_limit), self._limit + 1)
            return "slow start"
        step = policy.increase / max(self._limit, 1.0)
        if self._ceiling - 1 <= self._limit < self._ceiling + 1:
            step /= PLATEAU
        self._limit = min(float(policy.max_limit), self._limit + step)
        return "healthy"
