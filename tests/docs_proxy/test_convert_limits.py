"""The converter's bounds: deep nesting refused early, linear section pairing, only page charsets decoded.

Times are CPU seconds of this process, asserted as upper bounds far above what the code needs and
far below what the quadratic or unbounded versions took.
"""

from __future__ import annotations

import time

import pytest

from docs_proxy.convert import (
    MAX_NESTING,
    PageTooComplex,
    _collect_sections,
    convert,
    convert_body,
    decode,
    page_charset,
)
from tests.docs_proxy.hostile_html import nested

URL = "https://docs.aws.amazon.com/test/page.html"


def test_200000_nested_divs_are_refused_before_the_parse() -> None:
    started = time.process_time()
    with pytest.raises(PageTooComplex, match="too deeply nested to convert"):
        convert(nested(200_000), URL)
    assert time.process_time() - started < 1.5  # parsing it with BeautifulSoup took 5-9 s, then RecursionError


def test_nesting_well_past_real_pages_still_converts() -> None:
    document = convert(nested(MAX_NESTING - 10), URL)  # real pages stay under 30 levels
    assert "inside" in document.markdown


def test_section_pairing_is_linear_in_the_headings() -> None:
    count = 40_000
    markdown = "".join(f"## Section {i}\n\nText.\n\n" for i in range(count))
    # Anchors whose texts never match force a search for each heading: quadratic before (minutes).
    unmatched = [(f"Other {i}", f"o{i}") for i in range(count)]
    started = time.process_time()
    sections = _collect_sections(markdown, unmatched)
    assert time.process_time() - started < 2
    assert len(sections) == count and all(s.anchor is None for s in sections)
    matched = [(f"Section {i}", f"s{i}") for i in range(count)]
    started = time.process_time()
    sections = _collect_sections(markdown, matched)
    assert time.process_time() - started < 2
    assert [s.anchor for s in sections[:3]] == ["s0", "s1", "s2"] and sections[-1].anchor == f"s{count - 1}"
    assert sections[0].end == sections[1].start and sections[-1].end == len(markdown)


def test_anchors_pair_in_order_and_skip_unused_ones() -> None:
    markdown = "# Top\n\n## A\n\n### B\n\n## A\n\n## C\n"
    anchors = [("Top", "top"), ("A", "a1"), ("X", "x"), ("B", "b"), ("A", "a2"), ("C", None)]
    sections = _collect_sections(markdown, anchors)
    assert [(s.level, s.title, s.anchor) for s in sections] == [
        (1, "Top", "top"),
        (2, "A", "a1"),
        (3, "B", "b"),
        (2, "A", "a2"),
        (2, "C", None),
    ]
    top, first_a, b, second_a, c = sections
    assert top.end == len(markdown) and first_a.end == second_a.start and b.end == second_a.start
    assert second_a.end == c.start


@pytest.mark.parametrize(
    "declared", ["punycode", "idna", "utf-7", "rot13", "base64", "hex", "zlib", "unicode_escape", "nonsense", None]
)
def test_codecs_no_page_uses_are_read_as_utf8(declared: str | None) -> None:
    assert page_charset(declared) == "utf-8"
    assert decode("é<p>".encode(), declared) == "é<p>"


@pytest.mark.parametrize(
    ("declared", "body", "text"),
    [
        ("Shift_JIS", b"\x82\xa0", "あ"),
        ("windows-1252", b"\x80", "€"),
        ("ISO-8859-1", b"\xe9", "é"),
        ("GB2312", "中".encode("gb2312"), "中"),
        ("EUC-KR", "한".encode("euc-kr"), "한"),
        ("UTF-8", "é".encode(), "é"),
    ],
)
def test_page_charsets_are_decoded(declared: str, body: bytes, text: str) -> None:
    assert decode(body, declared) == text


def test_a_punycode_body_costs_no_more_than_utf8() -> None:
    body = b"<html><body><div id='main-content'><h1>P</h1><p>Text.</p></div></body></html>-" + b"zz9" * 80_000
    started = time.process_time()
    document = convert_body(body, "punycode", URL)
    assert time.process_time() - started < 2  # decoding this as punycode took about 8 s (quadratic)
    assert "Text." in document.markdown
