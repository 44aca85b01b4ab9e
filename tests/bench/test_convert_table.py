"""bench.convert's table and measures, without the reference's venv: rows as measure() makes them, a real page."""

from __future__ import annotations

import json
import math

from bench.convert import MAX_LENGTH, link_chars, paged, table, text_chars
from docs_proxy.convert import convert
from tests.support import quality
from tests.support.origin import PAGES


def row(page: str, ours_chars: int, reference_chars: int, ours_ms: float, reference_ms: float) -> dict:
    return {
        "page": page,
        "html_bytes": 40 * 1024,
        "ours_ms": ours_ms,
        "reference_ms": reference_ms,
        "ours_chars": ours_chars,
        "reference_chars": reference_chars,
        "text_chars": 5000,
        "ours_link_chars": 300,
        "reference_link_chars": 900,
        "ours_calls": 2,
        "reference_calls": 3,
        "ours_answer_chars": ours_chars + 200,
        "reference_answer_chars": reference_chars + 300,
        "headings": 4,
        "ours_headings": 4,
        "reference_headings": 3,
        "code_blocks": 2,
        "ours_code": 2,
        "reference_code": 1,
        "table_rows": 9,
        "ours_table_rows": 9,
        "reference_table_rows": 8,
        "ours_leaks": 0,
        "reference_leaks": 1,
        "ours_wrong_links": 0,
        "reference_wrong_links": 7,
    }


def test_each_row_shows_the_size_columns_and_the_total_sums_them() -> None:
    text = table([row("guide/a", 6000, 8000, 10.0, 40.0), row("guide/b", 7000, 9000, 20.0, 60.0)])
    lines = text.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    first = dict(zip(header, (cell.strip() for cell in lines[2].strip("|").split("|")), strict=True))
    assert first["chars ours/ref/text"] == "6000/8000/5000"
    assert first["ours÷ref"] == "0.75" and first["ours÷text"] == "1.20"
    assert first["link chars ours/ref"] == "300/900"
    assert first[f"calls@{MAX_LENGTH} ours/ref"] == "2/3"
    assert first["answer chars ours/ref"] == "6200/8300"
    assert first["speed-up"] == "4.00x"
    total = dict(zip(header, (cell.strip() for cell in lines[4].strip("|").split("|")), strict=True))
    assert total["chars ours/ref/text"] == "13000/17000/10000"
    assert total[f"calls@{MAX_LENGTH} ours/ref"] == "4/6"
    assert total["speed-up"] == "3.33x"
    assert text.endswith("- every page ours chars <= ref chars: yes\n- total speed-up >= 3x: yes (3.33x)")


def test_the_targets_name_what_misses_them() -> None:
    text = table([row("guide/a", 8100, 8000, 30.0, 40.0), row("guide/b", 9000, 9000, 20.0, 60.0)])
    assert "- every page ours chars <= ref chars: no (guide/a +100)" in text
    assert text.endswith("- total speed-up >= 3x: no (2.00x)")


def test_link_characters_are_the_targets_of_markdown_links() -> None:
    markdown = 'See [a](a.html), [b](https://docs.aws.amazon.com/b.html "B") and ![c](<c d.png>); not [e] (f).'
    assert link_chars(markdown) == len("a.html") + len("https://docs.aws.amazon.com/b.html") + len("<c d.png>")


def test_a_real_page_is_paged_by_its_hints_and_measured_against_its_text() -> None:
    manifest = json.loads((PAGES / "MANIFEST.json").read_text())
    url, name = next((u, n) for u, n in manifest.items() if n.startswith("cloudformation-templatereference"))
    html = (PAGES / name).read_text()
    markdown = convert(html, url).markdown
    calls, characters = paged(url, markdown, convert(html, url).sections)
    # A chunk is at most max_length and ends no earlier than its last fifth (the rule), the last one aside.
    assert math.ceil(len(markdown) / MAX_LENGTH) <= calls <= math.ceil(len(markdown) / (0.8 * MAX_LENGTH)) + 1
    assert characters > len(markdown)  # every chunk whole, plus headers and hints
    assert 0 < text_chars(quality.article_of(html)) < len(markdown)


def test_wrong_links_are_those_that_resolve_to_no_link_of_the_article() -> None:
    page = "https://docs.aws.amazon.com/lambda/latest/dg/welcome.html"
    article = quality.article_of(
        '<div id="main-col-body"><a href="./gettingstarted.html">a</a> <a href="http://docs.aws.amazon.com/x/y.html">b</a>'
        ' <a href="#top">c</a></div>'
    )
    markdown = (
        "[a](gettingstarted.html) [b](/x/y.html) [c](#top) [d](../gettingstarted.html) [e](/lambda/gettingstarted.html)"
    )
    assert quality.wrong_links(markdown, article, page) == ["../gettingstarted.html", "/lambda/gettingstarted.html"]
