"""Locks without an owner (released by another thread, or declared), locks dropped while
held, the suppression rules, and the package's root exception."""

from __future__ import annotations

import gc
import threading
import warnings
from pathlib import Path

import pytest

import threadloom.sync as tsync
from threadloom.sync import _rules


@pytest.fixture(autouse=True)
def _no_added_rules() -> None:
    _rules.clear()


def invert(a: object, b: object) -> None:
    """Take a then b, then b then a, in the calling thread."""
    with a, b:  # type: ignore[attr-defined]
        pass
    with b, a:  # type: ignore[attr-defined]
        pass


def release_elsewhere(lock: tsync.Lock) -> None:
    thread = threading.Thread(target=lock.release)
    thread.start()
    thread.join()


def test_a_lock_released_by_another_thread_leaves_the_graphs() -> None:
    handed, other = tsync.Lock(), tsync.Lock()
    handed.acquire()
    release_elsewhere(handed)
    assert "ownerless" in repr(handed)
    invert(handed, other)  # no longer a mutex: no order between them
    assert tsync.findings() == ()
    handed.acquire()
    assert handed.statistics().owner == "MainThread"
    assert handed._wait_owner() is None
    assert "ownerless (released by thread" in handed._holder()
    handed.release()


def test_an_owned_lock_still_reports_the_same_inversion() -> None:
    a, b = tsync.Lock(), tsync.Lock()
    with pytest.warns(tsync.LockOrderWarning):
        invert(a, b)
    assert [f.kind for f in tsync.findings()] == ["lock-order"]


def test_ownerless_declares_it_up_front() -> None:
    group = tsync.ownerless(tsync.Lock())
    invert(group, tsync.Lock())
    assert tsync.findings() == ()
    with pytest.raises(TypeError, match="RLock"):
        tsync.ownerless(tsync.RLock())
    plain = threading.Lock()  # not instrumented here: returned unchanged
    assert tsync.ownerless(plain) is plain


def test_an_ownerless_rule_applies_to_locks_created_at_its_site() -> None:
    tsync.suppress("ownerless:tests/sync/test_ownership.py:group_lock")
    group_lock = tsync.Lock()
    mutex = tsync.Lock()
    assert "ownerless" in repr(group_lock)
    assert "ownerless" not in repr(mutex)
    invert(group_lock, mutex)
    assert tsync.findings() == ()


def test_a_lock_order_rule_suppresses_the_finding(tmp_path: Path) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text("# vendored code\nlock-order:test_ownership.py:first\n\n")
    assert [str(r) for r in tsync.load_suppressions(str(rules))] == [
        "lock-order:test_ownership.py:first"
    ]
    first = tsync.Lock()
    second = tsync.Lock()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # suppressed: not even warned
        invert(first, second)
    assert tsync.findings() == ()
    assert [f.kind for f in tsync.suppressed()] == ["lock-order"]
    # Other locks of this file are not named by the rule.
    third, fourth = tsync.Lock(), tsync.Lock()
    with pytest.warns(tsync.LockOrderWarning):
        invert(third, fourth)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lock-order", "expected KIND:WHERE"),
        ("deadlock:app", "KIND must be one of"),
        ("lock-order:app:1x", "LINE must be a number"),
        ("lock-order:a:b:c", "expected KIND:WHERE"),
    ],
)
def test_malformed_rules_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text(f"ownerless:ok\n{text}\n")
    with pytest.raises(ValueError, match=f"rules.txt:2: .*{message}"):
        tsync.load_suppressions(str(rules))


@pytest.mark.parametrize(
    ("where", "filename", "expected"),
    [
        ("readerwriterlock.rwlock", "/v/site-packages/readerwriterlock/rwlock.py", True),
        ("readerwriterlock", "/v/site-packages/readerwriterlock/rwlock.py", True),
        ("readerwriterlock", "/v/site-packages/readerwriterlock_x/rwlock.py", False),
        ("pkg.mod", "/src/pkg/mod/__init__.py", True),
        ("app/*.py", "/src/app/pool.py", True),
        ("pool.py", "/src/app/pool.py", True),
        ("pool.py", "/src/app/mypool.py", False),
    ],
)
def test_where_matches_modules_and_paths(where: str, filename: str, expected: bool) -> None:
    assert _rules.parse_rule(f"lock-order:{where}").matches(filename, 1) is expected


def test_a_lock_dropped_while_held_is_freed_and_never_ordered() -> None:
    dropped = tsync.Lock()
    dropped.acquire()
    gone = tsync.held()[-1]
    assert gone is dropped
    del dropped, gone
    gc.collect()
    assert tsync.held() == ()
    a, b = tsync.Lock(), tsync.Lock()
    with a:
        pass
    with b, a:
        pass
    with pytest.warns(tsync.LockOrderWarning), a, b:
        pass  # an inversion of a and b only: nothing from the dropped lock
    assert len(tsync.findings()) == 1
    assert "Lock#" in tsync.findings()[0].summary


def test_every_error_derives_from_sync_error() -> None:
    for error in (tsync.DeadlockError, tsync.LockOrderError, tsync.UnguardedAccessError):
        assert issubclass(error, tsync.SyncError)
        assert issubclass(error, RuntimeError)


def test_a_suppressed_cycle_in_raise_mode_neither_raises_nor_piles_up() -> None:
    tsync.configure(mode="raise")
    tsync.suppress("lock-order:test_ownership.py:quiet")
    quiet = tsync.Lock()
    loud = tsync.Lock()
    with quiet, loud:
        pass
    for _ in range(3):
        with loud, quiet:
            pass
    assert tsync.findings() == ()
    assert len(tsync.suppressed()) == 1
