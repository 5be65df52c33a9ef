"""File names for URL bodies in a directory store: readable, flat, and safe on every OS.

A name is ``<readable>~<hash><.ext>``:

- ``readable`` is the host (with ``+port`` when the URL has one) and the path with every
  ``/`` turned into ``_``; every character outside ``A-Z a-z 0-9 . _ + -`` becomes ``_``
  (so ``..``, ``/``, ``\\``, ``%2F``, NUL and control characters can never act as path
  syntax: the name is always one component, never absolute, never ``.`` or ``..``).
  A leading ``.`` or ``-`` and a Windows device stem (``CON``, ``NUL``, ``COM1``, ...)
  get a ``_`` prefix. It is cut so the whole name fits in `MAX_NAME_BYTES`.
- ``hash`` is the first 16 hex digits of the SHA-256 of the full URL (query and fragment
  included). It is always present, so two different URLs never share a name whatever
  the sanitising or truncation did, on case-insensitive file systems too, and the name
  does not depend on the order in which URLs arrive.
- ``.ext`` is the last path segment's extension when it is 1-10 ASCII letters/digits
  (kept so file managers know the type).

Names are ASCII, end in a letter or digit (never a dot or space) and never start with a
dot, so they cannot clash with the store's own hidden files (``.threadloom*``).
The layout is flat (no sub-directories): nothing to create, nothing to escape through.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final
from urllib.parse import urlsplit

MAX_NAME_BYTES: Final = 255
"""The common limit of one path component (ext4, XFS, APFS, NTFS)."""

HASH_CHARS: Final = 16

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._+-]")
_EXTENSION: Final = re.compile(r"\.([A-Za-z0-9]{1,10})$")
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{n}" for n in range(10)}
    | {f"LPT{n}" for n in range(10)}
)


def file_name_for(url: str) -> str:
    """Return the file name under which a directory store keeps ``url``'s body.

    Total and deterministic: any string gives a safe name (see the module docstring
    for the exact form); equal URLs give equal names, different URLs different names
    (up to a 64-bit hash collision).
    """
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    host, path = _host_and_path(url)
    extension = ""
    match = _EXTENSION.search(path.rsplit("/", 1)[-1])
    if match is not None:
        extension = "." + match.group(1).lower()
        path = path[: len(path) - len(match.group(0))]
    readable = _UNSAFE.sub("_", host + path.replace("/", "_"))
    if readable[:1] in {".", "-", ""}:
        readable = "_" + readable
    if readable.split(".", 1)[0].upper() in _WINDOWS_DEVICES:
        readable = "_" + readable
    room = MAX_NAME_BYTES - 1 - HASH_CHARS - len(extension)
    # ASCII only after sanitising, so characters are bytes.
    return f"{readable[:room]}~{digest}{extension}"


def _host_and_path(url: str) -> tuple[str, str]:
    """Host (``+port``) and path of ``url``; the whole string as the path if unparsable."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "", url
    if port is not None:
        host = f"{host}+{port}"
    return host, parts.path
