"""The per-thread state lookup: the C helper (``_cstate``) when built, a threading.local
without it; the primitives behave the same either way."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from threadloom.sync import _state

WITHOUT_HELPER = """
import sys
sys.modules["threadloom.sync._cstate"] = None  # as if built without a C compiler
import threading
import warnings
import threadloom.sync as tsync
from threadloom.sync import _state

assert _state.current_state is _state._current_from_local, _state.current_state
a, b, r = tsync.Lock(), tsync.Lock(), tsync.RLock()
with a, r, r, b:
    assert tsync.held() == (a, r, b)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(tsync.held()))
    worker.start()
    worker.join()
    assert seen == [()]
assert tsync.held() == ()
try:
    r.release()
except RuntimeError as error:
    assert "un-acquired" in str(error)
else:
    raise AssertionError("released an RLock it does not own")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    with b, a:
        pass
assert [type(w.message).__name__ for w in caught] == ["LockOrderWarning"], caught
print("ok")
"""


def test_the_c_helper_is_built_and_used() -> None:
    # The extension is optional (an install without a compiler still works), so a
    # failed build would otherwise go unnoticed: only the benchmark would show it.
    from threadloom.sync import _cstate

    assert _state.current_state is _cstate.current


def test_each_thread_finds_its_own_state_made_on_first_use() -> None:
    mine = _state.current_state()
    assert _state.current_state() is mine
    seen: list[object] = []

    def worker() -> None:
        seen.append(_state.states.get(threading.get_ident()))
        seen.append(_state.current_state())
        seen.append(_state.current_state())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    made, again = seen[1], seen[2]
    assert isinstance(made, _state.ThreadState)
    assert made is again
    assert made is not mine
    assert seen[0] is not made  # none before, or a dead thread's with the same ident
    assert _state.current_state() is mine


def test_the_primitives_work_without_the_c_helper() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WITHOUT_HELPER)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
