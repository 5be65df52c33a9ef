"""``threadloom export``: a store's URLs as JSON lines, or its bodies as files."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
from typing import TextIO

import click

from threadloom.cli._stores import open_existing
from threadloom.store import (
    NotAStoreError,
    Outcome,
    State,
    Store,
    StoreError,
    open_store,
    store_owns,
)


@click.command()
@click.argument("store")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "dir"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one object per URL; dir: the bodies as files.",
)
@click.option(
    "--to",
    "target",
    default=None,
    help="jsonl: a file (default: standard output); dir: the directory (required).",
)
def export(store: str, fmt: str, target: str | None) -> None:
    """Export STORE.

    jsonl writes one object per URL with url, state (done|failed|invalid|pending),
    http_status, sha256, size, attempts, error, fetched_at and the processing result.
    dir writes every done URL's body into a directory, under a safe name derived from
    the URL (the directory is itself a store: status and export work on it).

    Exit status: 0 exported, 1 the target could not be written (a missing parent
    directory included), 2 usage error (a missing or unusable store, a target that is
    one of the store's own files, a --format dir target that is a non-empty directory
    but not a threadloom store).
    """
    if fmt == "dir" and target is None:
        raise click.UsageError("--format dir needs --to DIRECTORY")
    source = open_existing(store)
    try:
        if target is None:
            _export_jsonl(source, sys.stdout)
            return
        _refuse_own_files(source, target)
        try:
            if fmt == "jsonl":
                _write_jsonl(source, target)
            else:
                written = _export_dir(source, target)
                click.echo(f"{written} documents written to {target}", err=True)
        except NotAStoreError as exc:
            # A user's directory: nothing was written to it.
            raise click.UsageError(f"--to {target}: {exc}; choose another --to path") from None
        except (OSError, StoreError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            click.echo(f"threadloom: cannot write {target}: {reason}", err=True)
            sys.exit(1)
    finally:
        source.close()


def _refuse_own_files(source: Store, target: str) -> None:
    """Raise a usage error if ``target`` is part of ``source`` (see `store_owns`):
    writing there destroys it."""
    if store_owns(source, target):
        raise click.UsageError(
            f"--to {target} is part of the store {source.location}; export somewhere else"
        )


def _write_jsonl(source: Store, target: str) -> None:
    """Export ``source`` as JSON lines to the file ``target``.

    Written to a temporary file beside it (same directory, mode of the file it replaces),
    then renamed onto it: an export that fails or is interrupted leaves no partial file,
    and an earlier file at ``target`` as it was. An existing target that is not a
    regular file (``/dev/stdout``, a pipe) is written directly. Raises `OSError`.
    """
    if os.path.exists(target) and not os.path.isfile(target):
        with open(target, "w", encoding="utf-8") as handle:
            _export_jsonl(source, handle)
        return
    final = os.path.realpath(target)  # a symlink's file is replaced, not the symlink
    temporary = os.path.join(
        os.path.dirname(final), f".{os.path.basename(final)}.{secrets.token_hex(4)}.tmp"
    )
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            _export_jsonl(source, handle)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(final).st_mode))
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _export_jsonl(source: Store, out: TextIO) -> None:
    for row in source.export():
        out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n")


def _export_dir(source: Store, target: str) -> int:
    """Copy every done URL's body into the directory store at ``target`` (created in an
    existing directory, as ``fetch -o DIR/`` creates one; raises `NotAStoreError` for a
    non-empty directory that is not a store)."""
    written = 0
    with open_store(target.rstrip("/") + "/") as destination:
        destination.add_urls(str(row["url"]) for row in source.export() if _is_done(row))
        for row in source.export():
            url = str(row["url"])
            body = source.read_body(url) if _is_done(row) else None
            if body is None:
                continue
            status = row.get("http_status")
            destination.record(
                Outcome(
                    url=url,
                    state=State.DONE,
                    http_status=status if isinstance(status, int) else None,
                    body=body,
                    attempts=0,
                )
            )
            written += 1
    return written


def _is_done(row: dict[str, object]) -> bool:
    return row["state"] == State.DONE
