"""Opening an existing store for the read-only commands, with a one-line error."""

from __future__ import annotations

import click

from threadloom.store import Store, StoreError, open_store


def open_existing(path: str) -> Store:
    """Open the store at ``path`` read-only; a missing or unusable store is a usage error."""
    try:
        return open_store(path, readonly=True)
    except FileNotFoundError:
        raise click.UsageError(f"{path}: no such store") from None
    except (StoreError, ValueError, OSError) as exc:
        raise click.UsageError(f"{path}: {exc}") from None
