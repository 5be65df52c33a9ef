"""What a person sees: a progress bar on a terminal, plain lines in a pipe, nothing with -q."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from threadloom.server import FaultServer


def _urls(tmp_path: Path, server: FaultServer, count: int) -> Path:
    path = tmp_path / "urls.txt"
    path.write_text("".join(f"{server.url(f'/docs/{n}.xml')}\n" for n in range(count)))
    return path


def _run_on_a_terminal(args: list[str], timeout: float = 60) -> tuple[int, str]:
    """Run ``python -m threadloom ARGS`` with a pseudo-terminal as stdout and stderr."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "30", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "threadloom", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the terminal closed: the process is gone
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        process.kill()
        os.close(controller)
    return code, output.decode("utf-8", "replace")


def test_a_terminal_gets_a_progress_bar_and_the_summary(tmp_path: Path) -> None:
    with FaultServer(documents=40, latency=1.0) as server:
        urls = _urls(tmp_path, server, 40)
        code, screen = _run_on_a_terminal(
            ["fetch", "-j", "4", "-o", str(tmp_path / "o.db"), str(urls)]
        )
    assert code == 0, screen
    assert "fetch: 40/40 (" not in screen, "a terminal gets the bar, not plain lines"
    assert "40/40" in screen, "the bar's done/total column"
    assert "40 done" in screen
    assert "0 failed" in screen
    assert "docs/s" in screen
    assert "40 of 40 documents done" in screen


def test_a_pipe_gets_plain_lines_and_quiet_gets_nothing(
    tmp_path: Path, server: FaultServer
) -> None:
    urls = _urls(tmp_path, server, 10)
    args = [sys.executable, "-m", "threadloom", "fetch", "-o", str(tmp_path / "a.db"), str(urls)]
    piped = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert piped.returncode == 0
    assert "━" not in piped.stderr, "no bar on a pipe (the summary table is on stdout)"
    assert "fetch: 10/10 (10 done, 0 failed)" in piped.stderr
    quiet = subprocess.run(
        [*args[:-2], str(tmp_path / "b.db"), "-q", str(urls)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert quiet.returncode == 0
    assert (quiet.stdout, quiet.stderr) == ("", "")
