"""Seed 001 (PyMOTW ``threading_daemon_join_timeout.py``): ``d.join(0.1)`` returns while
the daemon thread is still running, and ``isAlive()`` says so.

``join(timeout)`` only stops the caller from waiting: the thread runs on, nobody asks it
to stop, and its result (if any) has no way back. Here ``wait(..., timeout=...)`` gives
the same check on a future; and a ``deadline`` goes further: when it passes the future
fails with ``TimeoutError`` and the task's cancel token is set, so a task that waits on
its token instead of sleeping stops at once.
"""

from __future__ import annotations

from concurrent.futures import wait

from threadloom.core import Pool, current_token
from threadloom.sync import Event


def daemon(release: Event) -> str:
    """Work that ends when ``release`` is set (within 5 s at most)."""
    release.wait(timeout=5)
    return "Exiting"


def slow_step(notes: list[str]) -> None:
    """A step that would take 10 s, but stops as soon as its task is cancelled."""
    token = current_token()
    if token.wait(timeout=10):  # instead of time.sleep(10)
        notes.append(f"slow_step stopped early: {token.reason}")
        return
    notes.append("slow_step finished")


def main() -> list[str]:
    lines: list[str] = []
    notes: list[str] = []
    release = Event()
    with Pool(2, thread_name_prefix="join") as pool:
        d = pool.submit(daemon, release)
        still_running = wait([d], timeout=0.1).not_done
        lines.append(f"after 0.1 s d is still running: {d in still_running}")
        release.set()
        lines.append(f"d: {d.result(timeout=5)}")

        step = pool.submit_task(slow_step, (notes,), deadline=0.1, label="slow_step")
        try:
            step.result()
        except TimeoutError as exc:
            lines.append(f"deadline: {exc}")
    lines += notes  # leaving the block waited for the worker, so its note is in
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
