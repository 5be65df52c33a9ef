"""Where a store goes: the directory it is created in, which must exist (or be created
on request) before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

from threadloom.store._types import MissingDirectoryError, StoreError


def is_directory_form(text: str) -> bool:
    """True if ``text`` names a directory store: it ends in ``/`` (or the OS separator)
    or is an existing directory."""
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def parent_directory(path: str | os.PathLike[str]) -> Path:
    """The directory a store at ``path`` is created in: the directory above a directory
    store (``a/b/`` -> ``a``), the file's directory for a file store (``a/x.db`` -> ``a``)."""
    text = os.fspath(path)
    if is_directory_form(text):
        text = text.rstrip("/" + os.sep) or text  # "/" stays "/"
    return Path(text).parent


def ensure_parent_directory(path: str | os.PathLike[str], *, create_dirs: bool = False) -> Path:
    """Check that `parent_directory` of ``path`` exists, creating it and its own missing
    parents first if ``create_dirs`` (as ``curl --create-dirs`` does); return it.

    Raises `MissingDirectoryError` if it is missing and ``create_dirs`` is false, and
    `StoreError` (one line) if it, or the nearest existing directory above it, is not a
    directory, or it cannot be created (no permission, a read-only location).
    """
    parent = parent_directory(path)
    if parent.is_dir():
        return parent
    existing = next((p for p in (parent, *parent.parents) if os.path.lexists(p)), None)
    if existing is not None and not existing.is_dir():
        raise StoreError(f"not a directory: {existing}")
    if not create_dirs:
        raise MissingDirectoryError(str(parent))
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory {parent} ({exc.strerror})") from exc
    return parent
