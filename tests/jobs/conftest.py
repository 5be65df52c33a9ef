"""Fixtures for the fetch job: the project's own fault-injecting server on 127.0.0.1,
an old store, and the command line run in a child process to be interrupted or killed."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from threadloom.server import FaultServer


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    """A FaultServer with 200 documents and no added latency."""
    with FaultServer(documents=200) as running:
        yield running


# The SQLite store of schema version 2, as threadloom wrote it before the input (3) and
# refresh (4) columns.
_SCHEMA_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE urls (
    seq INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'invalid')),
    http_status INTEGER, size INTEGER, sha256 TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT, fetched_at REAL, content_type TEXT, final_url TEXT, processed TEXT,
    process_error TEXT, body_ref TEXT, response_head TEXT
);
CREATE INDEX urls_by_state ON urls (state, seq);
CREATE TABLE bodies (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
INSERT INTO meta VALUES ('schema_version', '2'), ('kind', 'sqlite');
"""


@pytest.fixture
def schema_2_store() -> Callable[[Path], sqlite3.Connection]:
    """``schema_2_store(path)`` writes an empty store of schema version 2 at ``path`` and
    returns a connection to it (the caller adds rows and closes it)."""

    def make(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path)
        conn.executescript(_SCHEMA_2)
        return conn

    return make


@dataclasses.dataclass(frozen=True)
class Stopped:
    """How a child `threadloom` ended after a signal."""

    returncode: int
    output: str  # stdout and stderr together
    seconds: float  # from the signal to the exit


class ThreadloomProcess:
    """``python -m threadloom ARGS`` in a child process (unbuffered, output captured)."""

    def __init__(self, args: tuple[str, ...], env: Mapping[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "threadloom", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )

    def interrupt(self, ready: Callable[[], bool], *, grace: float = 20.0) -> Stopped:
        """Once ``ready()`` is true (it waits, bounded, and says whether the run got
        that far), send SIGINT as Ctrl-C does; wait at most ``grace`` s for the exit."""
        return self._signal(signal.SIGINT, ready, grace)

    def kill9(self, ready: Callable[[], bool]) -> Stopped:
        """Once ``ready()`` is true, SIGKILL the process (a crash: nothing runs after)."""
        return self._signal(signal.SIGKILL, ready, 10.0)

    def _signal(self, signum: int, ready: Callable[[], bool], grace: float) -> Stopped:
        assert ready(), "the run never got far enough to be stopped"
        sent = time.monotonic()
        self.popen.send_signal(signum)
        output, _ = self.popen.communicate(timeout=grace)
        return Stopped(self.popen.returncode, output, time.monotonic() - sent)


@pytest.fixture
def threadloom_process() -> Iterator[Callable[..., ThreadloomProcess]]:
    """``threadloom_process(*args, env={})`` starts ``python -m threadloom *args``; every
    process started is killed at the end of the test, whatever happened."""
    started: list[ThreadloomProcess] = []

    def start(*args: str, env: Mapping[str, str] | None = None) -> ThreadloomProcess:
        process = ThreadloomProcess(args, env or {})
        started.append(process)
        return process

    yield start
    for process in started:
        process.popen.kill()
        process.popen.communicate()
