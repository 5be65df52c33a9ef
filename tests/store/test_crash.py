"""kill -9 at a random moment loses nothing committed, duplicates nothing, never corrupts;
resuming completes every URL exactly once. One subprocess per kind and phase."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from threadloom.store import Outcome, State, Store, open_store
from threadloom.store._urls import Invalid, Valid, classify_line

SRC = Path(__file__).resolve().parents[2] / "src"

# The child adds the input, or adds it and records outcomes; it prints MARK at the moment
# chosen by the parent and carries on; the parent kills it as soon as it reads MARK (no
# sleeping: the kill lands wherever the child is, mid-batch, mid-commit, mid-write).
CHILD = textwrap.dedent(
    """
    import sys, threading
    from threadloom.store import Outcome, State, open_store

    path, phase, mark_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = sys.stdin.buffer.read().splitlines()
    store = open_store(path, max_batch=int(sys.argv[4]))
    if phase == "add":
        store.add_urls(lines[:mark_at], batch_size=97)
        print("MARK", flush=True)
        for start in range(mark_at, len(lines), 50):
            store.add_urls(lines[start : start + 50], batch_size=17)
            print("added", start, flush=True)
    else:
        store.add_urls(lines)
        for n, record in enumerate(store.pending()):
            if n % 10 == 3:
                store.record(Outcome(record.url, State.FAILED, 500, error="HTTP 500"))
            else:
                store.record(Outcome(record.url, State.DONE, 200, b"body " + record.url.encode()))
            if n == mark_at:
                store.flush()  # mark_at + 1 outcomes are committed for sure
                print("MARK", flush=True)
            elif n > mark_at:
                print("recorded", n, flush=True)
    store.flush()
    print("FINISHED", flush=True)
    threading.Event().wait(60)
    """
)


def make_input(rng: random.Random, n: int) -> list[bytes]:
    lines: list[bytes] = []
    for i in range(n):
        lines.append(f"http://h{i % 13}.test/doc/{i}.xml".encode())
        if i % 50 == 7:
            lines.append(f"ftp://h/{i}".encode())
        if i % 100 == 11:
            lines.append(lines[rng.randrange(len(lines))])
    return lines


def body_for(url: str) -> bytes:
    return b"body " + url.encode()


def run_and_kill(
    path: str, phase: str, *, mark_at: int, max_batch: int, lines: list[bytes], progress: int
) -> None:
    """Run the child; after its MARK, read ``progress`` more lines of its progress, then
    SIGKILL it: a random moment, reached without sleeping."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, phase, str(mark_at), str(max_batch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(b"\n".join(lines))
        child.stdin.close()
        marker = child.stdout.readline()
        assert marker == b"MARK\n", marker
        for _ in range(progress):
            if not child.stdout.readline():
                break
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)


def check_consistent(store: Store, index: Path, keys: list[str]) -> None:
    conn = sqlite3.connect(index)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    counts = store.counts()
    assert counts.total == counts.done + counts.failed + counts.invalid + counts.pending
    rows = list(store.export())
    # What was committed is a prefix of the input, in input order, without duplicates.
    assert [row["url"] for row in rows] == keys[: len(rows)]
    for row in rows:
        url = row["url"]
        assert isinstance(url, str)
        if row["state"] == "done":
            assert row["sha256"] == hashlib.sha256(body_for(url)).hexdigest()
            assert store.read_body(url) == body_for(url)


@pytest.mark.parametrize("kind", ["s.db", "d/", "s.jsonl"])
@pytest.mark.parametrize("phase", ["add", "record"])
def test_kill_9_then_resume_completes_every_url_exactly_once(
    tmp_path: Path, kind: str, phase: str
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    lines = make_input(rng, 4000)
    verdicts = [classify_line(line) for line in lines]
    keys = list(
        dict.fromkeys(
            v.url if isinstance(v, Valid) else v.key
            for v in verdicts
            if isinstance(v, Valid | Invalid)
        )
    )
    valid = [v.url for v in dict.fromkeys(v for v in verdicts if isinstance(v, Valid))]
    path = f"{tmp_path}/{kind}"
    mark_at = rng.randrange(len(lines) // 4, len(lines) // 2)
    progress = rng.randrange(30 if phase == "add" else 1500)
    max_batch = rng.choice([16, 64, 256])
    run_and_kill(path, phase, mark_at=mark_at, max_batch=max_batch, lines=lines, progress=progress)

    context = f"seed={seed} mark_at={mark_at} progress={progress}"
    with open_store(path) as store:
        check_consistent(store, store._index_path, keys)
        before = {row["url"]: row["state"] for row in store.export()}
        if phase == "record":
            finished = sum(state in {"done", "failed"} for state in before.values())
            assert finished >= mark_at + 1, context
        # Resume: the same input again, then every pending or failed URL once.
        store.add_urls(lines)
        assert [row["url"] for row in store.export()] == keys, context
        fetched: list[str] = []
        for record in store.pending():
            assert before.get(record.url) != "done", context
            fetched.append(record.url)
            store.record(Outcome(record.url, State.DONE, 200, body_for(record.url)))
        store.flush()
        assert len(fetched) == len(set(fetched)), context
        counts = store.counts()
        assert (counts.done, counts.pending, counts.failed) == (len(valid), 0, 0), context
        assert counts.invalid == len(keys) - len(valid)
        check_consistent(store, store._index_path, keys)

    if kind == "d/":
        names = os.listdir(path)
        assert not [n for n in names if n.startswith(".threadloom-tmp-")]
        assert len([n for n in names if not n.startswith(".")]) == len(valid)
    if kind == "s.jsonl":
        with open(path, "rb") as file:
            entries = [json.loads(line) for line in file]
        done_lines = [e["url"] for e in entries if e["state"] == "done"]
        assert sorted(done_lines) == sorted(valid), context
