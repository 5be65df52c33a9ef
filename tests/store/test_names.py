"""file_name_for: directory-store names are one safe component, deterministic and distinct."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadloom.store import file_name_for
from threadloom.store._names import HASH_CHARS, MAX_NAME_BYTES

_SAFE = re.compile(r"[A-Za-z0-9._+~-]+")
_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in range(10)
}


def assert_safe(name: str) -> None:
    assert 0 < len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert _SAFE.fullmatch(name), name
    assert name not in {".", ".."}
    assert not name.startswith((".", "-"))
    assert not name.endswith((".", " "))
    assert name.split(".", 1)[0].upper() not in _DEVICES


def test_readable_name_keeps_host_port_path_and_extension() -> None:
    name = file_name_for("http://127.0.0.1:8080/docs/1.xml")
    assert re.fullmatch(rf"127\.0\.0\.1\+8080_docs_1~[0-9a-f]{{{HASH_CHARS}}}\.xml", name)


@pytest.mark.parametrize(
    "url",
    [
        "http://x/../../etc/passwd",
        "http://x/..",
        "http://x/%2e%2e/%2E%2E/secret",
        "http://x/a%2Fb%5C..%5Cc",
        "http://x/a\\..\\..\\windows\\system32",
        "http://x/\x00nul\x01\x1f",
        "http://con/",
        "http://nul.example/x",
        "http://com1/aux.txt",
        "http://x/trailing.",
        "http://x/trailing%20",
        "http://.hidden/",
        "http://-dash/",
        "/etc/passwd",
        "C:\\Windows\\win.ini",
        "\\\\server\\share",
        "",
        "http://x/" + "é" * 300,
        "http://x/" + "a" * 1000 + ".html",
        "http://" + "h" * 300 + "/",
        "http://[::1]:80/a?b=../../c#../d",
    ],
)
def test_hostile_urls_give_one_safe_component(url: str) -> None:
    assert_safe(file_name_for(url))


def test_urls_differing_only_in_what_sanitising_removes_get_different_names() -> None:
    urls = [
        "http://x/a/b",
        "http://x/a_b",
        "http://x/a%2Fb",
        "https://x/a/b",
        "http://x/A/b",
        "http://x/a/b?q=1",
        "http://x/a/b?q=2",
        "http://x/a/b#f",
        "http://x:81/a/b",
        "http://x/" + "a" * 400 + "1",
        "http://x/" + "a" * 400 + "2",
    ]
    names = [file_name_for(u) for u in urls]
    # Case-insensitive file systems: distinct even after folding case.
    assert len({n.lower() for n in names}) == len(urls)


@given(st.text(max_size=400))
def test_any_string_gives_a_safe_name(url: str) -> None:
    assert_safe(file_name_for(url))


@given(st.text(max_size=100), st.text(max_size=100))
def test_names_are_deterministic_and_distinct(a: str, b: str) -> None:
    assert file_name_for(a) == file_name_for(a)
    if a != b:
        assert file_name_for(a).lower() != file_name_for(b).lower()


@given(
    st.builds(
        lambda host, segs, query: f"https://{host}/{'/'.join(segs)}{query}",
        st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
        st.lists(st.text(min_size=0, max_size=30), max_size=8),
        st.sampled_from(["", "?a=1", "?x=../../", "#frag"]),
    )
)
def test_realistic_urls_give_safe_names_with_the_host_first(url: str) -> None:
    name = file_name_for(url)
    assert_safe(name)
    host = url.split("/")[2]
    if host.split(".", 1)[0].upper() not in _DEVICES and not host.startswith("-"):
        assert name.startswith(host[: MAX_NAME_BYTES - HASH_CHARS - 1])
