"""Lazy imap over 3 million generated items: peak memory growth must stay small.

Measures the growth of the process's peak RSS (ru_maxrss) across the run, so nothing
slows the run down; the stdlib's eager map would materialise 3 million futures here.

Run: .venv/bin/python benchmarks/bench_pool_imap_memory.py
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Iterator

from threadloom.core import Pool

ITEMS = 3_000_000


def generated() -> Iterator[int]:
    yield from range(ITEMS)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def main() -> None:
    with Pool(4) as pool:
        list(pool.imap(abs, range(10_000)))  # warm up threads and code paths
        before = peak_rss_mb()
        start = time.perf_counter()
        checksum = 0
        for value in pool.imap(lambda x: x ^ 1, generated()):
            checksum += value
        elapsed = time.perf_counter() - start
        after = peak_rss_mb()
    assert checksum == sum(x ^ 1 for x in range(ITEMS))
    print(
        f"imap over {ITEMS:,} generated items, 4 workers: {elapsed:.2f} s "
        f"({ITEMS / elapsed:,.0f} items/s), peak RSS {before:.1f} -> {after:.1f} MB, "
        f"growth {after - before:.1f} MB (limit 50 MB)"
    )
    if after - before >= 50:
        raise SystemExit("peak memory growth over 50 MB")


if __name__ == "__main__":
    # No options: --help says what the benchmark measures instead of running it.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    main()
