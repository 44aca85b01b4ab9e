"""Answers in pieces: each chunk's text, the start_index its hint names, and where a #anchor starts reading."""

from __future__ import annotations

from docs_proxy.convert import Document, Section
from docs_proxy.paging import NO_MORE, format_documentation_result, reading_start, truncation_hint

URL = "https://docs.aws.amazon.com/a.html"
HEADER = f"AWS Documentation from {URL}:\n\n"


def hint(following: int) -> str:
    return (
        f"\n\n<e>Content truncated. Call the read_documentation tool with start_index={following} "
        "to get more content.</e>"
    )


def test_a_short_page_fits_in_one_chunk_without_a_hint() -> None:
    assert format_documentation_result(URL, "0123456789", 0, 10) == HEADER + "0123456789"
    assert format_documentation_result(URL, "0123456789", 0, 50) == HEADER + "0123456789"


def test_every_chunk_names_the_start_index_that_follows_it() -> None:
    content = "abcdefghij" * 3  # 30 characters
    assert format_documentation_result(URL, content, 0, 12) == HEADER + content[:12] + hint(12)
    assert format_documentation_result(URL, content, 12, 12) == HEADER + content[12:24] + hint(24)
    assert format_documentation_result(URL, content, 24, 12) == HEADER + content[24:]
    assert format_documentation_result(URL, content, 7, 5) == HEADER + content[7:12] + hint(12)


def test_reading_past_the_end_says_there_is_no_more() -> None:
    assert NO_MORE == "<e>No more content available.</e>"
    assert format_documentation_result(URL, "abc", 3, 10) == HEADER + NO_MORE
    assert format_documentation_result(URL, "abc", 99, 10) == HEADER + NO_MORE
    assert format_documentation_result(URL, "abc", 2, 10) == HEADER + "c"


def test_the_hint_text_is_what_the_model_reads() -> None:
    assert truncation_hint(5000) == hint(5000)


def document() -> Document:
    sections = [Section(2, "Intro", "intro", 0, 40), Section(2, "Limits", "limits", 40, 90)]
    return Document("T", "x" * 90, sections)


def test_an_anchor_starts_the_first_read_at_its_section() -> None:
    assert reading_start(document(), "limits", 0) == 40
    assert reading_start(document(), "intro", 0) == 0


def test_an_explicit_start_index_or_an_unknown_anchor_keeps_the_start() -> None:
    assert reading_start(document(), "limits", 10) == 10
    assert reading_start(document(), "nowhere", 0) == 0
    assert reading_start(document(), "", 0) == 0
    assert reading_start(document(), "", 7) == 7


# --- anchors on rows a table's preview leaves out, and on elements ----------------------------------------------
def rows_document() -> Document:
    markdown = "# T\n\n## Actions\n\n| A | B |\n| --- | --- |\n| Shown | x |\n"
    return Document(
        "T",
        markdown,
        [Section(1, "T", None, 0, len(markdown)), Section(2, "Actions", "actions", 5, len(markdown))],
        [],
        {"svc-Shown": 44, "svc-Hidden": 16, "svc-hidden": 16, "svc-Other": 16, "actions": 5},
        {"svc-Hidden": ("Actions", "Hidden"), "svc-hidden": ("Actions", "hidden"), "svc-Other": ("Actions", "Other")},
    )


def row_note(fragment: str, start_index: int = 0) -> str:
    from docs_proxy.paging import hidden_row_note

    return hidden_row_note(rows_document(), fragment, start_index, URL)


def test_a_hidden_row_anchor_gives_the_search_table_call_that_returns_the_row() -> None:
    assert row_note("svc-Other") == (
        "<e>#svc-Other is a row that the preview of the table below leaves out; "
        f'search_table(url="{URL}", section_title="Actions", query="Other") returns it.</e>\n\n'
    )
    assert row_note("svc-Hidden").endswith('query="Hidden") returns it.</e>\n\n')  # exact wins over case
    assert row_note("SVC-OTHER").startswith("<e>#SVC-OTHER is a row")  # the one equal but for case
    long = "svc-Other" + " " * 300
    assert row_note("svc-OTHER") != "" and row_note(long) == ""


def test_no_hidden_row_note_when_it_does_not_apply() -> None:
    assert row_note("") == ""
    assert row_note("svc-Other", 5) == ""  # a later chunk
    assert row_note("svc-Shown") == ""  # a row the preview shows
    assert row_note("actions") == ""  # a section
    assert row_note("SVC-HIDDEN") == ""  # two rows equal to it but for case: no guess
    assert row_note("nothing") == ""
    bare = rows_document()
    bare.hidden_rows = {}
    from docs_proxy.paging import hidden_row_note

    assert hidden_row_note(bare, "svc-Other", 0, URL) == ""


def test_element_anchors_start_reading_exactly_then_ignoring_case() -> None:
    document = rows_document()
    assert reading_start(document, "svc-Shown", 0) == 44
    assert reading_start(document, "SVC-SHOWN", 0) == 44  # the one equal but for case
    assert reading_start(document, "ACTIONS", 0) == 5  # a section's anchor, ignoring case
    assert reading_start(document, "SVC-HIDDEN", 0) == 0  # two equal but for case: from the top
    assert reading_start(document, "svc-Shown", 7) == 7  # a later chunk keeps its start_index
