"""parse_retry_after: both RFC 9110 forms, never negative, never raises."""

from __future__ import annotations

import email.utils
import math

from hypothesis import given
from hypothesis import strategies as st

from threadloom.transport import parse_retry_after

NOW = 1_700_000_000.0


def test_examples() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("1e3") is None
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(date, now=NOW) == 30.0
    # The obsolete forms HTTP/1.1 still requires recipients to accept.
    assert parse_retry_after("Tuesday, 14-Nov-23 22:13:50 GMT", now=NOW) == 30.0
    assert parse_retry_after("Tue Nov 14 22:13:50 2023", now=NOW) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("9" * 400) == math.inf


@given(st.integers(min_value=0, max_value=10**12))
def test_delta_seconds(delta: int) -> None:
    assert parse_retry_after(str(delta)) == float(delta)


@given(st.integers(min_value=-(10**8), max_value=10**8))
def test_http_date_gives_seconds_from_now(offset: int) -> None:
    value = email.utils.formatdate(NOW + offset, usegmt=True)
    assert parse_retry_after(value, now=NOW) == max(0.0, float(offset))


@given(st.text())
def test_any_text_gives_none_or_a_non_negative_number(value: str) -> None:
    result = parse_retry_after(value, now=NOW)
    assert result is None or result >= 0
