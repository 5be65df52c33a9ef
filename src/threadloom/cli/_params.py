"""click parameter types of the command line: bounded finite numbers, byte sizes,
durations, request header lines, proxy URLs and cookie files."""

from __future__ import annotations

import math
import os
import re
from typing import TYPE_CHECKING, Any, Final

import click


class Number(click.types.FloatParamType):
    """A finite float from ``low`` to ``high``; a value outside is a usage error whose
    message says ``bounds``. (click's FloatRange takes "nan" and "inf", as ``float``
    does, and nan passes any bound: all its comparisons are false.)"""

    def __init__(self, low: float, high: float, bounds: str) -> None:
        self.low = low
        self.high = high
        self.bounds = bounds

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number.", param, ctx)
        if not self.low <= number <= self.high:
            self.fail(f"{value} is not {self.bounds}.", param, ctx)
        return number


_UNITS: Final = {
    "": 1,
    "b": 1,
    **{
        spelling: 1024**power
        for power, letter in enumerate("kmgt", start=1)
        for spelling in (letter, f"{letter}b", f"{letter}ib")
    },
}
"""Size suffixes, lower-cased, to their multiplier. Every one is a power of 1024, as in
curl's --max-filesize (``10M`` is 10,485,760 bytes): KB is read as KiB rather than
refused, because a user who writes 10MB for a body limit means "about ten megabytes"
and 5 % either way does not matter to a limit."""

_SIZE: Final = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*")


_MAX_DIGITS: Final = 100
"""Digits of a size's whole part parse_size reads (10**100 bytes is beyond any limit;
CPython converts at most 4,300 digits to an int)."""

_FRACTION_DIGITS: Final = 60
"""Digits of a size's fraction parse_size keeps: see the comment there."""


def parse_size(text: str) -> int | None:
    """Bytes in a size such as ``"500"``, ``"500K"``, ``"10M"``, ``"1.5GiB"``, ``"2 tb"``;
    None for anything else (a negative number, an unknown unit, garbage).

    Suffixes are case-insensitive and binary (see `_UNITS`); a fraction of a byte is
    rounded down, and a size between 0 and 1 byte is refused (0 means no limit).
    Raises ValueError for a number of more than `_MAX_DIGITS` digits before the point.
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    multiplier = _UNITS.get(match.group(2).lower())
    if multiplier is None:
        return None
    # Integers, not float: "9223372036854775807" must stay exact. (Not Decimal either:
    # its import is ~3 ms of every start, for one multiplication.)
    whole, _, fraction = match.group(1).partition(".")
    whole = whole.lstrip("0")
    if len(whole) > _MAX_DIGITS:
        raise ValueError(f"{len(whole)} digits: more than any size")
    # Truncating the fraction after _FRACTION_DIGITS digits cannot change the result:
    # a multiplier divides 2**40, so a fraction that makes a whole number of bytes
    # has at most 40 digits, and one that does not stays between the same integers.
    digits = fraction.rstrip("0")
    fraction = digits[:_FRACTION_DIGITS]
    cut = len(digits) > len(fraction)  # the size is a little more than the digits kept
    scale = 10 ** len(fraction)
    exact = int(whole or "0") * scale + int(fraction or "0")  # the size times scale
    numerator = exact * multiplier
    # "0.4" would round to 0, which means "no limit": not what anyone meant by it.
    return None if (numerator > 0 or cut) and numerator < scale else numerator // scale


if TYPE_CHECKING:
    _IntType = click.ParamType[int]
else:  # the ParamType of older click (pyproject allows 8.1) is not generic
    _IntType = click.ParamType


class ByteSize(_IntType):
    """A byte count written with an optional unit (``500K``, ``10M``, ``1GiB``, see
    `parse_size`), at most ``maximum``; converts to an int. Anything else is a usage
    error that shows examples."""

    name = "size"

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):  # a default given as a number
            size: int | None = value
        else:
            try:
                size = parse_size(str(value))
            except ValueError:
                self.fail(f"{value} is more than {self.maximum} bytes.", param, ctx)
        if size is None:
            self.fail(
                f"{str(value)!r} is not a size (examples: 500K, 10M, 1GiB, 0 for no limit).",
                param,
                ctx,
            )
        if size > self.maximum:
            self.fail(f"{value} is more than {self.maximum} bytes.", param, ctx)
        return size


_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
"""Duration units to seconds: seconds, minutes, hours, days, weeks (as systemd and Go
write them; ``m`` is minutes, there being no months in a duration)."""

_DURATION_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([smhdw])")


def parse_duration(text: str) -> float | None:
    """Seconds in a duration such as ``"90"`` (seconds), ``"90s"``, ``"30m"``,
    ``"12h"``, ``"7d"``, ``"2w"``, ``"1h30m"`` or ``"1.5d"``; units are case-insensitive,
    blanks around the whole are ignored. None for anything else (a negative or missing
    number, an unknown unit, a unit twice: ``"1h1h"``)."""
    spelled = text.strip().lower()
    if not spelled:
        return None
    if re.fullmatch(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+", spelled):
        return float(spelled)
    seconds = 0.0
    position = 0
    seen: set[str] = set()
    for match in _DURATION_PART.finditer(spelled):
        if match.start() != position or match.group(2) in seen:
            return None
        seen.add(match.group(2))
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return seconds if position == len(spelled) else None


if TYPE_CHECKING:
    _FloatType = click.ParamType[float]
else:  # see _IntType
    _FloatType = click.ParamType


class Duration(_FloatType):
    """A duration (``30m``, ``12h``, ``7d``, ``1h30m``, or seconds; see
    `parse_duration`) of at most ``maximum`` seconds; converts to seconds (a float).
    Anything else is a usage error that shows examples."""

    name = "duration"

    def __init__(self, maximum: float) -> None:
        self.maximum = maximum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        seconds = float(value) if isinstance(value, int | float) else parse_duration(str(value))
        if seconds is None:
            self.fail(
                f"{str(value)!r} is not a duration (examples: 90s, 30m, 12h, 7d, 2w, 1h30m;"
                " a bare number is seconds).",
                param,
                ctx,
            )
        if not seconds <= self.maximum:
            self.fail(f"{value} is more than {self.maximum:g} seconds.", param, ctx)
        return seconds


if TYPE_CHECKING:
    _StrType = click.ParamType[str]
else:  # see _IntType
    _StrType = click.ParamType


class HeaderLine(_StrType):
    """A request header line, ``'Name: value'``, ``'Name:'`` (remove a header libcurl
    sends by default) or ``'Name;'`` (send it empty), checked by the transport's
    ``check_header``; anything else is a usage error naming the header (by its name
    only: its value may be a token)."""

    name = "header"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from threadloom.transport import check_header  # noqa: PLC0415 (loaded by jobs anyway)

        try:
            return check_header(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class ProxyUrl(_StrType):
    """A proxy URL (``scheme://[user:password@]host[:port]``), or ``''`` for no proxy;
    a usage error shows it with its password hidden."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from threadloom.transport import check_proxy  # noqa: PLC0415

        text = str(value)
        if not text:
            return text
        try:
            return check_proxy(text)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class CookieFile(_StrType):
    """A readable cookie file in the Netscape format, holding at least one cookie
    libcurl can read (else a usage error saying why: libcurl would ignore it)."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from threadloom.transport import check_cookie_file  # noqa: PLC0415

        path = str(value)
        if os.path.isdir(path):
            self.fail(f"cookie file {path}: is a directory", param, ctx)
        try:
            check_cookie_file(path)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return path


class OneLine(_StrType):
    """Text without a line break or NUL (a header value libcurl sends as given)."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if any(c in text for c in "\r\n\0"):
            self.fail("must be one line (no line break or NUL)", param, ctx)
        return text
