"""Every Python snippet of docs/guide.md runs (in its own interpreter) and every example
it links to exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
TEXT = GUIDE.read_text()
SNIPPETS = re.findall(r"```python\n(.*?)```", TEXT, re.S)


def test_guide_links_every_example_and_only_existing_files() -> None:
    linked = {(GUIDE.parent / link).resolve() for link in re.findall(r"\]\((\.\./[^)]+)\)", TEXT)}
    assert all(path.exists() for path in linked), sorted(p for p in linked if not p.exists())
    examples = {p.resolve() for p in (ROOT / "examples").glob("*/*.py")}
    assert examples <= linked, sorted(str(p) for p in examples - linked)


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_guide_snippet_runs(index: int) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SNIPPETS[index]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "the snippet printed nothing"
