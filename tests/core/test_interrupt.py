"""Ctrl-C while the main thread waits on the pool: KeyboardInterrupt within 2 s, work
cancelled, tokens set, process exits."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest


class Child:
    """A child interpreter whose every wait is bounded and explains itself on timeout.

    Its stdout lines arrive on a queue (a reader thread), so reading one has a timeout;
    its stderr goes to a file, so whatever it wrote survives a kill. On a timeout the
    child gets SIGUSR1, which faulthandler (registered by :data:`DUMP_ON_SIGUSR1`) turns
    into a dump of every thread's stack on stderr, and the failure message carries that
    dump: this test hung twice under load with nothing to show why.

    What the dumps showed (issue 10, point 15): with the code before the main thread's
    waits were sliced (c682fac), ``[imap]`` hung in 15 of 600 runs beside
    ``stress-ng --cpu 3``, every time with the main thread asleep in an untimed
    ``Condition.wait`` in ``MapRun.results`` and the workers waiting for a token that
    nobody set: the SIGINT had landed before that wait fell asleep. With the slices it
    passed 2,400 runs under the same kind of load.
    """

    def __init__(self, code: str) -> None:
        self._err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            # The parent's own faulthandler setting must not decide the child's.
            env={**os.environ, "PYTHONFAULTHANDLER": ""},
        )
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line.strip())
        self.lines.put(None)

    def readline(self, timeout: float, what: str) -> str | None:
        """The next stdout line (None at EOF); fails with a thread dump after ``timeout``."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.fail(f"no line from the child within {timeout} s ({what})")
            raise AssertionError("unreachable") from None

    def wait(self, timeout: float, what: str) -> tuple[int, str, str]:
        """Wait for the exit: (returncode, stdout, stderr); fails with a dump on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"no exit within {timeout} s ({what})")
        self._reader.join(10)
        return rc, "".join(self.out), self.stderr()

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read()

    def fail(self, message: str) -> None:
        self.proc.send_signal(signal.SIGUSR1)
        # faulthandler writes the dump from its C signal handler at once; give a loaded
        # machine time to schedule the child before killing it.
        deadline = time.monotonic() + 5
        while "most recent call first" not in self.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kill()
        pytest.fail(
            f"{message}; stdout:\n{''.join(self.out)}\nstderr (thread dump):\n{self.stderr()}"
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self._err.close()


# Registered first, so a child that hangs anywhere (even in an import) can be dumped.
DUMP_ON_SIGUSR1 = """
import faulthandler, signal
faulthandler.register(signal.SIGUSR1, all_threads=True)
"""

PRELUDE = (
    DUMP_ON_SIGUSR1
    + """
import sys, threading
from threadloom.core import Pool, cancelled
printing, first = threading.Lock(), threading.Lock()
def say(line):
    with printing:  # print from two threads can interleave their text and newlines
        print(line, flush=True)
def cooperative(_=None):
    if first.acquire(blocking=False):
        say("running")
    while not cancelled():
        threading.Event().wait(0.01)
    say("token seen")
pool = Pool(max_workers=2)
"""
)

WAITS = {
    "result": "f = pool.submit(cooperative); [pool.submit(cooperative) for _ in range(5)]; "
    "say('ready'); f.result()",
    "map": "it = pool.map(cooperative, range(10)); say('ready'); list(it)",
    "imap": "it = pool.imap(cooperative, range(10)); say('ready'); list(it)",
    # A worker waits in the input (a quiet socket, say) while the main thread waits for
    # results: the map's state must not be locked while the input is read, or the
    # interrupt cannot cancel anything (and the input never learns it should stop).
    "imap-quiet-input": "def quiet():\n    yield 0\n    while not cancelled():\n"
    "        threading.Event().wait(0.01)\n"
    "it = pool.imap(cooperative, quiet()); say('ready'); list(it)",
    "shutdown": "[pool.submit(cooperative) for _ in range(5)]; say('ready'); pool.shutdown()",
    "with": "with pool:\n    [pool.submit(cooperative) for _ in range(5)]\n    say('ready')",
}


@pytest.mark.parametrize("how", sorted(WAITS))
def test_ctrl_c_stops_everything(how: str) -> None:
    with Child(PRELUDE + WAITS[how] + "\n") as child:
        # imap submits nothing before it is iterated: wait until a task runs, so the
        # interrupt always finds one to cancel.
        seen = {child.readline(30, "before SIGINT"), child.readline(30, "before SIGINT")}
        assert seen == {"ready", "running"}, seen
        sent = time.monotonic()
        child.proc.send_signal(signal.SIGINT)
        rc, out, err = child.wait(10, "after SIGINT")
        elapsed = time.monotonic() - sent
    assert "KeyboardInterrupt" in err
    assert rc != 0
    assert elapsed < 2.0
    assert "token seen" in out


def test_a_hung_child_is_dumped_before_it_is_killed() -> None:
    """The evidence the Ctrl-C tests collect on a timeout: every thread's stack."""
    code = DUMP_ON_SIGUSR1 + "import threading\nprint('ready', flush=True)\n"
    code += "threading.Event().wait()\n"
    with Child(code) as child:
        assert child.readline(30, "start") == "ready"
        with pytest.raises(pytest.fail.Exception) as failed:
            child.wait(0.5, "on purpose")
    message = str(failed.value)
    assert "no exit within 0.5 s (on purpose)" in message
    assert "most recent call first" in message
    assert "in wait" in message  # the main thread's frame


# A Ctrl-C whose C-level handler runs just before the main thread falls asleep in a lock
# wait does not wake that wait. Blocking SIGINT in the main thread makes the kernel hand
# it to another thread, which reproduces that every time: the flag is set, the main
# thread sleeps on. Every wait of the main thread must still end within a slice.
LOST_SIGNAL_PRELUDE = """
import signal, threading, time
from threadloom.core import CancelToken, Pipeline, Pool, Stage, cancelled
def cooperative(_=None):
    while not cancelled():
        threading.Event().wait(0.01)
    return 0
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # gets the signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
pool = Pool(max_workers=2, max_queued=1)
"""

LOST_SIGNAL_WAITS = {
    "result": "f = pool.submit(cooperative); print('ready', flush=True); f.result()",
    "imap": "it = pool.imap(cooperative, range(10)); print('ready', flush=True); list(it)",
    "shutdown": "[pool.submit(cooperative) for _ in range(2)]; print('ready', flush=True); "
    "pool.shutdown()",
    "full-queue": "[pool.submit(cooperative) for _ in range(3)]; print('ready', flush=True); "
    "pool.submit(cooperative)",
    "pipeline": "run = Pipeline([Stage(cooperative, workers=1)]).run(range(10)); "
    "print('ready', flush=True); list(run)",
    "token": "print('ready', flush=True); CancelToken().wait()",
}


@pytest.mark.parametrize("how", sorted(LOST_SIGNAL_WAITS))
def test_ctrl_c_that_reaches_another_thread_still_ends_the_wait(how: str) -> None:
    code = DUMP_ON_SIGUSR1 + textwrap.dedent(LOST_SIGNAL_PRELUDE) + LOST_SIGNAL_WAITS[how] + "\n"
    with Child(code) as child:
        assert child.readline(30, "before SIGINT") == "ready"
        time.sleep(0.2)  # let the main thread fall asleep in the wait
        child.proc.send_signal(signal.SIGINT)
        _, _, err = child.wait(10, f"{how}: the main thread slept on after SIGINT")
    assert "KeyboardInterrupt" in err, err
