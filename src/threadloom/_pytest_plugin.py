"""pytest plugin (entry point ``threadloom``): ``pytest --threadloom``.

Loaded by every pytest run of a project that has threadloom installed, so importing it
does nothing but define hooks; without ``--threadloom`` it changes nothing.  With it,
threading's primitives are replaced by threadloom.sync's for the whole session
(see :func:`threadloom.sync.instrument`), and a test fails when, during its call phase,
any thread closes a lock-order cycle or is found deadlocked.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from threadloom.sync import Finding, current_config, instrument, subscribe, uninstrument


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("threadloom")
    group.addoption(
        "--threadloom",
        action="store_true",
        default=False,
        help="run with threading's locks replaced by threadloom.sync's instrumented ones; "
        "fail tests that create a lock-order cycle or deadlock",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("threadloom"):
        config.pluginmanager.register(_Instrumented(), "threadloom-instrumented")


class _Instrumented:
    """The session-wide state of ``--threadloom``."""

    def __init__(self) -> None:
        self._found: list[Finding] = []
        instrument()
        self._unsubscribe = subscribe(self._found.append)
        self._mode = current_config().mode

    def pytest_report_header(self) -> str:
        return f"threadloom: threading primitives instrumented (lock-order mode {self._mode})"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        mark = len(self._found)
        result = yield
        new = self._found[mark:]
        if new:
            details = "\n\n".join(finding.details for finding in new)
            pytest.fail(f"threadloom found {len(new)} problem(s):\n{details}", pytrace=False)
        return result

    def pytest_unconfigure(self) -> None:
        self._unsubscribe()
        uninstrument()
