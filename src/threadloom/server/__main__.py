"""``python -m threadloom.server``: run the fault server in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from threadloom.server._server import FaultServer


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, serve until SIGINT or SIGTERM, return the exit status (0)."""
    parser = argparse.ArgumentParser(
        prog="python -m threadloom.server",
        description="Run threadloom's fault-injecting HTTP server in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    parser.add_argument("--documents", type=int, default=500, help="number of /docs/N.xml")
    parser.add_argument("--seed", type=int, default=0, help="seed for content and latency")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="latency factor (0: none, 1: realistic)"
    )
    args = parser.parse_args(argv)

    done = threading.Event()
    # Ctrl-C and SIGTERM only set an event: a KeyboardInterrupt could surface anywhere
    # (even inside the start-up print) and skip the clean stop.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: done.set())
    server = FaultServer(
        args.host, args.port, documents=args.documents, seed=args.seed, latency=args.latency
    )
    with server:
        print(
            f"serving {args.documents} documents at {server.url('/docs/0.xml')} "
            f"(routes: python -c 'import threadloom.server; help(threadloom.server)'); "
            "Ctrl-C stops",
            flush=True,
        )
        # Event.wait with a timeout so signals are handled promptly on every platform.
        while not done.wait(0.5):
            pass
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
