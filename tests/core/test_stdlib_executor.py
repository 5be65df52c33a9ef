"""CPython's own ThreadPoolExecutor tests, run against Pool.

``Lib/test/test_concurrent_futures/`` ships with the interpreter's ``test`` package from
Python 3.12 on (some builds leave it out: then this module is skipped). Each suite is a
unittest class parametrised by ``executor_type``; the thread-pool ones are run here with
``Pool`` (some of them read ThreadPoolExecutor's private ``_threads`` and ``_max_workers``,
which Pool keeps with the same meaning). Three are left out: see ``_LEFT_OUT``.

The project's Python (3.11) ships without that package; run this module with another
interpreter that has it, e.g. ``PYTHONPATH=src:. python3.13 -m unittest
tests.core.test_stdlib_executor`` (the core is standard library only). Before the fixes
of issue 10, points 13 and 14, test_free_reference and the failing-initializer test failed.
"""

from __future__ import annotations

import unittest
from typing import Any

from threadloom.core import Pool

try:
    from test.test_concurrent_futures import (  # type: ignore[import-not-found]
        test_as_completed,
        test_init,
        test_shutdown,
        test_thread_pool,
        test_wait,
    )
except ImportError as exc:  # pragma: no cover - depends on how Python was installed
    raise unittest.SkipTest(
        f"the interpreter's test package has no test_concurrent_futures ({exc})"
    ) from exc

# Each of these starts ``python -I -c "from concurrent.futures import <executor_type>"``;
# test_pool_executor.py runs the same three scenarios with Pool.
_BY_NAME = "its child imports concurrent.futures.<executor_type.__name__>"

_LEFT_OUT: dict[str, str] = {
    "test_interpreter_shutdown": _BY_NAME,
    "test_submit_after_interpreter_shutdown": _BY_NAME,
    "test_hang_gh83386": _BY_NAME,
}


def _on_pool(base: type[Any]) -> type[Any]:
    """``base`` with Pool as its executor and the left-out tests skipped."""
    namespace: dict[str, Any] = {"executor_type": Pool, "__module__": __name__}
    for name, reason in _LEFT_OUT.items():
        if hasattr(base, name):
            namespace[name] = unittest.skip(reason)(getattr(base, name))
    return type(f"Pool{base.__name__}", (base,), namespace)


PoolExecutorTest = _on_pool(test_thread_pool.ThreadPoolExecutorTest)
PoolShutdownTest = _on_pool(test_shutdown.ThreadPoolShutdownTest)
PoolWaitTests = _on_pool(test_wait.ThreadPoolWaitTests)
PoolAsCompletedTests = _on_pool(test_as_completed.ThreadPoolAsCompletedTest)
PoolInitializerTest = _on_pool(test_init.ThreadPoolInitializerTest)
PoolFailingInitializerTest = _on_pool(test_init.ThreadPoolFailingInitializerTest)
