"""Helpers for the example tests: load an example as a module, or run it as a script."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(relative: str) -> ModuleType:
    path = EXAMPLES / relative
    name = "example_" + relative.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


def _run(relative: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / relative), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def load_example() -> Callable[[str], ModuleType]:
    """``load_example("seed0_python_notes/two_functions.py")``: a fresh module object."""
    return _load


@pytest.fixture
def run_example() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_example(path, *args)``: run the example as a script; its CompletedProcess."""
    return _run
