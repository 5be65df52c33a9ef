"""Shard directories beside the run's store, and moving a shard's outcomes into it.

Layout: a store ``-o out.db`` (or ``out/``, ``out.jsonl``) gets ``out.db.shards/`` beside
it, holding one directory per shard in flight, ``{run}-{number}/shard.db``. The run's
store stays the one truth: a URL is pending there until the client has recorded the
shard's outcome for it and the store has committed it; only then is the shard
directory removed. So at any crash (a worker, the client, the machine) every URL is
either recorded in the run's store or still pending there, and a shard directory left
behind holds outcomes that may or may not have been recorded yet: the next run merges
those it finds (`merge_leftovers`), skipping outcomes already recorded, then removes them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from threadloom.distribute._shard import SHARD_STORE
from threadloom.store import (
    Outcome,
    State,
    Store,
    StoreBusyError,
    StoreError,
    absorb_store,
    open_store,
    read_outcomes,
)

SHARDS_SUFFIX: Final = ".shards"


def shards_root(store_path: str | Path) -> Path:
    """The directory holding the shard directories of the store at ``store_path``:
    ``{store}.shards`` beside it (absolute, so workers elsewhere get the same path)."""
    text = str(store_path).rstrip("/")
    return Path(text + SHARDS_SUFFIX).absolute()


@dataclass(slots=True)
class Merged:
    """What one merge recorded: outcomes, how many of them done and failed, body bytes."""

    outcomes: int = 0
    done: int = 0
    failed: int = 0
    bytes: int = 0

    def add(self, outcome: Outcome) -> None:
        self.outcomes += 1
        if outcome.state is State.DONE:
            self.done += 1
            self.bytes += len(outcome.body) if outcome.body is not None else 0
        else:
            self.failed += 1


def merge_shard(store: Store, directory: Path, *, skip_recorded: bool = False) -> Merged:
    """Record every outcome of the shard store in ``directory`` into ``store``, wait for
    the store to commit them, then remove the directory. Returns what was recorded.

    ``skip_recorded`` (a shard left by an earlier run) records an outcome only if the
    URL is still pending in ``store``, or failed there at an earlier time than the
    shard's outcome: an outcome an interrupted merge already recorded is not recorded
    twice (its attempts would count twice). A shard directory without a shard store
    (a shard whose worker never started it) is just removed.
    """
    merged = Merged()
    path = directory / SHARD_STORE
    absorbed = None if skip_recorded or not path.exists() else absorb_store(store, path)
    if absorbed is not None:
        # A SQLite run's store: moved by SQL, in one transaction, already committed.
        merged = Merged(absorbed.done + absorbed.failed, absorbed.done, absorbed.failed)
        merged.bytes = absorbed.bytes
    elif path.exists():
        for outcome in read_outcomes(path):
            if skip_recorded and not _still_to_record(store, outcome):
                continue
            store.record(outcome)
            merged.add(outcome)
        store.flush()  # committed before the shard's copy goes
    shutil.rmtree(directory, ignore_errors=True)
    return merged


def _still_to_record(store: Store, outcome: Outcome) -> bool:
    row = store.lookup(outcome.url)
    if row is None or row["state"] == State.DONE.value:
        return False
    if row["state"] == State.PENDING.value:
        return True
    # Failed there: recorded by an earlier merge of this very outcome (same time, to the
    # store's precision) or by an earlier attempt (older).
    stored = row["fetched_at"]
    if not isinstance(stored, str) or outcome.fetched_at is None:
        return True
    # Exported to the millisecond: an equal time (within it) is this very outcome.
    return datetime.fromisoformat(stored).timestamp() < outcome.fetched_at - 1e-3


def merge_leftovers(store: Store, root: Path) -> tuple[Merged, list[str]]:
    """Merge the shard directories an earlier run left under ``root`` (its client
    stopped before merging them) and remove them. A shard store still locked by a live
    process (a worker of a cluster still finishing a task of that run) is left alone:
    its URLs are fetched again by this run, and a later run merges whatever it kept.
    Returns the total recorded and a one-line note per shard left alone or unreadable.
    """
    total = Merged()
    notes: list[str] = []
    if not root.is_dir():
        return total, notes
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        path = directory / SHARD_STORE
        if path.exists():
            try:
                # Taking the store's writer lock tells a dead writer from a live one.
                open_store(path).close()
            except StoreBusyError:
                notes.append(f"{directory}: still being written by another process; left")
                continue
            except (StoreError, OSError) as exc:
                notes.append(f"{directory}: not merged: {exc}")
                continue
        try:
            merged = merge_shard(store, directory, skip_recorded=True)
        except StoreError as exc:
            notes.append(f"{directory}: not merged: {exc}")
            continue
        total.outcomes += merged.outcomes
        total.done += merged.done
        total.failed += merged.failed
        total.bytes += merged.bytes
    return total, notes
