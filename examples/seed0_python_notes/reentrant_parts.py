"""Seed 000 (Python Notes 17.3): ``getPart1``/``getPart2``/``getAll`` and the re-entrant lock.

With a plain ``Lock``, ``getAll`` hangs forever on its own lock as soon as it calls
``getPart1``; the note's first attempt also releases the lock only when an exception
happens. Here the parts are declared :func:`~threadloom.sync.guarded_by` an
:class:`~threadloom.sync.RLock`, so ``get_all`` reads both under one acquisition while a
writer changes them; and the same code with a plain threadloom ``Lock`` raises
:class:`~threadloom.sync.DeadlockError` at once instead of hanging.
"""

from __future__ import annotations

from threadloom.core import Pool
from threadloom.sync import DeadlockError, Lock, RLock, guarded_by


class Document:
    """Two parts that must be read together; ``write`` changes both at once."""

    part1 = guarded_by[str]("lock")
    part2 = guarded_by[str]("lock")

    def __init__(self, lock: Lock | RLock) -> None:
        self.lock = lock
        self.part1 = "v0 part 1"
        self.part2 = "v0 part 2"

    def get_part1(self) -> str:
        with self.lock:
            return self.part1

    def get_part2(self) -> str:
        with self.lock:
            return self.part2

    def get_all(self) -> tuple[str, str]:
        # Holding the lock across both calls is what makes the pair consistent; the
        # nested acquisitions in get_part1/get_part2 need the lock to be re-entrant.
        with self.lock:
            return self.get_part1(), self.get_part2()

    def write(self, version: int) -> None:
        with self.lock:
            self.part1 = f"v{version} part 1"
            self.part2 = f"v{version} part 2"


def write_versions(doc: Document, versions: int) -> None:
    for version in range(1, versions + 1):
        doc.write(version)


def main(versions: int = 2000) -> dict[str, object]:
    """Read while another thread writes; count torn reads (parts of two versions)."""
    doc = Document(RLock())
    with Pool(2, thread_name_prefix="parts") as pool:
        writer = pool.submit(write_versions, doc, versions)
        reads = [doc.get_all() for _ in range(versions)]
        writer.result()
    torn = sum(1 for a, b in reads if a.split()[0] != b.split()[0])
    try:
        Document(Lock()).get_all()
        plain_lock = "no error"
    except DeadlockError as exc:
        plain_lock = f"DeadlockError: {str(exc).splitlines()[0]}"
    print(f"{len(reads)} reads, {torn} torn")
    print(f"with a plain Lock: {plain_lock}")
    return {"reads": len(reads), "torn": torn, "plain_lock": plain_lock}


if __name__ == "__main__":
    main()
