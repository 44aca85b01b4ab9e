"""Table and section search stay linear with the largest arguments the schemas allow (and beyond).

Times are CPU seconds, upper bounds far above what the code needs and far below what it took before.
"""

from __future__ import annotations

import time

from docs_proxy.convert import Document, Section, Table
from docs_proxy.paging import Heading
from docs_proxy.tables import SECTIONS_LISTED, quoted_list, search_tables
from docs_proxy.tools import _sections_markdown

ROWS = 20_000


def quota_table(count: int = ROWS) -> Document:
    rows = [[f"quota-{i} us-east-{i % 4}", f"{i * 1000:,}", f"adjustable limit r{i}"] for i in range(count)]
    return Document("Quotas", "# Quotas\n", [], [Table(["Quotas", "Limits"], ["Name", "Value", "Notes"], rows)])


def test_search_table_matches_as_before() -> None:
    document = quota_table(8000)
    exact = search_tables(document, "quota-7999", None, 20)["results"][0]
    assert exact["matched_rows"] == 1 and exact["rows"][0]["Name"] == "quota-7999 us-east-3"
    by_part = search_tables(document, "east 3 quota-7", None, 5)["results"][0]  # "east" finds "us-east-3"
    assert by_part["rows"][0]["Name"] == "quota-7 us-east-3"
    thousands = search_tables(document, "6000", None, 100)["results"][0]["rows"]  # "6,000" is "6000"
    assert thousands[0]["Name"].startswith("quota-6000 ")  # a match in the first column comes first
    assert any(row["Value"] == "6,000" for row in thousands)
    prefix = search_tables(document, "adjus limi", None, 5)["results"][0]  # four letters or more: a prefix
    assert prefix["matched_rows"] == 8000
    assert search_tables(document, "adj", None, 5)["results"] == []  # shorter: whole tokens only


def test_the_longest_query_on_a_large_table_is_linear() -> None:
    document = quota_table()
    # Prefixes that match every row, then one word that matches none: each row meets every word.
    query = ("adju limi quot adjus limit quota " * 40)[:990] + " zzzz"
    started = time.process_time()
    answer = search_tables(document, query, "Limits", 20)
    assert time.process_time() - started < 2  # about 9 s before (every word compared with every token)
    assert answer["tables_searched"] == 1 and answer["results"] == []


def headings_document(count: int) -> Document:
    parts, sections, offset = [], [], 0
    for i in range(count):
        text = f"## Section {i}\n\nText {i}.\n\n"
        sections.append(Section(2, f"Section {i}", f"s{i}", offset, offset + len(text)))
        parts.append(text)
        offset += len(text)
    return Document("Many", "".join(parts), sections, [])


def test_read_sections_with_sixty_thousand_titles_is_linear() -> None:
    document = headings_document(40_000)
    titles = [f"section {i}" for i in range(0, 120_000, 2)]  # 60,000 titles, half of them on the page
    started = time.process_time()
    markdown, missing, _headings = _sections_markdown(document, titles)
    assert time.process_time() - started < 2  # 35 s before (a list search per section)
    assert markdown.startswith("## Section 0\n\nText 0.") and "## Section 1\n" not in markdown
    assert len(missing) == 40_000 and missing[0] == "section 40000"


def test_read_sections_keeps_its_answer_shape() -> None:
    markdown = "## A\n\nText A.\n\n### B\n\nText B.\n\n## C\n\nText C.\n"
    a_end = markdown.index("## C")
    sections = [
        Section(2, "A", "a", 0, a_end),
        Section(3, "B", "b", markdown.index("### B"), a_end),
        Section(2, "C", "c", a_end, len(markdown)),
    ]
    document = Document("T", markdown, sections, [])
    text, missing, headings = _sections_markdown(document, ["b", "A", "  c ", "nope", "a"])
    assert text == "## A\n\nText A.\n\n### B\n\nText B.\n\n## C\n\nText C."  # B is inside A: not repeated
    assert missing == ["nope", "a"]  # a repeated title counts once, as before
    # The headings of the joined text, each at its offset in it (the table of contents of a truncated answer).
    assert headings == [Heading(2, "A", 0), Heading(3, "B", text.index("### B")), Heading(2, "C", text.index("## C"))]


def test_hints_list_a_bounded_number_of_sections() -> None:
    names = [f"S{i}" for i in range(40_000)]
    hint = quoted_list(names)
    assert hint.count('"') == 2 * SECTIONS_LISTED and hint.endswith(f"and {40_000 - SECTIONS_LISTED} more")
    assert quoted_list(["A", "B"]) == '"A", "B"'


def test_cells_of_unclosed_link_openers_are_searched_in_linear_time() -> None:
    """A page's table cell of 40,000 `[` or `[a](` took seconds per row in the link-text pattern (quadratic)."""
    hostile = [["[" * 40_000 + " alpha", "[a](" * 20_000 + " beta", "](" * 40_000 + "[c](d.html)"]]
    document = Document("T", "# T\n", [], [Table(["T"], ["A", "B", "C"], hostile)])
    started = time.process_time()
    answer = search_tables(document, "alpha beta", None, 5, "https://docs.aws.amazon.com/g/p.html")
    assert answer["results"][0]["matched_rows"] == 1
    assert answer["results"][0]["rows"][0]["C"].endswith("[c](https://docs.aws.amazon.com/g/d.html)")
    assert time.process_time() - started < 5  # was minutes
