"""Opening stores from the command line, with one-line errors."""

from __future__ import annotations

import click

from threadloom.store import (
    MissingDirectoryError,
    Store,
    StoreError,
    ensure_parent_directory,
    open_store,
    store_kind,
)


def open_existing(path: str) -> Store:
    """Open the store at ``path`` read-only; a missing or unusable store is a usage error."""
    try:
        return open_store(path, readonly=True)
    except FileNotFoundError:
        raise click.UsageError(f"{path}: no such store") from None
    except (StoreError, ValueError, OSError) as exc:
        raise click.UsageError(f"{path}: {exc}") from None


def prepare_store_directory(path: str, *, create_dirs: bool) -> None:
    """Check that the directory a store at ``path`` goes in exists, or create it (and
    its parents) with ``create_dirs``: the same rule for every kind (for ``a/x.db``,
    ``a/x.jsonl`` and ``a/d/``, the directory ``a``). Anything else is a usage error:
    a path of no store kind (before any directory is created), a missing directory
    without ``create_dirs``, a file where a directory should be."""
    try:
        store_kind(path)
        ensure_parent_directory(path, create_dirs=create_dirs)
    except MissingDirectoryError as exc:
        raise click.UsageError(
            f"{exc.directory}: no such directory (use --create-dirs to create it)"
        ) from None
    except (StoreError, ValueError) as exc:
        raise click.UsageError(f"store {path}: {exc}") from None
