"""classify_line: which input lines are URLs, which are invalid (and why), which are skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadloom.store import Invalid, Skip, Valid, classify_line
from threadloom.store._urls import (
    _PLAIN,
    COMMA_AND_SPACE_IN_URL,
    HEADER_LINE,
    MAX_URL_LENGTH,
    PASSWORD_IN_URL,
    TAB_IN_URL,
    _classify_text,
    _full_checks,
)


@pytest.mark.parametrize(
    ("line", "url"),
    [
        ("http://example.com/a.xml", "http://example.com/a.xml"),
        ("  https://example.com/a?b=c#d \r\n", "https://example.com/a?b=c#d"),
        (b"https://example.com/\n", "https://example.com/"),
        ("HTTP://Example.COM/Path", "HTTP://Example.COM/Path"),
        ("http://127.0.0.1:8080/docs/1.xml", "http://127.0.0.1:8080/docs/1.xml"),
        ("http://[::1]:80/x", "http://[::1]:80/x"),
        ("http://user@host/x", "http://user@host/x"),
        ("http://host/a@b?c=d:e@f", "http://host/a@b?c=d:e@f"),
        ("https://bücher.example/ä", "https://bücher.example/ä"),
        ("\ufeffhttp://bom.example/", "http://bom.example/"),
    ],
)
def test_valid_lines_are_kept_as_given_after_stripping(line: str | bytes, url: str) -> None:
    assert classify_line(line) == Valid(url)


@pytest.mark.parametrize("line", ["", "   \n", b"\r\n", "# a comment", b"  #http://x/"])
def test_blank_and_comment_lines_are_skipped(line: str | bytes) -> None:
    assert isinstance(classify_line(line), Skip)


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        (b"http://x/\xff\xfe\n", "http://x/\\xff\\xfe", "not UTF-8 (byte 0xff)"),
        (
            "ftp://example.com/f",
            "ftp://example.com/f",
            "unsupported scheme 'ftp' (only http and https)",
        ),
        (
            "file:///etc/passwd",
            "file:///etc/passwd",
            "unsupported scheme 'file' (only http and https)",
        ),
        ("example.com/page", "example.com/page", "not a URL (expected http:// or https://)"),
        ("localhost:8080", "localhost:8080", "not a URL (expected http:// or https://)"),
        ("http:/only-one-slash", "http:/only-one-slash", "no host"),
        ("http:///path", "http:///path", "no host"),
        ("://example.com", "://example.com", "not a URL (no scheme)"),
        ("http://exa mple.com/", "http://exa mple.com/", "whitespace inside URL"),
        ("http://x/\x00y", "http://x/\x00y", "control character in URL"),
        ("http://x/\x7f", "http://x/\x7f", "control character in URL"),
        # Rows of a columnar input given as a URL list say so (--input-format).
        ("http://x/a\tcat", "http://x/a\tcat", TAB_IN_URL),
        ("http://x/a\tcat\x00", "http://x/a\tcat\x00", "control character in URL"),
        ("http://x/a,a cat", "http://x/a,a cat", COMMA_AND_SPACE_IN_URL),
        ("url,caption", "url,caption", HEADER_LINE),
        ("http://x:99999/", "http://x:99999/", "bad port"),
        ("http://x:abc/", "http://x:abc/", "bad port"),
        ("http://[::1/", "http://[::1/", "not a URL (Invalid IPv6 URL)"),
        # A password is never stored, whatever else is wrong with the line.
        ("http://user:pw@host/x", "http://user:***@host/x", PASSWORD_IN_URL),
        ("http://user:p@ss:w@host/", "http://user:***@host/", PASSWORD_IN_URL),
        ("https://u:@host/", "https://u:***@host/", PASSWORD_IN_URL),
        ("http://u:s3cret@x:99999/", "http://u:***@x:99999/", "bad port"),
        ("http://u:s3 cret@x/", "http://u:***@x/", "whitespace inside URL"),
        (b"http://u:s3cret@x/\xff", "http://u:***@x/\\xff", "not UTF-8 (byte 0xff)"),
        # A "/", "?" or "#" in the password ends the authority early: still hidden.
        ("http://alice:pa/ss@example.com/x", "http://alice:***@example.com/x", "bad port"),
        ("http://bob:p#ss@example.com/", "http://bob:***@example.com/", "bad port"),
        ("http://carol:p?ss@example.com/", "http://carol:***@example.com/", "bad port"),
        # No scheme at all.
        ("dave:s3cret@host/x", "dave:***@host/x", "not a URL (expected http:// or https://)"),
    ],
)
def test_invalid_lines_have_a_reason_without_the_line(
    line: str | bytes, key: str, reason: str
) -> None:
    assert classify_line(line) == Invalid(key, reason)


def test_every_password_of_a_valid_url_is_hidden() -> None:
    verdict = classify_line("http://a:one@h/?u=http://c:two@x/")
    assert verdict == Invalid("http://a:***@h/?u=http://c:***@x/", PASSWORD_IN_URL)


def test_a_valid_url_with_an_at_sign_after_its_authority_is_kept_whole() -> None:
    assert classify_line("http://h:8080/p?mail=a@b:c") == Valid("http://h:8080/p?mail=a@b:c")


def test_overlong_line_with_a_password_is_stored_cut_without_it() -> None:
    line = "http://u:" + "s" * 2000 + "@x/"
    verdict = classify_line(line + "a" * MAX_URL_LENGTH)
    assert isinstance(verdict, Invalid)
    assert verdict.key.startswith("http://u:***@x/aaa")
    assert "ss" not in verdict.key


def test_overlong_line_is_invalid_and_stored_cut() -> None:
    line = "http://x/" + "a" * MAX_URL_LENGTH
    verdict = classify_line(line)
    assert verdict == Invalid(
        f"{line[:1024]}… ({len(line):,} characters)", f"longer than {MAX_URL_LENGTH} characters"
    )


_url_chars = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=st.from_regex(r"[A-Za-z0-9-][A-Za-z0-9.-]{0,20}", fullmatch=True),
    port=st.none() | st.integers(0, 70000),
    rest=st.text(_url_chars, max_size=40),
)
def test_fast_path_agrees_with_the_full_checks(
    scheme: str, host: str, port: int | None, rest: str
) -> None:
    # The one-regex fast path must accept nothing the full urlsplit checks reject.
    line = f"{scheme}://{host}{'' if port is None else f':{port}'}{rest}"
    if _PLAIN.fullmatch(line) is not None:
        assert _full_checks(line) == Valid(line)
    assert _classify_text(line) == _full_checks(line)


@given(st.binary(max_size=60) | st.text(max_size=60))
def test_any_line_gets_exactly_one_verdict(raw: bytes | str) -> None:
    verdict = classify_line(raw)
    assert isinstance(verdict, Valid | Invalid | Skip)
    if isinstance(verdict, Valid):
        assert verdict.url == verdict.url.strip()
        assert verdict.url.lower().startswith(("http://", "https://"))
    if isinstance(verdict, Invalid):
        assert verdict.reason
        assert "\n" not in verdict.reason
