"""``import threadloom`` loads threadloom.sync only when one of its names is used."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import threadloom
assert "threadloom.sync" not in sys.modules, "imported eagerly"
from threadloom import Lock
assert "threadloom.sync" in sys.modules
assert threadloom.RLock is sys.modules["threadloom.sync"].RLock
assert {"Lock", "Pool", "watch"} <= set(dir(threadloom))
try:
    threadloom.Lokc
except AttributeError as exc:
    assert "Lokc" in str(exc)
else:
    raise AssertionError("an unknown name must raise AttributeError")
from threadloom import *  # noqa: F403 (every name of __all__ resolves)
print("ok")
"""


def test_sync_is_imported_on_first_use() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_top_level_offers_all_of_core_and_the_sync_primitives() -> None:
    """Every public name of core, and the primitives of sync (its configuration and
    findings API stays in threadloom.sync), can be imported from ``threadloom``."""
    import threadloom
    import threadloom.core
    import threadloom.sync

    top = set(threadloom.__all__)
    assert set(threadloom.core.__all__) <= top
    assert top >= threadloom._SYNC_NAMES
    assert set(threadloom.sync.__all__) >= threadloom._SYNC_NAMES
