"""Settings for the whole suite."""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Let the children the tests start see Ctrl-C, however the suite itself was started.

    A shell starts a background job (``make test &``, a CI runner's step) with SIGINT
    ignored, an ignored signal stays ignored across exec, and Python then never turns
    SIGINT into KeyboardInterrupt: every Ctrl-C test would wait for an interrupt that
    cannot arrive. A handled signal is reset to the default on exec, so handling it here
    gives each child the SIGINT a user at a terminal has.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
