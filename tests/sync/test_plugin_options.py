"""``pytest --threadloom`` instruments before conftest files, names what it could not
reach, and has options for suppressions, the watchdog and third-party findings; without
the flag it imports nothing of threadloom."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

# A module imported by conftest.py, i.e. before pytest_configure: an AB/BA inversion in it.
ABBA_MODULE = """
from threading import Lock

a = Lock()
b = Lock()

def forward():
    with a, b:
        pass

def backward():
    with b, a:
        pass
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_an_inversion_in_a_module_a_conftest_imports_is_caught(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(abba=ABBA_MODULE)
    pytester.makeconftest("import abba")
    pytester.makepyfile(
        test_it="""
        import abba

        def test_inversion():
            abba.forward()
            abba.backward()
        """
    )
    result = run(pytester, "--threadloom")
    result.assert_outcomes(failed=1)
    assert "lock-order inversion: thread 'MainThread'" in result.stdout.str()
    assert "not checked" not in result.stdout.str()


def test_modules_bound_before_instrumentation_are_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(early=ABBA_MODULE)
    pytester.makepyfile(test_it="def test_nothing():\n    pass\n")
    result = run(pytester, "--threadloom", "-p", "early")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["threadloom: not checked (bound threading's primitives before instrumentation): *early*"]
    )


def test_without_the_flag_threadloom_is_not_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_it="""
        import sys

        def test_nothing_of_threadloom_is_loaded():
            assert "_threadloom_pytest" in sys.modules  # the plugin itself is loaded
            loaded = [m for m in sys.modules if m.split(".")[0] == "threadloom"]
            assert loaded == []
        """
    )
    run(pytester).assert_outcomes(passed=1)


INVERSION_TEST = """
import threading

def test_inversion():
    first = threading.Lock()
    second = threading.Lock()
    with first, second:
        pass
    with second, first:
        pass
"""


def test_suppressions_from_a_file_and_from_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=INVERSION_TEST)
    run(pytester, "--threadloom").assert_outcomes(failed=1)
    rules = pytester.path / "rules.txt"
    rules.write_text("lock-order:test_it.py:first\n")
    run(pytester, "--threadloom", "--threadloom-suppress", str(rules)).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nthreadloom_suppress =\n    lock-order:test_it.py:second\n")
    run(pytester, "--threadloom").assert_outcomes(passed=1)


def test_own_code_only_spares_a_third_party_inversion(pytester: pytest.Pytester) -> None:
    vendor = pytester.mkpydir("venv_like")
    library = vendor / "site-packages"
    library.mkdir()
    (library / "thirdlib.py").write_text(textwrap.dedent(ABBA_MODULE))
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(library)!r})\n")
    pytester.makepyfile(
        test_it="""
        import threading
        import thirdlib

        def test_library_inversion():
            thirdlib.forward()
            thirdlib.backward()

        def test_own_inversion():
            a, b = threading.Lock(), threading.Lock()
            with a, b:
                pass
            with b, a:
                pass
        """
    )
    result = run(pytester, "--threadloom", "--threadloom-own-code-only")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*threadloom: findings outside the project's own code*",
            "*FAILED test_it.py::test_own_inversion - *",
        ]
    )
    assert "thirdlib.py" in result.stdout.str()


def test_the_watchdog_reports_a_long_wait(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_it="""
        import threading

        def test_slow_holder():
            lock = threading.Lock()
            lock.acquire()
            waiter = threading.Thread(target=lambda: (lock.acquire(), lock.release()),
                                      name="waiter")
            waiter.start()
            threading.Event().wait(0.8)  # hold the lock a while: slow, not deadlocked
            lock.release()
            waiter.join()
        """
    )
    result = run(pytester, "--threadloom", "--threadloom-watchdog", "0.2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*threadloom watchdog: threads blocked too long*",
            "threadloom watchdog: thread 'waiter' has been acquiring Lock#*",
        ]
    )
