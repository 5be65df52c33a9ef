"""Where the fetcher keeps every URL's state and body, crash-safely.

`open_store` picks the kind from the path: SQLite (default), a directory of files, or a
JSON-lines file. All kinds share one SQLite index (WAL) written by one writer thread in
batched transactions; see `Store` for the exact semantics.
"""

from threadloom.store._absorb import Absorbed, absorb_store
from threadloom.store._adding import AddItem, InputRow
from threadloom.store._base import Store
from threadloom.store._directory import DirectoryStore
from threadloom.store._heads import parse_head
from threadloom.store._jsonl import JsonlStore
from threadloom.store._names import file_name_for
from threadloom.store._open import open_store, store_files, store_kind, store_owns
from threadloom.store._outcomes import read_outcomes
from threadloom.store._places import ensure_parent_directory, parent_directory
from threadloom.store._refresh import RefreshCounts, Refreshed, RefreshRecord, RefreshResult
from threadloom.store._shared import ShardTally, shard_tally, shard_todo
from threadloom.store._sqlite import SqliteStore
from threadloom.store._types import (
    NOT_PROCESSED,
    AddResult,
    DoneRecord,
    MissingDirectoryError,
    NotAStoreError,
    Outcome,
    State,
    StoreBusyError,
    StoreClosedError,
    StoreCounts,
    StoreError,
    StoreWriteError,
    UrlRecord,
)
from threadloom.store._urls import MAX_URL_LENGTH, Invalid, Skip, Valid, classify_line
from threadloom.store._writer import WriterSettings, WriterStatistics

__all__ = [
    "MAX_URL_LENGTH",
    "NOT_PROCESSED",
    "Absorbed",
    "AddItem",
    "AddResult",
    "DirectoryStore",
    "DoneRecord",
    "InputRow",
    "Invalid",
    "JsonlStore",
    "MissingDirectoryError",
    "NotAStoreError",
    "Outcome",
    "RefreshCounts",
    "RefreshRecord",
    "RefreshResult",
    "Refreshed",
    "ShardTally",
    "Skip",
    "SqliteStore",
    "State",
    "Store",
    "StoreBusyError",
    "StoreClosedError",
    "StoreCounts",
    "StoreError",
    "StoreWriteError",
    "UrlRecord",
    "Valid",
    "WriterSettings",
    "WriterStatistics",
    "absorb_store",
    "classify_line",
    "ensure_parent_directory",
    "file_name_for",
    "open_store",
    "parent_directory",
    "parse_head",
    "read_outcomes",
    "shard_tally",
    "shard_todo",
    "store_files",
    "store_kind",
    "store_owns",
]
