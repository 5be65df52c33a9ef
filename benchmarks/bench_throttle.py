"""--auto-throttle against fixed --per-host values, on a host of capacity C.

The project's FaultServer answers ``/capacity/C/NAME`` C requests at a time in ``base``
ms; each request over C in flight adds ``base`` ms to the answers of the requests that
arrive meanwhile, and over 2C it answers 503 at once (with ``Retry-After: 0`` here, so
a fixed setting's 503s cost retries, not sleeps). Its best throughput is at C in
flight: above, every answer waits longer; below, the host idles.

Each run fetches the same N documents into a fresh SQLite store through the fetch job
(``FetchJob``, what ``threadloom fetch`` runs) with ``-j 32``: once per fixed
``--per-host`` value of the sweep, and once with ``--per-host 16 --auto-throttle``.
Printed: documents/s of each (median of the repeats), the mean in flight the server saw
and its 503 count, and the ratio of auto-throttle's throughput to the best fixed value's.

    python benchmarks/bench_throttle.py                       # C=8, 2000 docs, 1 repeat
    python benchmarks/bench_throttle.py --capacity 4 --docs 3000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from threadloom.jobs import FetchJob, FetchOptions
from threadloom.server import FaultServer


def run_once(
    server: FaultServer, workdir: Path, name: str, capacity: int, docs: int, base: int, **kw: object
) -> tuple[float, float, int]:
    """Fetch ``docs`` documents; returns (documents/s, mean in flight seen, 503s)."""
    urls = [
        server.url(f"/capacity/{capacity}/{name}?base={base}&retry_after=0&n={n}")
        for n in range(docs)
    ]
    options = FetchOptions(jobs=32, retries=10, backoff=0.01, **kw)  # type: ignore[arg-type]
    began = time.perf_counter()
    result = FetchJob(workdir / f"{name}.db", options, progress="quiet").run(urls)
    elapsed = time.perf_counter() - began
    done = result.summary.counts["done"]
    if done != docs:
        raise SystemExit(f"{name}: {done} of {docs} documents done: {result.summary.counts}")
    seen = server.capacity.in_flight_seen(name)
    return docs / elapsed, statistics.mean(seen), server.capacity.refused(name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--capacity", type=int, default=8, help="C: requests the host answers at once"
    )
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--base", type=int, default=20, help="ms per answer at or below C")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sweep", default="2,4,6,8,10,12,16", help="fixed --per-host values")
    args = parser.parse_args()
    sweep = [int(v) for v in args.sweep.split(",")]
    print(
        f"host capacity C={args.capacity}, base {args.base} ms, {args.docs} documents, -j 32, "
        f"{args.repeats} repeat(s); ideal {args.capacity * 1000 / args.base:.0f} docs/s"
    )
    rows: dict[str, list[tuple[float, float, int]]] = {}
    with FaultServer() as server, tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for per_host in sweep:
                label = f"--per-host {per_host}"
                rows.setdefault(label, []).append(
                    run_once(
                        server,
                        Path(tmp),
                        f"fixed{per_host}r{repeat}",
                        args.capacity,
                        args.docs,
                        args.base,
                        per_host=per_host,
                    )
                )
            label = "--per-host 16 --auto-throttle"
            rows.setdefault(label, []).append(
                run_once(
                    server,
                    Path(tmp),
                    f"autor{repeat}",
                    args.capacity,
                    args.docs,
                    args.base,
                    per_host=16,
                    auto_throttle=True,
                )
            )
    medians = {label: statistics.median(r[0] for r in runs) for label, runs in rows.items()}
    for label, runs in rows.items():
        flight = statistics.median(r[1] for r in runs)
        refused = statistics.median(r[2] for r in runs)
        print(
            f"  {label:32s} {medians[label]:8.0f} docs/s   mean in flight {flight:5.1f}"
            f"   503s {refused:6.0f}"
        )
    auto = medians.pop("--per-host 16 --auto-throttle")
    best_label = max(medians, key=lambda label: medians[label])
    print(
        f"auto-throttle / best fixed ({best_label}): {auto / medians[best_label]:.2f}"
        " (this machine is shared: figures move between runs)"
    )


if __name__ == "__main__":
    main()
