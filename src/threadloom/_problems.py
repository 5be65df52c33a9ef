"""The kinds of problem a store can hold, named and counted once for every view of it.

The fetch summary, the HTML report and ``threadloom status`` all show these counts with
these words, so the three always agree. A module of its own, like ``_units``: ``status``
uses it without importing the fetch job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

PROCESS_FAILED: Final = "processing failed"
"""The label of done URLs whose processing failed (a part of ``done``, not a state)."""


def problem_counts(counts: Mapping[str, int], process_failed: int) -> dict[str, int]:
    """Every kind of URL that keeps a fetch from exit status 0, with its count, in this
    order: ``failed``, ``invalid``, ``processing failed`` (done URLs whose processing
    failed) and ``pending`` (not fetched yet: an interrupted run). ``counts`` are URLs
    by state (missing states count 0)."""
    return {
        "failed": counts.get("failed", 0),
        "invalid": counts.get("invalid", 0),
        PROCESS_FAILED: process_failed,
        "pending": counts.get("pending", 0),
    }
