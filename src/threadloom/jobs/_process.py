"""The processing stage: turn one fetched response into a small JSON result.

``--process xml`` parses the body with defusedxml and keeps the root tag and the
element count; ``--process MODULE:FUNCTION`` calls a user function with the
response. Either way a failure is confined to that one URL: it becomes a
one-line reason (the traceback's last line), never an exception that stops the run.

The function receives an `InputResponse`, the `threadloom.transport.Response` of a
successful fetch (a final 2xx status): ``url``, ``final_url``, ``status``, ``headers``,
``body`` (decoded bytes), ``content_type``, ``elapsed``, ``http_version``,
``redirects``, plus ``input``: the other columns of the URL's input row (CSV, TSV or
JSON lines), or None. docs/guide.md ("Processing documents") lists what each means,
with an example.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from threadloom.store import Store, StoreError
from threadloom.transport import Response

Processor = Callable[[Response], object]
"""A processing function: takes the response, returns a JSON-serialisable value."""


@dataclass(frozen=True, slots=True)
class InputResponse(Response):
    """What a processing function receives: the `Response`, plus ``input``, the other
    columns of the URL's input row (``{"caption": "a cat", ...}``: CSV and TSV cells as
    strings, JSON-lines values as they were), or None for a URL given as a plain line."""

    input: Mapping[str, object] | None = None


_RESPONSE_FIELDS = tuple(field.name for field in dataclasses.fields(Response))


def with_input(response: Response, columns: Mapping[str, object] | None) -> InputResponse:
    """``response`` as an `InputResponse` with ``columns`` as its ``input``."""
    values = {name: getattr(response, name) for name in _RESPONSE_FIELDS}
    return InputResponse(**values, input=columns)


def process_stored_url(
    processor: Processor, response: Response, store: Store, url: str
) -> ProcessOutcome:
    """`run_processor` on ``response`` with the input columns of ``url`` (as the store
    has it) from ``store`` (`Store.read_input`); a store that cannot be read fails this
    URL's processing."""
    try:
        columns = store.read_input(url)
    except (StoreError, sqlite3.Error, ValueError) as exc:
        return ProcessOutcome(value=None, error=f"cannot read the input columns: {exc}")
    return run_processor(processor, with_input(response, columns))


class ProcessorSpecError(ValueError):
    """A ``--process`` value that names no usable processor."""


@dataclass(frozen=True, slots=True)
class ProcessOutcome:
    """What processing one response produced: a JSON-serialisable ``value``, or an ``error``.

    ``error`` is a one-line human reason; when it is set, ``value`` is None.
    """

    value: object
    error: str | None


def xml_summary(response: Response) -> dict[str, object]:
    """Parse ``response.body`` as untrusted XML; return its root tag and element count.

    Entity declarations (billion laughs), external entities and external DTD
    references are rejected by defusedxml; the raised error names the reason.
    """
    # Imported on first use: runs without --process xml never pay for the parsers.
    from xml.etree.ElementTree import ParseError  # noqa: PLC0415

    import defusedxml.ElementTree as SafeElementTree  # noqa: PLC0415
    from defusedxml import (  # noqa: PLC0415
        DTDForbidden,
        EntitiesForbidden,
        ExternalReferenceForbidden,
    )

    try:
        root = SafeElementTree.fromstring(response.body)
    except EntitiesForbidden as exc:
        raise ValueError(
            f"XML rejected: entity declaration {exc.name!r} is forbidden "
            "(protects against billion-laughs and external-entity attacks)"
        ) from None
    except ExternalReferenceForbidden as exc:
        raise ValueError(f"XML rejected: external reference {exc.sysid!r} is forbidden") from None
    except DTDForbidden:
        raise ValueError("XML rejected: document type declarations are forbidden") from None
    except ParseError as exc:
        raise ValueError(f"XML parse error: {exc}") from None
    return {"root": root.tag, "elements": sum(1 for _ in root.iter())}


def load_processor(spec: str) -> Processor:
    """Resolve a ``--process`` value: ``"xml"`` or ``"package.module:function"``.

    The module is found as ``python -m`` finds it: the current directory is searched
    first while it is imported (see `_import_from_cwd`). Raises ProcessorSpecError
    with a one-line reason when the module cannot be imported, the attribute is
    missing, or it is not callable.
    """
    if spec == "xml":
        return xml_summary
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ProcessorSpecError(f"--process {spec!r}: expected 'xml' or MODULE:FUNCTION")
    try:
        module = _import_from_cwd(module_name)
    except Exception as exc:
        raise ProcessorSpecError(
            f"--process {spec!r}: cannot import {module_name!r}: {_last_line(exc)}"
        ) from exc
    function = getattr(module, attribute, None)
    if function is None:
        raise ProcessorSpecError(f"--process {spec!r}: {module_name!r} has no {attribute!r}")
    if not callable(function):
        raise ProcessorSpecError(f"--process {spec!r}: {attribute!r} is not callable")
    processor: Processor = function
    return processor


def _import_from_cwd(module_name: str) -> ModuleType:
    """Import ``module_name`` with the current directory first on ``sys.path``, as
    ``python -m`` and pytest users expect (the ``threadloom`` script's own sys.path has
    no current directory, so ``--process myproc:f`` needed ``PYTHONPATH=.``).

    Afterwards the directory stays on ``sys.path``, but last: a function that imports a
    module beside it when first called still finds it, while the lazy imports of
    threadloom itself (rich, defusedxml) cannot be shadowed by a file in the current
    directory that happens to share their name. Nothing changes when the directory (or
    ``""``, its alias) is on ``sys.path`` already.
    """
    cwd = os.getcwd()
    if cwd in sys.path or "" in sys.path:
        return importlib.import_module(module_name)
    sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    finally:
        # Moved to the end, not removed: see the docstring. remove() takes our entry,
        # the first, unless the imported module put another copy before it (or took
        # ours away).
        with contextlib.suppress(ValueError):
            sys.path.remove(cwd)
        sys.path.append(cwd)


def run_processor(processor: Processor, response: Response) -> ProcessOutcome:
    """Call ``processor`` on ``response``; never raises but for KeyboardInterrupt.

    A processor that raises (``sys.exit()`` included: it would otherwise end the whole
    run from a worker thread), or returns something JSON cannot encode, yields an
    outcome whose ``error`` is the traceback's last line.
    """
    try:
        value = processor(response)
        # Checked here, in the processing thread, so that a value the store could not
        # encode fails this URL's processing instead of the run's writer.
        json.dumps(value, allow_nan=False)
    except (Exception, SystemExit) as exc:
        return ProcessOutcome(value=None, error=_last_line(exc))
    return ProcessOutcome(value=value, error=None)


_MAX_REASON = 300
"""Characters kept of a reason: enough to tell reasons apart, short enough to group."""


def _last_line(exc: BaseException) -> str:
    """The last line of the exception's traceback, e.g. ``ValueError: bad input``, on one
    line (a message's own line breaks become spaces) and at most ``_MAX_REASON`` long."""
    text = " ".join(traceback.format_exception_only(exc)[-1].split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
