"""Seed 002 (Python Multithreading, "Daemon threads"), and seed 003's warning that daemon
threads "get cut off at program exit, without any opportunity for cleanup".

A daemon thread is simply killed when the last non-daemon thread ends: a half-written file
stays half-written. Here the background loop is a Pool task that waits on its cancel token
instead of sleeping; ``shutdown(cancel_futures=True)`` sets that token, the loop ends at
its next check, its ``finally`` runs, and ``shutdown`` waits for it.
"""

from __future__ import annotations

from threadloom.core import Pool, current_token
from threadloom.sync import Event


def keepalive(log: list[str], started: Event) -> None:
    """Send a keep-alive every 10 ms until the task is cancelled; always clean up."""
    token = current_token()
    log.append("keepalive: starting")
    started.set()
    try:
        sent = 0
        while not token.wait(0.01):  # instead of time.sleep(0.01)
            sent += 1
    finally:
        log.append(f"keepalive: stopped ({token.reason}), cleaned up")


def main() -> list[str]:
    log: list[str] = []
    started = Event()
    pool = Pool(2, thread_name_prefix="background")
    background = pool.submit(keepalive, log, started)
    if not started.wait(timeout=5):
        raise TimeoutError("the background task did not start")
    log.append(pool.submit(lambda: "main work: done").result())
    pool.shutdown(wait=True, cancel_futures=True)  # what "program exit" should be
    log.append(f"background task done: {background.done()}")
    print("\n".join(log))
    return log


if __name__ == "__main__":
    main()
