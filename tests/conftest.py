"""Settings for the whole suite."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from threadloom.core import _task
from threadloom.server import ForwardProxy

# A task taking a step its phase does not allow is a bug: raise, do not just log it (here
# and in the subprocesses tests start).
os.environ["THREADLOOM_STRICT_PHASES"] = "1"
_task.STRICT = True


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


@contextlib.contextmanager
def _files_limited_to(size: int) -> Iterator[None]:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@pytest.fixture
def files_limited_to() -> Callable[[int], AbstractContextManager[None]]:
    """``with files_limited_to(size):`` files of this process may not grow past ``size``
    bytes inside the block: a write past it fails with EFBIG, a real error of the
    system call, as ENOSPC would (a full disk, without filling one)."""
    return _files_limited_to


_PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
)


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test with no proxy variable set.

    Tests talk only to 127.0.0.1; libcurl reads these variables on every transfer, so a
    runner with ``http_proxy`` set would send the suite's requests (and the children's,
    which inherit the environment) through a proxy it never meant to test."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    """A forwarding HTTP proxy (plain requests and CONNECT) on 127.0.0.1."""
    with ForwardProxy() as running:
        yield running
