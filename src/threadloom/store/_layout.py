"""Bodies as files under wget-style ``host/path`` names (``export --format dir --layout
host-path``), safely.

Names, from a URL (`host_path_for`):

- The first component is the host, lower-cased, with ``+port`` when the URL names a
  port (``:`` is reserved on Windows; the flat names of `file_name_for` use ``+`` too).
- Then the path's segments. ``.`` segments are dropped and ``..`` removes the segment
  before it, never going above the host (RFC 3986 5.2.4, as a browser resolves them);
  empty segments (``a//b``) are dropped. A path that is empty or ends in ``/`` names
  ``index.html`` in that directory (wget's default name).
- The query, if any, is appended to the last component after ``@`` (wget's
  ``--restrict-file-names=windows`` form, as ``?`` is reserved on Windows). The
  fragment is never sent to the server and is left out.
- Every character outside ``A-Z a-z 0-9 . _ ~ + - % = & @`` is percent-encoded as
  UTF-8 (``%20``, ``%C3%A9``), ``%`` itself is kept, so an escape in the URL stays as
  it was. ``/``, ``\\``, NUL, control characters and the Windows-reserved characters
  can never appear, and ``%2F`` stays three characters: no component is ever path
  syntax. A component starting with ``.`` or ``-``, or whose stem is a Windows device
  name (``CON``, ``NUL``, ``COM1``, ...), has its first character percent-encoded
  (``%2Egit``, ``%43ON``): no hidden files, nothing read as an option or a device; a
  final ``.`` becomes ``%2E`` (Windows would drop it).
- A component longer than `MAX_NAME_BYTES` is cut and ends in ``~`` and 16 hex digits
  of the SHA-256 of the whole component, so different long names stay different.

Collisions, resolved in input order by `HostPathWriter` (which needs an empty target,
so every existing name is one this export wrote):

- Two URLs with the same name (``a/b`` and ``a/b#x``, ``a/`` and ``a/index.html``,
  names cut to the same length): the first keeps it, each later one gets
  ``~<16 hex digits of the SHA-256 of its URL>`` before its extension (and, should an
  earlier URL's own name be that very name, the SHA-256 of the URL and a count).
- A file where a directory is needed (``a/b`` written, then ``a/b/c``): the file moves
  into the new directory as ``a/b/index.html`` (the document at a path that turns out to
  be a directory is its index, as servers redirect ``a/b`` to ``a/b/``).
- A directory where a file is needed (``a/b/c`` written, then ``a/b``): the file is
  written as ``a/b/index.html`` (or, if that is taken, with the hash suffix).

Every file and directory is created relative to an open directory descriptor with
``O_NOFOLLOW`` (POSIX ``openat``): nothing is ever written through a symlink, even one
planted after the export started, and no path is longer than one component per call.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit

from threadloom.store._names import MAX_NAME_BYTES

INDEX: Final = "index.html"
HASH_CHARS: Final = 16

_SAFE: Final = "~+%=&@"  # besides quote()'s letters, digits and "_.-"
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{n}" for n in range(10)}
    | {f"LPT{n}" for n in range(10)}
)
_EXTENSION: Final = re.compile(r"\.[A-Za-z0-9]{1,10}$")
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_BINARY: Final = getattr(os, "O_BINARY", 0)


def host_path_for(url: str) -> list[str]:
    """The components of ``url``'s name under the target (see the module docstring):
    host first, file name last, each a safe single component. Total: any string gives
    at least two components."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return [_component("_"), _component(url.replace("/", "_"))]
    if port is not None:
        host = f"{host}+{port}"
    segments: list[str] = []
    raw = parts.path.split("/")
    for segment in raw:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in {"", "."}:
            segments.append(segment)
    if not segments or raw[-1] in {"", ".", ".."}:
        segments.append(INDEX)
    if parts.query:
        segments[-1] += "@" + parts.query
    return [_component(host or "_")] + [_component(segment) for segment in segments]


def _component(text: str) -> str:
    name = quote(text, safe=_SAFE, errors="surrogateescape")
    first = name[:1]
    if first in {".", "-"} or name.split(".", 1)[0].upper() in _WINDOWS_DEVICES:
        name = f"%{ord(first):02X}{name[1:]}"
    if name.endswith("."):  # Windows drops a trailing dot: "a." would open "a"
        name = name[:-1] + "%2E"
    if len(name) > MAX_NAME_BYTES:  # ASCII after quoting: characters are bytes
        digest = hashlib.sha256(name.encode("ascii")).hexdigest()[:HASH_CHARS]
        name = f"{name[: MAX_NAME_BYTES - 1 - HASH_CHARS]}~{digest}"
    return name


def with_hash(name: str, url: str) -> str:
    """``name`` with ``~<hash of url>`` before its extension, cut to fit one component."""
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    match = _EXTENSION.search(name)
    extension = match.group(0) if match else ""
    stem = name[: len(name) - len(extension)]
    room = MAX_NAME_BYTES - 1 - HASH_CHARS - len(extension)
    return f"{stem[:room]}~{digest}{extension}"


class NotEmptyError(ValueError):
    """The target directory of a `HostPathWriter` already holds something."""


class HostPathWriter:
    """Writes bodies under `host_path_for` names into ``target`` (see the module
    docstring). ``target`` must be missing (it is created, its parent must exist) or an
    empty directory; otherwise `NotEmptyError`, nothing written. Raises `OSError` if
    it cannot be created or opened. Use as a context manager."""

    def __init__(self, target: str | Path) -> None:
        path = Path(target)
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        self._root = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
        try:
            if os.listdir(self._root):
                raise NotEmptyError(f"{target} is not empty")
        except BaseException:
            os.close(self._root)
            raise
        self._count = 0

    def write(self, url: str, body: bytes) -> str:
        """Write ``body`` as ``url``'s file; return its path relative to the target.
        Raises `OSError` if it cannot be written."""
        *directories, name = host_path_for(url)
        fd = os.dup(self._root)
        try:
            for directory in directories:
                fd = self._enter(fd, directory)
            if _kind(fd, name) == "dir":  # a directory where the file should be
                fd = self._enter(fd, name)
                directories.append(name)
                name = INDEX
            taken, tries = name, 0
            while _kind(fd, name) is not None:  # an earlier URL has this name
                # Even the hashed name can be taken: by a URL whose own name is that
                # ("a~<hash>"), so the hash of the URL with a count is tried next.
                name = with_hash(taken, url if tries == 0 else f"{url}\n{tries}")
                tries += 1
            self._write_file(fd, name, body)
        finally:
            os.close(fd)
        return "/".join([*directories, name])

    def _enter(self, parent: int, name: str) -> int:
        """Open (creating it if missing) the directory ``name`` in ``parent``; close
        ``parent``; return the new descriptor. A file there moves into it as index."""
        try:
            kind = _kind(parent, name)
            if kind == "file":
                temporary = self._temporary_name()
                os.rename(name, temporary, src_dir_fd=parent, dst_dir_fd=parent)
                os.mkdir(name, dir_fd=parent)
                os.rename(temporary, f"{name}/{INDEX}", src_dir_fd=parent, dst_dir_fd=parent)
            elif kind is None:
                os.mkdir(name, dir_fd=parent)
            return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=parent)
        finally:
            os.close(parent)

    def _write_file(self, directory: int, name: str, body: bytes) -> None:
        temporary = self._temporary_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
        fd = os.open(temporary, flags, 0o666, dir_fd=directory)
        try:
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory)
            raise

    def _temporary_name(self) -> str:
        # Starts with "." : no component the layout makes does (see _component).
        self._count += 1
        return f".threadloom-tmp-{os.getpid()}-{self._count}"

    def close(self) -> None:
        """Release the target directory's descriptor (idempotent)."""
        if self._root >= 0:
            os.close(self._root)
            self._root = -1

    def __enter__(self) -> HostPathWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _kind(directory: int, name: str) -> str | None:
    """``"dir"``, ``"file"`` (anything else, a symlink included) or None if missing."""
    try:
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return "dir" if stat.S_ISDIR(info.st_mode) else "file"
