"""The rules around a chunk: the table of contents on truncation, #anchors, section titles, the base URL of relative
links and the token window, on fixture pages where they show the case and on small documents where none does."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest

from docs_proxy import tokens
from docs_proxy.convert import Document, Section, Table
from docs_proxy.links import relative_href
from docs_proxy.paging import (
    ANCHORS_LISTED,
    TOC_LISTED,
    anchor_note,
    format_documentation_result,
    has_relative_link,
    reading_start,
)
from docs_proxy.tables import normalise_title, search_tables
from docs_proxy.tools import _sections_markdown
from tests.docs_proxy.test_paging_chunks import HEADER, page

RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
CFN = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"
TOC_LINE = re.compile(r"^( *)- (.+) \((\d+)\)$", re.M)


def toc(answer: str) -> list[tuple[int, str, int]]:
    """The truncation note's table of contents: (indent, title, start_index)."""
    note = answer[answer.index("<e>Content truncated.") :]
    return [(len(m.group(1)), m.group(2), int(m.group(3))) for m in TOC_LINE.finditer(note)]


# --- the table of contents on truncation ---------------------------------------------------------------------------
def test_a_truncated_answer_lists_the_sections_still_to_come_with_their_start_index() -> None:
    document = page(CFN)
    answer = format_documentation_result(CFN, document.markdown, 0, 5000, document.sections)
    following = int(re.search(r"start_index=(\d+) to get more content\.", answer).group(1))  # type: ignore[union-attr]
    listed = toc(answer)
    remaining = [s for s in document.sections if s.start >= following]
    assert len(remaining) > TOC_LISTED  # 31 sections after the first chunk: bounded, h4 and deeper left out first
    upper = [(s.title, s.start) for s in remaining if s.level <= 3]
    assert [(title, start) for _indent, title, start in listed] == upper[:TOC_LISTED]
    assert {"Properties", "Return values", "Remarks", "Examples"} <= {title for _i, title, _s in listed}
    assert answer.endswith(f"- and {len(remaining) - len(listed)} more</e>")
    for _indent, title, start in listed:  # each start_index reads from that section's heading
        assert re.match(r"#{2,6} " + re.escape(title), document.markdown[start:])
    properties = next(item for item in listed if item[1] == "Properties")
    ref = next(item for item in listed if item[1] == "Ref")
    assert ref[0] > properties[0]  # h3 indented under h2
    later = format_documentation_result(CFN, document.markdown, properties[2], 5000, document.sections)
    header = HEADER.match(later)
    assert header is not None and later[header.end() :].startswith("## Properties\n")
    assert "Properties (" not in later[later.index("<e>Content truncated.") :]  # only what comes after


def headings_document(levels: list[int]) -> Document:
    parts, sections, offset = [], [], 0
    for i, level in enumerate(levels):
        text = f"{'#' * level} Heading {i}\n\n" + f"Text of section {i}. " * 20 + "\n\n"
        sections.append(Section(level, f"Heading {i}", f"h{i}", offset, offset + len(text)))
        parts.append(text)
        offset += len(text)
    return Document("Many", "".join(parts), sections, [])


def test_the_table_of_contents_is_bounded_and_prefers_the_upper_levels() -> None:
    levels = [2, 3, 4, 4, 4, 4] * 12  # 72 sections: 12 h2, 12 h3, 48 h4
    document = headings_document(levels)
    answer = format_documentation_result(
        "https://docs.aws.amazon.com/x.html", document.markdown, 0, 600, document.sections
    )
    following = int(re.search(r"start_index=(\d+)", answer).group(1))  # type: ignore[union-attr]
    remaining = [s for s in document.sections if s.start >= following]
    listed = toc(answer)
    assert [title for _i, title, _s in listed] == [s.title for s in remaining if s.level <= 3]  # 22 of them
    assert answer.endswith(f"- and {len(remaining) - len(listed)} more</e>")
    huge = headings_document([2] * 40_000)
    answer = format_documentation_result("https://docs.aws.amazon.com/x.html", huge.markdown, 0, 5000, huge.sections)
    assert len(toc(answer)) == TOC_LISTED and re.search(r"- and \d+ more</e>$", answer)
    assert len(answer) < 5000 + 1500


def test_an_answer_that_is_not_truncated_has_no_note() -> None:
    document = page(RDS)
    answer = format_documentation_result(RDS, document.markdown, 0, 100_000, document.sections)
    assert "<e>" not in answer.replace("<e>Relative links resolve", "")


# --- anchors ---------------------------------------------------------------------------------------------------------
def test_an_anchor_matches_exactly_then_ignoring_case_when_only_one_does() -> None:
    document = page(RDS)
    comparison = next(s for s in document.sections if s.anchor == "Welcome.Concepts.comparison")
    assert reading_start(document, "Welcome.Concepts.comparison", 0) == comparison.start
    assert reading_start(document, "welcome.concepts.COMPARISON", 0) == comparison.start
    assert anchor_note(document, "welcome.concepts.COMPARISON", 0) == ""
    twins = Document(
        "T", "## A\n\nx\n\n## B\n\ny\n", [Section(2, "A", "Limits", 0, 9), Section(2, "B", "limits", 9, 17)]
    )
    assert reading_start(twins, "limits", 0) == 9 and reading_start(twins, "Limits", 0) == 0  # exact wins
    assert reading_start(twins, "LIMITS", 0) == 0  # two differ only in case: none chosen
    assert anchor_note(twins, "LIMITS", 0).startswith("<e>#LIMITS matches 2 anchors that differ only in case;")


def test_an_unknown_anchor_says_so_first_and_lists_the_sections() -> None:
    document = page(RDS)
    note = anchor_note(document, "Welcome.Nowhere", 0)
    assert note.startswith("<e>No section or element #Welcome.Nowhere on this page; reading from the top. Sections: ")
    assert (
        "Comparison of responsibilities with Amazon EC2 and on-premises deployments (#Welcome.Concepts.comparison)"
        in note
    )
    assert note.endswith("</e>\n\n") and reading_start(document, "Welcome.Nowhere", 0) == 0
    assert anchor_note(document, "Welcome.Nowhere", 3000) == ""  # a later chunk: the anchor no longer applies
    assert anchor_note(document, "", 0) == ""
    odd = anchor_note(document, "line\nbreak " * 100, 0)  # echoed on one line, and bounded
    assert odd.startswith("<e>No section or element #line break line break") and "\n" not in odd.rstrip("\n")
    assert len(odd.split(" on this page;")[0]) < 230  # the prefix and 200 characters of the fragment


def test_the_sections_an_unknown_anchor_lists_are_bounded() -> None:
    document = headings_document([2, 3, 4] * 100)
    note = anchor_note(document, "missing", 0)
    assert note.count("(#h") == ANCHORS_LISTED and note.endswith(f" and {300 - ANCHORS_LISTED} more</e>\n\n")
    assert "(#h2)" not in note  # h4 left out first
    bare = Document("T", "# T\n\ntext\n", [Section(1, "T", None, 0, 10)])
    assert (
        anchor_note(bare, "x", 0)
        == "<e>No section or element #x on this page; reading from the top. The page has no section anchors.</e>\n\n"
    )


# --- section titles ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "title"),
    [
        ("Non-DNS names", "Non\u2013DNS names"),  # hyphen / en dash
        ("non\u2011dns NAMES", "Non-DNS names"),  # non-breaking hyphen
        ("Non\u2212DNS names", "Non\u2014DNS names"),  # minus / em dash
        ("Non\u2010DNS names", "Non\ufe63DNS names"),  # hyphen / small hyphen-minus
        ("What's next?", "What\u2019s next?"),  # straight / curly apostrophe
        ("the \u201cdefault\u201d  value", 'The "default" value'),  # curly / straight double quotes, spacing
        ("Size in \u2032", "size in '"),  # prime / apostrophe
        ("\uff24\uff2e\uff33 names", "DNS\u00a0names"),  # full-width letters (NFKC), a no-break space
        ("soft\u00adhyphen", "softhyphen"),  # invisible characters dropped
        ("Stra\u00dfe", "STRASSE"),  # case folding
    ],
)
def test_titles_match_ignoring_case_spacing_dashes_and_quotes(typed: str, title: str) -> None:
    assert normalise_title(typed) == normalise_title(title)


@pytest.mark.parametrize(
    ("typed", "title"), [("Non DNS", "Non-DNS"), ("NonDNS", "Non-DNS"), ("Whats next", "What's next")]
)
def test_titles_still_differ_in_their_words(typed: str, title: str) -> None:
    assert normalise_title(typed) != normalise_title(title)


def test_read_sections_and_search_table_find_titles_typed_with_other_dashes_and_quotes() -> None:
    document = page(RDS)
    text, missing, _headings = _sections_markdown(
        document,
        [
            "what\u2019s NEXT?",
            "Multi\u2013AZ deployments",
            "Comparison of responsibilities with Amazon EC2 and on\u2011premises deployments",
        ],
    )
    assert missing == []
    assert (
        "## What's next?" in text and "### Multi-AZ deployments" in text and "## Comparison of responsibilities" in text
    )
    table = Table(["Non\u2013DNS names"], ["Name", "Link"], [["a-name", "[doc](other.html)"], ["b-name", "text"]])
    answer = search_tables(
        Document("T", "", [Section(2, "Non\u2013DNS names", "n", 0, 0)], [table]), "a-name", "non-dns  NAMES", 5
    )
    assert answer["tables_searched"] == 1 and answer["results"][0]["rows"][0]["Name"] == "a-name"


# --- relative links and their base ------------------------------------------------------------------------------------
def relative_markdown(url: str) -> str:
    """The fixture page with its links written as the converter writes them (relative to the page)."""
    markdown = page(url).markdown
    return re.sub(r"\]\((https://[^)\s]+)\)", lambda m: f"]({relative_href(url, m.group(1))})", markdown)


def test_the_base_url_is_stated_when_the_chunk_has_a_relative_link() -> None:
    content = relative_markdown(RDS)
    start = 0
    stated = 0
    while start < len(content):
        answer = format_documentation_result(RDS, content, start, 1500)
        chunk_has_relative = has_relative_link(content[start : start + 1500])
        found = re.search(r"start_index=(\d+) to get more", answer)
        end = int(found.group(1)) if found else len(content)
        chunk = content[start:end]
        expected = f"AWS Documentation from {RDS}:\n<e>Relative links resolve against {RDS}.</e>\n\n"
        if has_relative_link(chunk):
            stated += 1
            assert answer.startswith(expected + chunk)
            for target in re.findall(r"\]\(([^)\s:]+)\)", chunk):  # each relative one resolves on the docs host
                assert urljoin(RDS, target).startswith("https://docs.aws.amazon.com/")
        else:
            assert answer.startswith(f"AWS Documentation from {RDS}:\n\n" + chunk)
        assert chunk_has_relative or not has_relative_link(chunk)
        start = end
    assert stated >= 3  # the page's links are spread over its chunks


def test_only_scheme_less_targets_count_as_relative() -> None:
    assert (
        has_relative_link("see [a](b.html)") and has_relative_link("[x](#frag)") and has_relative_link("![i](/img.png)")
    )
    assert not has_relative_link("see [a](https://docs.aws.amazon.com/a.html) and [m](mailto:x@example.com)")
    assert not has_relative_link("no links here (really)")


def test_search_table_rows_carry_absolute_links() -> None:
    table = Table(["Actions"], ["Action", "Doc"], [["GetThing", "[GetThing](API_GetThing.html) and [s](#sec)"]])
    document = Document("T", "", [], [table])
    base = "https://docs.aws.amazon.com/service/latest/APIReference/Welcome.html"
    row = search_tables(document, "getthing", None, 5, base)["results"][0]["rows"][0]
    assert row["Doc"] == (
        "[GetThing](https://docs.aws.amazon.com/service/latest/APIReference/API_GetThing.html) and "
        "[s](https://docs.aws.amazon.com/service/latest/APIReference/Welcome.html#sec)"
    )
    assert table.rows[0][1].startswith("[GetThing](API_GetThing.html)")  # the cached table is not rewritten


# --- the token window -------------------------------------------------------------------------------------------------
def test_a_token_budget_encodes_a_window_not_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = tokens.encoding()
    seen: list[int] = []
    real = enc.encode_ordinary

    def spy(text: str) -> list[int]:
        seen.append(len(text))
        return real(text)

    monkeypatch.setattr(enc, "encode_ordinary", spy)
    document = page(RDS)
    big = document.markdown * 200  # 5 MB
    answer = format_documentation_result(RDS, big, 0, 999_999, document.sections, max_tokens=2000)
    assert sum(seen) < 40_000 and max(seen) <= tokens.PIECE
    chunk = answer[answer.index(":\n\n") + 3 : answer.index("\n\n<e>Content truncated.")]
    assert 1600 <= tokens.count(chunk) <= 2000


def test_counting_long_text_goes_in_pieces_within_the_tokenizers_limits() -> None:
    text = "\U0001f600" * 150_000  # four tokens a character: 600,000 tokens, over the package's 200,000 a call
    assert tokens.count(text) >= 150_000
    assert tokens.chars_within(text, 0, len(text), 10) <= 10
    assert tokens.count("a\ud800b") == tokens.count("a\ufffdb")  # a lone surrogate counts as U+FFFD


def test_a_later_chunk_lists_only_the_next_few_sections() -> None:
    """The first answer of a read carries the long table of contents; each later chunk only what comes next."""
    from docs_proxy.paging import TOC_LISTED_LATER
    from docs_proxy.tools import _read_answer

    document = headings_document([2, 3] * 40)
    url = "https://docs.aws.amazon.com/x.html"
    first = _read_answer(url, document, "", 0, 600, None)
    assert len(toc(first)) == TOC_LISTED
    following = int(re.search(r"start_index=(\d+) to get more", first).group(1))  # type: ignore[union-attr]
    later = _read_answer(url, document, "", following, 600, None)
    then = int(re.search(r"start_index=(\d+) to get more", later).group(1))  # type: ignore[union-attr]
    rest = [s for s in document.sections if s.start >= then]
    listed = [(title, start) for _i, title, start in toc(later)]
    assert listed == [(s.title, s.start) for s in rest if s.level == 2][:TOC_LISTED_LATER]  # upper levels kept
    assert later.endswith(f"- and {len(rest) - TOC_LISTED_LATER} more</e>")
