"""StoreUnavailable belongs to the store's exception tree."""

from __future__ import annotations

from threadloom.jobs import StoreUnavailable
from threadloom.store import StoreError


def test_store_unavailable_is_a_store_error() -> None:
    assert issubclass(StoreUnavailable, StoreError)
