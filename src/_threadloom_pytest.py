"""threadloom's pytest plugin (entry point ``threadloom``): ``pytest --threadloom``.

Loaded by every pytest run of a project that has threadloom installed, so it imports
nothing but pytest, and it lives outside the threadloom package, whose ``__init__``
imports core: threadloom is imported, and threading instrumented, only when
``--threadloom`` is given. With it, threading's primitives are replaced by
threadloom.sync's for the whole session (see :func:`threadloom.sync.instrument`), from
before the first ``conftest.py`` is imported, and a test fails when, during its call
phase, any thread closes a lock-order cycle or is found deadlocked.

Options (each also an ini key, without the leading dashes and with ``_`` for ``-``):

- ``--threadloom-suppress FILE`` (repeatable; ini ``threadloom_suppress``: rule lines):
  rules ``KIND:WHERE[:LINE|NAME]`` that silence findings (see
  :func:`threadloom.sync.suppress`).
- ``--threadloom-watchdog SECONDS`` (default 10; 0: off): report threads blocked longer
  than that, with their stacks, in the test's output and the summary.
- ``--threadloom-own-code-only``: fail a test only for findings in which the project's
  own code (under the rootdir, outside site-packages and .venv) takes or waits for one of
  the locks (the innermost frame of a stack); the others, a third-party library's own
  inversions, are listed once in the summary.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from threadloom.sync import BlockedThread, Finding, Watchdog

_NAME = "threadloom-instrumented"
_DEFAULT_WATCHDOG = 10.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("threadloom")
    group.addoption(
        "--threadloom",
        action="store_true",
        default=False,
        help="run with threading's locks replaced by threadloom.sync's instrumented ones; "
        "fail tests that create a lock-order cycle or deadlock",
    )
    group.addoption(
        "--threadloom-suppress",
        action="append",
        default=[],
        metavar="FILE",
        help="a file of rules KIND:WHERE[:LINE|NAME] silencing findings (repeatable)",
    )
    group.addoption(
        "--threadloom-watchdog",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"report threads blocked longer than this (default {_DEFAULT_WATCHDOG:g}; 0: off)",
    )
    group.addoption(
        "--threadloom-own-code-only",
        action="store_true",
        default=None,
        help="fail tests only for findings in which the project's own code takes the locks",
    )
    parser.addini("threadloom_suppress", "rules KIND:WHERE[:LINE|NAME], one a line", "linelist")
    parser.addini("threadloom_watchdog", "watchdog threshold in seconds (0: off)", default="")
    parser.addini("threadloom_own_code_only", "see --threadloom-own-code-only", "bool", False)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    # Runs before any conftest.py is imported: a module a conftest imports then binds
    # threadloom's primitives, not threading's originals.
    if early_config.known_args_namespace.threadloom:
        _start(early_config)


def pytest_configure(config: pytest.Config) -> None:
    # For a plugin loaded too late for the hook above (``-p _threadloom_pytest`` with
    # plugin autoloading disabled).
    if config.getoption("threadloom"):
        _start(config)


def _start(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(_NAME):
        config.pluginmanager.register(_Instrumented(config), _NAME)


class _Instrumented:
    """The session-wide state of ``--threadloom``."""

    def __init__(self, config: pytest.Config) -> None:
        # Imported here, not at the top: only a run with --threadloom pays for it.
        from threadloom.sync import (  # noqa: PLC0415
            current_config,
            instrument,
            load_suppressions,
            subscribe,
            suppress,
            watch,
        )
        from threadloom.sync._patch import unreached_modules  # noqa: PLC0415

        self._config = config
        self._found: list[Finding] = []
        self._blocked: list[BlockedThread] = []
        self._spared: list[Finding] = []
        paths: list[str] = _option(config, "threadloom_suppress", [])
        for path in paths:
            load_suppressions(path)
        suppress(*config.getini("threadloom_suppress"))
        instrument()
        self._unreached = unreached_modules()
        self._unsubscribe = subscribe(self._found.append)
        self._mode = current_config().mode
        self._root = str(config.rootpath) + os.sep
        self._own_only = bool(
            _option(config, "threadloom_own_code_only", None)
            or config.getini("threadloom_own_code_only")
        )
        threshold: float | None = _option(config, "threadloom_watchdog", None)
        if threshold is None:
            ini = str(config.getini("threadloom_watchdog")).strip()
            threshold = float(ini) if ini else _DEFAULT_WATCHDOG
        self._watchdog: Watchdog | None = None
        if threshold > 0:
            self._watchdog = watch(threshold, callback=self._on_blocked)

    def _on_blocked(self, blocked: BlockedThread) -> None:
        self._blocked.append(blocked)
        sys.stderr.write(f"{blocked}\n")

    def pytest_report_header(self) -> list[str]:
        lines = [f"threadloom: threading primitives instrumented (lock-order mode {self._mode})"]
        if self._unreached:
            lines.append(
                "threadloom: not checked (bound threading's primitives before instrumentation): "
                + ", ".join(self._unreached)
            )
        return lines

    def _is_own(self, finding: Finding) -> bool:
        """Whether the project's own code takes or waits for one of the finding's locks."""
        return any(
            path.startswith(self._root)
            and "site-packages" not in path
            and f"{os.sep}.venv{os.sep}" not in path[len(self._root) - 1 :]
            for path in finding.files
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        mark = len(self._found)
        result = yield
        new = self._found[mark:]
        if self._own_only:
            self._spared.extend(f for f in new if not self._is_own(f))
            new = [f for f in new if self._is_own(f)]
        if new:
            details = "\n\n".join(finding.details for finding in new)
            pytest.fail(f"threadloom found {len(new)} problem(s):\n{details}", pytrace=False)
        return result

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self._spared:
            terminalreporter.section("threadloom: findings outside the project's own code")
            for finding in dict.fromkeys(self._spared):
                terminalreporter.write_line(finding.details)
        if self._blocked:
            terminalreporter.section("threadloom watchdog: threads blocked too long")
            for blocked in self._blocked:
                terminalreporter.write_line(str(blocked))

    def pytest_unconfigure(self) -> None:
        from threadloom.sync import uninstrument  # noqa: PLC0415

        if self._watchdog is not None:
            self._watchdog.stop(1.0)
        self._unsubscribe()
        uninstrument()


def _option(config: pytest.Config, name: str, default: Any) -> Any:
    """An option's value, from the early namespace when the hook runs before parsing."""
    value = config.getoption(name, None)
    if value is None or value == []:
        value = getattr(config.known_args_namespace, name, None)
    return default if value is None else value
