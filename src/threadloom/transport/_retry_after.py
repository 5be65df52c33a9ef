"""``Retry-After`` parsing: the one place the transport reads that header."""

from __future__ import annotations

import datetime
import re
import time

# RFC 9110 delta-seconds is 1*DIGIT; a decimal fraction is accepted too, since some
# servers send one and rejecting it would only lose the server's hint.
_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or None.

    Accepts both RFC 9110 forms: delta-seconds (``"120"``; a decimal fraction such as
    ``"1.5"`` is tolerated) and an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``, also
    the obsolete RFC 850 and asctime forms), which is turned into seconds from ``now``
    (a ``time.time()`` value, default the current time). The result is never negative:
    a date in the past gives 0.0. A very long delta may give ``inf``; callers cap it.
    A date without a zone (asctime form, ``-0000``) is read as GMT, as RFC 9110 says all
    HTTP-dates are. Returns None for a missing, empty or malformed value.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    # email.utils costs ~10 ms of start-up; few servers send a date, so load it then.
    import email.utils  # noqa: PLC0415

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    current = time.time() if now is None else now
    try:
        return max(0.0, when.timestamp() - current)
    except (OverflowError, OSError, ValueError):
        return None
