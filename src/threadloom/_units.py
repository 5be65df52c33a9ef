"""Quantities for people, shared by the command line and the fetch job's outputs."""

from __future__ import annotations

__all__ = ["human_bytes"]


def human_bytes(count: int) -> str:
    """A byte count for people: ``512`` -> ``"512 B"``, ``1536`` -> ``"1.5 KiB"``."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    units = iter(("KiB", "MiB", "GiB", "TiB"))
    unit = next(units)
    while value >= 1024 and unit != "TiB":
        value /= 1024
        unit = next(units)
    return f"{value:.1f} {unit}"
