"""Every code block of README.md and docs/*.md runs as written.

The rules a block is held to (a failure names the block as ``FILE:LINE``):

- A ```python block runs as a script (``python snippet.py``) in a fresh temporary
  directory, and must exit 0 within the time limit. A block whose first line is
  ``# file: NAME.py`` is a module the document's other blocks use: it is also written,
  under that name, into the directory of every block of the same document.
- A ```sh (or bash, shell, console) block runs line by line in bash, in a fresh temporary
  directory holding ``urls.txt`` (documents of a local fault server on 127.0.0.1) and a
  link to the repository's ``examples/``. ``threadloom`` is this interpreter's threadloom,
  started as the installed script is (without the current directory on sys.path). A line
  must exit 0, or the status its trailing comment names (``# exit 4``). A line ending in a
  backslash continues on the next.
- A block that cannot run as written (it needs the network, a private CA, a whole
  ``make test``) is preceded by ``<!-- not run: REASON -->``. It is still checked as far
  as it can be: a Python block compiles, and every ``threadloom SUBCOMMAND ...`` line of a
  shell block parses its options (the line runs with ``--help`` after the subcommand:
  an unknown option fails). Then it is reported as skipped with its reason, so the
  count of blocks not run is in every test summary.
- Other blocks (no language, ``text``, ``json``, ...) are not code and are not run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from threadloom.server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
TIMEOUT = 120.0
"""Seconds one Python block or one shell line may take (the longest takes ~5 s alone)."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
_MODULE_FILE = re.compile(r"^#\s*file:\s*(?P<name>[\w./-]+\.py)\s*$")
_EXPECTED_EXIT = re.compile(r"#\s*exit\s+(?P<code>\d+)\b")
_SHELL_OPERATORS = frozenset({"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1"})


@dataclass(frozen=True)
class Snippet:
    """One fenced code block: where it is, its language, its text and why it is not run
    (None: it is run)."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def module_name(self) -> str | None:
        """The file name a ``# file: NAME.py`` block is written as."""
        first = self.code.split("\n", 1)[0]
        match = _MODULE_FILE.match(first)
        return None if match is None else match.group("name")


def parse_snippets(path: Path) -> Iterator[Snippet]:
    """The fenced blocks of a Markdown file, in order (indented fences in lists too)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        language = (opening.group("info").split() or [""])[0].lower()
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[end].removeprefix(indent))
            end += 1
        else:
            raise AssertionError(f"{path.relative_to(ROOT)}:{index + 1}: unclosed code block")
        yield Snippet(path, index + 1, language, "\n".join(body) + "\n", _marker(lines, index))
        index = end + 1


def _marker(lines: list[str], fence_index: int) -> str | None:
    """The reason of a ``<!-- not run: REASON -->`` on the last non-blank line before
    the fence; None if there is none. An empty reason is an error."""
    before = fence_index - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    if before < 0:
        return None
    match = _NOT_RUN.match(lines[before])
    if match is None:
        return None
    if not match.group("reason"):
        raise AssertionError(f"line {before + 1}: '<!-- not run: -->' needs a reason")
    return match.group("reason")


SNIPPETS = [
    snippet
    for document in DOCUMENTS
    for snippet in parse_snippets(document)
    if snippet.language in PYTHON_LANGUAGES | SHELL_LANGUAGES
]


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer(documents=20) as running:
        yield running


def _prepare(directory: Path, snippet: Snippet, server: FaultServer) -> None:
    """What every block's directory holds: the document's ``# file:`` modules, a URL list
    of the local server's documents, and the repository's examples."""
    for other in SNIPPETS:
        name = other.module_name
        if other.path == snippet.path and name is not None:
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(other.code, encoding="utf-8")
    urls = "".join(f"{server.document_url(n)}\n" for n in range(20))
    (directory / "urls.txt").write_text(urls, encoding="utf-8")
    (directory / "examples").symlink_to(ROOT / "examples", target_is_directory=True)


def _environment(directory: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["HOME"] = str(directory)  # nothing a block writes lands in the real home
    env["PYTHON"] = sys.executable
    return env


def _shell_lines(code: str, language: str = "sh") -> Iterator[str]:
    """The commands of a shell block: one per line, backslash continuations joined,
    blank and comment lines left out, a ``$ `` prompt taken off. In a ``console`` block
    only the prompted lines are commands (the others are their output)."""
    pending = ""
    for text in code.split("\n"):
        prompted = text.lstrip().startswith("$ ")
        if not pending and language == "console" and not prompted:
            continue
        raw = text.lstrip()[2:] if prompted and not pending else text
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            yield line.strip()
    if pending.strip():
        yield pending.strip()


# `threadloom` in a block is this interpreter's, started as the installed script starts
# (-P: no current directory on sys.path, which `python -m` would add).
_PRELUDE = 'threadloom() { "$PYTHON" -P -m threadloom "$@"; }\nset -o pipefail\n'


def _run_shell(line: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", _PRELUDE + line],
        cwd=directory,
        env=_environment(directory),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _help_line(line: str) -> str | None:
    """``threadloom SUB --help ARGS...`` for a line that runs threadloom (up to the first
    shell operator), or None for any other line."""
    words = shlex.split(line, comments=True)
    if len(words) < 2 or words[0] != "threadloom":
        return None
    command: list[str] = []
    for word in words:
        if word in _SHELL_OPERATORS:
            break
        command.append(word)
    return shlex.join([*command[:2], "--help", *command[2:]])


def _failure(snippet: Snippet, what: str, result: subprocess.CompletedProcess[str]) -> str:
    output = (result.stdout + result.stderr).strip()
    tail = "\n".join(output.splitlines()[-25:])
    return f"{snippet.where}: {what} exited {result.returncode}\n{tail}"


def _check_without_running(snippet: Snippet, directory: Path) -> None:
    if snippet.language in PYTHON_LANGUAGES:
        try:
            compile(snippet.code, snippet.where, "exec")
        except SyntaxError as exc:
            pytest.fail(f"{snippet.where}: does not compile: {exc}")
        return
    for line in _shell_lines(snippet.code, snippet.language):
        help_line = _help_line(line)
        if help_line is None:
            continue
        result = _run_shell(help_line, directory)
        if result.returncode != 0:
            pytest.fail(_failure(snippet, f"options of {line!r} (checked with --help)", result))


def _run(snippet: Snippet, directory: Path) -> None:
    if snippet.language in PYTHON_LANGUAGES:
        script = directory / "snippet.py"
        script.write_text(snippet.code, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=directory,
            env=_environment(directory),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(_failure(snippet, "the Python block", result))
        return
    for line in _shell_lines(snippet.code, snippet.language):
        expected = _EXPECTED_EXIT.search(line)
        code = 0 if expected is None else int(expected.group("code"))
        result = _run_shell(line, directory)
        if result.returncode != code:
            pytest.fail(_failure(snippet, f"{line!r} (expected exit {code})", result))


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.where for snippet in SNIPPETS])
def test_snippet_runs_as_written(snippet: Snippet, server: FaultServer, tmp_path: Path) -> None:
    _prepare(tmp_path, snippet, server)
    if snippet.not_run is not None:
        _check_without_running(snippet, tmp_path)
        pytest.skip(f"{snippet.where}: not run: {snippet.not_run} (checked without running)")
    _run(snippet, tmp_path)


def test_the_documents_have_code_to_run() -> None:
    # A broken parser would find nothing and pass every document.
    run = [snippet for snippet in SNIPPETS if snippet.not_run is None]
    assert {snippet.path.name for snippet in run} >= {"README.md", "guide.md"}
    assert {snippet.language for snippet in run} >= {"python", "sh"}


def test_the_parser_finds_fences_markers_and_continuations(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text(
        "text\n"
        "```python\nprint(1)\n```\n"
        "<!-- not run: needs the network -->\n\n"
        "```sh\nthreadloom fetch \\\n  -o x.db urls.txt  # exit 1\n```\n"
        "- a list item:\n\n"
        "  ```bash\n  threadloom status x.db\n  ```\n"
        "```\nnot code\n```\n",
        encoding="utf-8",
    )
    found = [(s.line, s.language, s.code, s.not_run) for s in parse_snippets(sample)]
    assert found == [
        (2, "python", "print(1)\n", None),
        (7, "sh", "threadloom fetch \\\n  -o x.db urls.txt  # exit 1\n", "needs the network"),
        (13, "bash", "threadloom status x.db\n", None),
        (16, "", "not code\n", None),
    ]
    assert list(_shell_lines(found[1][2])) == ["threadloom fetch    -o x.db urls.txt  # exit 1"]
    console = "$ threadloom status x.db\ndone 3\n$ threadloom export \\\n  x.db\n"
    assert list(_shell_lines(console, "console")) == [
        "threadloom status x.db",
        "threadloom export    x.db",
    ]
    assert list(_shell_lines("$ make test\n", "sh")) == ["make test"]
    assert _help_line("threadloom fetch -j 2 urls.txt > out.txt") == (
        "threadloom fetch --help -j 2 urls.txt"
    )
    assert _help_line("make test") is None


def test_a_block_not_run_still_has_its_options_checked(tmp_path: Path) -> None:
    snippet = Snippet(
        ROOT / "README.md", 1, "sh", "threadloom fetch --no-such-option urls.txt\n", "reason"
    )
    with pytest.raises(pytest.fail.Exception, match=r"README.md:1: options of .* exited 2"):
        _check_without_running(snippet, tmp_path)
    good = Snippet(ROOT / "README.md", 1, "sh", "threadloom fetch -j 2 x.txt > o\n", "reason")
    _check_without_running(good, tmp_path)
