"""Ctrl-C while the main thread waits on the pool: KeyboardInterrupt within 2 s, work
cancelled, tokens set, process exits."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

# faulthandler: a child that hangs after SIGINT prints every thread's stack on SIGUSR1,
# so a failure shows where it waits (this test hung twice in hundreds of local runs).
PRELUDE = """
import faulthandler, signal, sys, threading
faulthandler.register(signal.SIGUSR1, all_threads=True)
from threadloom.core import Pool, cancelled
def cooperative(_=None):
    while not cancelled():
        threading.Event().wait(0.01)
    print("token seen", flush=True)
pool = Pool(max_workers=2)
"""

WAITS = {
    "result": "f = pool.submit(cooperative); [pool.submit(cooperative) for _ in range(5)]; "
    "print('ready', flush=True); f.result()",
    "map": "it = pool.map(cooperative, range(10)); print('ready', flush=True); list(it)",
    "imap": "it = pool.imap(cooperative, range(10)); print('ready', flush=True); list(it)",
    "shutdown": "[pool.submit(cooperative) for _ in range(5)]; print('ready', flush=True); "
    "pool.shutdown()",
    "with": "with pool:\n    [pool.submit(cooperative) for _ in range(5)]\n"
    "    print('ready', flush=True)",
}


@pytest.mark.parametrize("how", sorted(WAITS))
def test_ctrl_c_stops_everything(how: str) -> None:
    code = textwrap.dedent(PRELUDE) + WAITS[how] + "\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"no exit 10 s after SIGINT; stdout:\n{out}\nthreads:\n{err}")
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "KeyboardInterrupt" in err
    assert proc.returncode != 0
    assert elapsed < 2.0
    assert "token seen" in out
