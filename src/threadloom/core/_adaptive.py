"""The pool's throttles: which :class:`~._throttle.Throttle` policy each key follows, and
the :class:`~._throttle.KeyThrottle` controller of each key in use.

The engine feeds every finished attempt of a keyed task to its key's controller and
applies the decisions through the key gate (the limit with ``set_limit``, the spacing
with ``set_spacing``). A pool without a throttle pays one attribute check per keyed
attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from ._throttle import KeyThrottle, Throttle

__all__ = ["ThrottleBook"]


class ThrottleBook:
    """The throttle policies of one pool (a default and per-key ones) and the state of
    every throttled key, kept for the pool's life (a key that comes back goes on from
    where it was). Thread-safe (its own lock, taken with or without the pool's)."""

    __slots__ = ("_controllers", "_default", "_lock", "_policies", "active")

    def __init__(self, default: Throttle | None) -> None:
        self._lock = threading.Lock()
        self._default = default
        self._policies: dict[Hashable, Throttle | None] = {}
        self._controllers: dict[Hashable, KeyThrottle] = {}
        # True once any policy exists: the engine's one check per keyed attempt.
        self.active = default is not None

    def set_default(self, policy: Throttle | None) -> None:
        """The policy of every key without its own, for keys not yet throttled."""
        with self._lock:
            self._default = policy
            self.active = self.active or policy is not None

    def set_key(self, key: Hashable, policy: Throttle | None) -> KeyThrottle | None:
        """Give ``key`` its own policy (None: no throttle for it, whatever the default);
        its state starts afresh. Returns the key's new controller (None if unthrottled)."""
        with self._lock:
            self._policies[key] = policy
            self._controllers.pop(key, None)
            if policy is None:
                return None
            self.active = True
            controller = self._controllers[key] = KeyThrottle(policy, key)
            return controller

    def controller(self, key: Hashable) -> tuple[KeyThrottle | None, bool]:
        """The controller of ``key`` (None: not throttled) and whether it was created
        now (the caller then applies its initial limit)."""
        controller = self._controllers.get(key)
        if controller is not None:
            return controller, False
        with self._lock:
            controller = self._controllers.get(key)
            if controller is not None:
                return controller, False
            policy = self._policies.get(key, self._default) if self._policies else self._default
            if policy is None:
                return None, False
            controller = self._controllers[key] = KeyThrottle(policy, key)
            return controller, True
