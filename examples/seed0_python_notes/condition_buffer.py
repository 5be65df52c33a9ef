"""Seed 000 (Python Notes 17.6.2): a producer notifies consumers through a ``Condition``,
and two conditions share one ``RLock`` "for a single resource".

The note's consumer calls ``wait()`` with no timeout and releases the lock by hand, so a
producer that dies leaves it blocked forever. Here a bounded buffer uses two
:class:`~threadloom.sync.Condition` s on one lock (``not_empty`` and ``not_full``) with
``wait_for`` and a timeout, and the producer and consumer are Pool tasks whose
failures reach the caller. (For plain hand-offs, ``queue.Queue`` or a
:class:`~threadloom.core.Pipeline` does all of this for you.)
"""

from __future__ import annotations

from collections import deque

from threadloom.core import Pool
from threadloom.sync import Condition, RLock


class BoundedBuffer:
    """At most ``capacity`` items; ``put`` waits while full, ``get`` while empty."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.peak = 0
        self._items: deque[int] = deque()
        lock = RLock()
        self._not_empty = Condition(lock)
        self._not_full = Condition(lock)

    def put(self, item: int, timeout: float = 5.0) -> None:
        with self._not_full:
            if not self._not_full.wait_for(lambda: len(self._items) < self.capacity, timeout):
                raise TimeoutError("buffer stayed full: is the consumer alive?")
            self._items.append(item)
            self.peak = max(self.peak, len(self._items))
            self._not_empty.notify()

    def get(self, timeout: float = 5.0) -> int:
        with self._not_empty:
            if not self._not_empty.wait_for(lambda: self._items, timeout):
                raise TimeoutError("buffer stayed empty: is the producer alive?")
            item = self._items.popleft()
            self._not_full.notify()
            return item


def produce(buffer: BoundedBuffer, count: int) -> None:
    for n in range(count):
        buffer.put(n)


def main(count: int = 200, capacity: int = 4) -> dict[str, object]:
    """Move ``count`` items through a buffer of ``capacity``; return what arrived."""
    buffer = BoundedBuffer(capacity)
    with Pool(2, thread_name_prefix="buffer") as pool:
        producer = pool.submit(produce, buffer, count)
        consumer = pool.submit(lambda: [buffer.get() for _ in range(count)])
        producer.result()
        received = consumer.result()
    print(f"received {len(received)} items in order: {received == list(range(count))}")
    print(f"the buffer never held more than {buffer.peak} (capacity {capacity})")
    return {"received": received, "peak": buffer.peak}


if __name__ == "__main__":
    main()
