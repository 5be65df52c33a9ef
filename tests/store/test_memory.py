"""A 1,000,000-line input is streamed into the store in bounded memory.

Measured as the growth of the peak resident set of a fresh subprocess: unlike tracemalloc
this counts SQLite's own (C) allocations too, and it does not slow the run down fivefold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from threadloom.store import open_store

    def peak_mib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def lines():
        for i in range(1_000_000):
            if i % 10_000 == 5:
                yield b"not a url\\n"
            else:
                yield f"https://host{i % 97}.example/path/{i}.xml\\n".encode()

    with open_store(sys.argv[1]) as store:
        base = peak_mib()
        result = store.add_urls(lines())
        pending = sum(1 for _ in store.pending(page_size=5000))
        growth = peak_mib() - base
    print(json.dumps({"added": result.added, "duplicates": result.duplicates,
                      "invalid": result.invalid, "pending": pending, "growth_mib": growth}))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_million_line_input_streams_in_bounded_memory(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "big.db")],
        capture_output=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    report = json.loads(out.stdout)
    assert report["added"] == 1_000_000 - 100
    assert report["duplicates"] == 99
    assert report["invalid"] == 1
    assert report["pending"] == 1_000_000 - 100
    # SQLite's page cache is capped at 32 MiB; holding the input as a list would add
    # more than 80 MiB on top.
    assert report["growth_mib"] < 75, report
