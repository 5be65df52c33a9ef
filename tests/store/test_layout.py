"""host_path_for and HostPathWriter: wget-style names that are always safe, and
collisions resolved the documented way."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadloom.store._layout import HostPathWriter, NotEmptyError, host_path_for, with_hash
from threadloom.store._names import MAX_NAME_BYTES

_SAFE = re.compile(r"[A-Za-z0-9._~+%=&@-]+")
_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{p}{n}" for p in ("COM", "LPT") for n in range(10)
}


def assert_safe(component: str) -> None:
    assert 0 < len(component.encode("utf-8")) <= MAX_NAME_BYTES
    assert _SAFE.fullmatch(component), component
    assert not component.startswith((".", "-"))
    assert not component.endswith(".")
    assert component.split(".", 1)[0].upper() not in _DEVICES


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://Example.COM/docs/1.xml", ["example.com", "docs", "1.xml"]),
        ("http://h:8080/a/b/", ["h+8080", "a", "b", "index.html"]),
        ("http://h", ["h", "index.html"]),
        ("http://h/a?x=1&y=2#frag", ["h", "a@x=1&y=2"]),
        ("http://h/?q", ["h", "index.html@q"]),
        ("http://h/../../etc/passwd", ["h", "etc", "passwd"]),
        ("http://h/a/./b/../c", ["h", "a", "c"]),
        ("http://h/a/..", ["h", "index.html"]),
        ("http://h//a//b", ["h", "a", "b"]),
        ("http://h/%2e%2e/a%2Fb", ["h", "%2e%2e", "a%2Fb"]),
        ("http://h/caf\u00e9 x", ["h", "caf%C3%A9%20x"]),
        ("http://h/.git/config", ["h", "%2Egit", "config"]),
        ("http://h/-rf", ["h", "%2Drf"]),
        ("http://h/con.txt/NUL", ["h", "%63on.txt", "%4EUL"]),
        ("http://h/a.", ["h", "a%2E"]),
        ('http://h/a\\b<c>:d|e*f"g', ["h", "a%5Cb%3Cc%3E%3Ad%7Ce%2Af%22g"]),
        ("http://[::1]:80/x", ["%3A%3A1+80", "x"]),
    ],
)
def test_host_path_names(url: str, parts: list[str]) -> None:
    assert host_path_for(url) == parts
    for component in parts:
        assert_safe(component)


def test_long_components_are_cut_and_stay_distinct() -> None:
    a = host_path_for("http://h/" + "a" * 300 + "1")
    b = host_path_for("http://h/" + "a" * 300 + "2")
    assert len(a[-1]) == len(b[-1]) == MAX_NAME_BYTES
    assert a[-1] != b[-1]
    named = with_hash("x" * 300 + ".html", "http://h/")
    assert len(named) == MAX_NAME_BYTES
    assert named.endswith(".html")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_string_gives_safe_components(text: str) -> None:
    for url in (text, "http://h/" + text, "https://" + text):
        parts = host_path_for(url)
        assert len(parts) >= 2
        for component in parts:
            assert_safe(component)


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_collisions_are_resolved_in_input_order(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with HostPathWriter(target) as writer:
        assert writer.write("http://h/a/b", b"file b") == "h/a/b"
        # A directory needed where a file is: the file becomes that directory's index.
        assert writer.write("http://h/a/b/c", b"file c") == "h/a/b/c"
        # The same name again (a fragment is not part of the name): a hash suffix.
        second = writer.write("http://h/a/b/c#x", b"file c#x")
        assert re.fullmatch(r"h/a/b/c~[0-9a-f]{16}", second)
        # A file needed where a directory is: it goes in as index.html, or with a hash.
        slash = writer.write("http://h/a/b/", b"slash")
        assert re.fullmatch(r"h/a/b/index~[0-9a-f]{16}\.html", slash)
        assert writer.write("http://h/x/y", b"y") == "h/x/y"
        assert writer.write("http://h/x", b"x") == "h/x/index.html"
    assert files_under(target) == {
        "h/a/b/index.html": b"file b",
        "h/a/b/c": b"file c",
        second: b"file c#x",
        slash: b"slash",
        "h/x/y": b"y",
        "h/x/index.html": b"x",
    }
    assert not list(target.rglob(".*")), "no temporary file is left"


def test_a_url_named_like_another_urls_hashed_name_overwrites_nothing(tmp_path: Path) -> None:
    hashed = with_hash("a", "http://h/a#x")  # the name "http://h/a#x" gets after "http://h/a"
    target = tmp_path / "out"
    with HostPathWriter(target) as writer:
        assert writer.write(f"http://h/{hashed}", b"first") == f"h/{hashed}"
        assert writer.write("http://h/a", b"second") == "h/a"
        third = writer.write("http://h/a#x", b"third")
        # A directory already holding that name is stepped over the same way.
        (target / "h" / with_hash("b", "http://h/b#y")).mkdir()
        assert writer.write("http://h/b", b"fourth") == "h/b"
        fifth = writer.write("http://h/b#y", b"fifth")
    assert third not in (f"h/{hashed}", "h/a")
    assert sorted(files_under(target).values()) == [
        b"fifth",
        b"first",
        b"fourth",
        b"second",
        b"third",
    ]
    assert files_under(target)[fifth] == b"fifth"


def test_a_non_empty_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("keep")
    with pytest.raises(NotEmptyError):
        HostPathWriter(tmp_path / "mine")
    assert files_under(tmp_path / "mine") == {"keep.txt": b"keep"}


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="POSIX only")
def test_a_symlink_planted_in_the_tree_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    with HostPathWriter(target) as writer:
        writer.write("http://h/first", b"1")
        # Planted after the export started, where the next URL's directory goes.
        (target / "h" / "a").symlink_to(outside)
        (target / "h" / "f").symlink_to(outside / "victim")
        written = writer.write("http://h/a/b", b"2")
        writer.write("http://h/f", b"3")
    assert list(outside.iterdir()) == []
    assert written == "h/a/b"
    assert (target / "h" / "a" / "index.html").is_symlink(), "the link moved, not followed"
    assert (target / "h" / "a" / "b").read_bytes() == b"2"


_SEGMENTS = st.sampled_from(["a", "b", "index.html", "..", ".", "", "%2e", "A"])
_URLS = st.builds(
    lambda parts, query, fragment: "http://h/" + "/".join(parts) + query + fragment,
    st.lists(_SEGMENTS, max_size=4),
    st.sampled_from(["", "?q", "?"]),
    st.sampled_from(["", "#f"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_URLS, unique=True, max_size=12))
def test_every_url_keeps_its_own_file_whatever_collides(urls: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as temporary:
        target = Path(temporary) / "out"
        with HostPathWriter(target) as writer:
            for url in urls:
                writer.write(url, url.encode())
        files = files_under(target)
        # No body was overwritten or lost, and nothing else was left behind.
        assert sorted(files.values()) == sorted(url.encode() for url in urls)
        assert not list(target.rglob(".*"))
