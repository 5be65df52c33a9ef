"""docs/guide.md links every example, and only files that exist. (Its code blocks run in
tests/examples/test_docs_snippets.py, with those of README.md and the other docs.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide.md"
TEXT = GUIDE.read_text()


def test_guide_links_every_example_and_only_existing_files() -> None:
    linked = {(GUIDE.parent / link).resolve() for link in re.findall(r"\]\((\.\./[^)]+)\)", TEXT)}
    assert all(path.exists() for path in linked), sorted(p for p in linked if not p.exists())
    examples = {p.resolve() for p in (ROOT / "examples").glob("*/*.py")}
    assert examples <= linked, sorted(str(p) for p in examples - linked)
