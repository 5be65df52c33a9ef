"""``threadloom._redact``: the one rule every layer uses to hide a password in a URL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadloom._redact import redact_line, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:secret@host/x", "http://user:***@host/x"),
        ("https://u:@h:8443/", "https://u:***@h:8443/"),
        ("http://user:p@ss@host/", "http://user:***@host/"),  # urlsplit's last "@"
        ("socks5h://u:pw@127.0.0.1:1080", "socks5h://u:***@127.0.0.1:1080"),
        ("http://u:sec ret@x/", "http://u:***@x/"),  # an invalid line, blanks and all
        ("http://user@host/x", "http://user@host/x"),  # a user name is no secret
        ("http://host/a@b?c=d:e@f", "http://host/a@b?c=d:e@f"),  # "@" after the authority
        ("http://host/x", "http://host/x"),
        ("mailto:someone@example.org", "mailto:someone@example.org"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("http://u:pa/ss@host/x", "http://u:***@host/x"),  # "/" in the password
        ("http://u:p#s?s@host/", "http://u:***@host/"),
        ("alice:s3cret@127.0.0.1:3128", "alice:***@127.0.0.1:3128"),  # a proxy, no scheme
        ("user@proxy:3128", "user@proxy:3128"),  # a user name alone
        ("proxy:3128", "proxy:3128"),
        ("http://host/x", "http://host/x"),
    ],
)
def test_redact_line_hides_up_to_the_last_at_sign(line: str, shown: str) -> None:
    assert redact_line(line) == shown


def test_redact_text_masks_every_url_in_a_line() -> None:
    text = "Failed via 'http://a:one@p:3128' to http://b:two@h/x, see bob@example.org"
    assert redact_text(text) == (
        "Failed via 'http://a:***@p:3128' to http://b:***@h/x, see bob@example.org"
    )


_part = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#@"))


@given(user=_part.filter(lambda u: ":" not in u), password=_part, rest=_part)
def test_no_password_survives(user: str, password: str, rest: str) -> None:
    url = f"http://{user}:{password}@host.example/{rest}"
    assert redact_url(url) == f"http://{user}:***@host.example/{rest}"
    assert (
        redact_text(f"error: {url} failed")
        == f"error: http://{user}:***@host.example/{rest} failed"
    )
