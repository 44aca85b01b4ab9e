"""`url#id` where the id is on an element other than a heading: a CloudFormation property's <dt>, an <a id> or
<a name> before a paragraph, a box without heading, a list item, a table row or cell, a code block. Reading starts
at the start of the Markdown line that holds the element's text; the marks that find those lines never show."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup, Tag

from docs_proxy import convert as convert_module
from docs_proxy.addresses import parse_doc_url
from docs_proxy.convert import MAX_ANCHORS, Document, convert
from docs_proxy.page import Page
from docs_proxy.paging import anchor_note, reading_start
from docs_proxy.tools import _read_answer
from tests.docs_proxy.hostile_html import article
from tests.docs_proxy.test_paging_chunks import MANIFEST, PAGES, page
from tests.docs_proxy.test_tools import body_and_next, call, text_of
from tests.support.clients import open_session
from tests.support.processes import DaphneServer

CFN = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"
AUTHZ = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsaccountmanagement.html"
PAGE_URL = "https://docs.aws.amazon.com/x/latest/guide/page.html"
MARK_CHARS = ("\ufdd0", "\ufdd1")


def line_at(document: Document, ident: str) -> str:
    """The Markdown line an element anchor reads from (asserting it is a line start)."""
    start = document.anchors[ident]
    assert start == 0 or document.markdown[start - 1] == "\n"
    end = document.markdown.find("\n", start)
    return document.markdown[start : end if end >= 0 else None]


def unmarked(document: Document) -> None:
    """No mark is left anywhere an agent can see: the Markdown, the table rows search_table serves."""
    texts = [document.markdown] + [c for t in document.tables for row in [t.columns, *t.rows] for c in row]
    assert not any(char in text for text in texts for char in MARK_CHARS)


def read_from(url: str, document: Document, fragment: str, max_length: int) -> str:
    """The text reassembled by reading url#fragment and following every start_index hint, as an agent does."""
    body, following = body_and_next(_read_answer(url, document, fragment, 0, max_length, None))
    parts = [body]
    while following is not None:
        body, following = body_and_next(_read_answer(url, document, fragment, following, max_length, None))
        parts.append(body)
    return "".join(parts)


# --- the CloudFormation template reference: every property is an anchor -------------------------------------------
def test_every_property_of_the_template_reference_reads_from_its_own_line() -> None:
    html = (PAGES / MANIFEST[CFN]).read_text()
    document = convert(html, CFN)
    properties = [dt for dt in BeautifulSoup(html, "lxml").find_all("dt") if isinstance(dt, Tag) and dt.get("id")]
    assert len(properties) > 100
    for dt in properties:
        name = dt.get_text(" ", strip=True)
        assert line_at(document, str(dt["id"])) == f"`{name}`", dt["id"]
    unmarked(document)


@pytest.mark.parametrize(
    ("ident", "name"),
    [
        ("cfn-rds-dbinstance-allocatedstorage", "AllocatedStorage"),
        ("cfn-rds-dbinstance-dbinstanceclass", "DBInstanceClass"),
        ("cfn-rds-dbinstance-engine", "Engine"),
        ("cfn-rds-dbinstance-vpcsecuritygroups", "VPCSecurityGroups"),
    ],
)
def test_reading_a_property_anchor_starts_at_the_property_and_pages_on_exactly(ident: str, name: str) -> None:
    document = page(CFN)
    answer = _read_answer(CFN, document, ident, 0, 2000, None)
    body, following = body_and_next(answer)
    assert body.startswith(f"`{name}`\n:   ") and following is not None
    assert "<e>Content truncated." in answer and " Sections from there on" in answer  # the same note and contents
    start = reading_start(document, ident, 0)
    assert read_from(CFN, document, ident, 2000) == document.markdown[start:]
    assert anchor_note(document, ident, 0) == ""


def test_an_element_anchor_matches_ignoring_case_when_only_one_does() -> None:
    document = page(CFN)
    exact = reading_start(document, "cfn-rds-dbinstance-allocatedstorage", 0)
    assert reading_start(document, "CFN-RDS-DBInstance-AllocatedStorage", 0) == exact > 0
    assert anchor_note(document, "CFN-RDS-DBInstance-AllocatedStorage", 0) == ""
    note = anchor_note(document, "cfn-rds-dbinstance-nosuchproperty", 0)
    assert note.startswith("<e>No section or element #cfn-rds-dbinstance-nosuchproperty on this page; reading from")
    assert reading_start(document, "cfn-rds-dbinstance-nosuchproperty", 0) == 0


# --- the marks never change what is served -----------------------------------------------------------------------
TRICKY = article(
    "Tricky",
    "<p>Before <span id='s1'>spanned</span>, then <a id='e1'></a>) and <code id='c1'>x</code>.</p>"
    "<p><a id='auto' href='https://docs.aws.amazon.com/x.html'>https://docs.aws.amazon.com/x.html</a></p>"
    "<a id='before-heading'></a><h2>Heading</h2><h3 id='h3own'>Own</h3><h3><a id='e2'></a>¶</h3><p id='p'>Para</p>"
    "<ul><li id='li'>  spaced item</li></ul><blockquote id='bq'><p>quote</p></blockquote>"
    "<p id='fence'>```not a fence</p><p>line<br>break</p><div id='empty'></div><img id='im' src='a.png' alt='pic'>"
    "<table><tr><th>A</th><th>B</th></tr><tr id='r1'><td rowspan='2' id='span'>x</td><td>y</td></tr>"
    "<tr><td>z <table><tr><td id='inner'>deep</td></tr></table></td></tr></table>"
    "<pre id='code'>a = 1</pre><pre><code id='in-code'>b = 2</code></pre><p>end</p>",
)


@pytest.mark.parametrize("url", [*MANIFEST, PAGE_URL])
def test_the_marks_change_nothing_of_the_markdown_sections_or_tables(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    html = TRICKY if url == PAGE_URL else (PAGES / MANIFEST[url]).read_text()
    marked = convert(html, url)
    monkeypatch.setattr(convert_module, "MAX_ANCHORS", 0)  # no id is marked
    plain = convert(html, url)
    assert plain.anchors == {} and (url == PAGE_URL or marked.anchors)
    assert marked.markdown == plain.markdown
    assert [(s.level, s.title, s.anchor, s.start, s.end) for s in marked.sections] == [
        (s.level, s.title, s.anchor, s.start, s.end) for s in plain.sections
    ]
    assert [(t.headings, t.columns, t.rows) for t in marked.tables] == [
        (t.headings, t.columns, t.rows) for t in plain.tables
    ]
    unmarked(marked)


def test_ids_on_any_element_read_from_the_line_of_their_text() -> None:
    document = convert(TRICKY, PAGE_URL)
    assert line_at(document, "s1") == line_at(document, "e1") == line_at(document, "c1")
    assert line_at(document, "s1").startswith("Before spanned, then")
    assert line_at(document, "auto") == "<https://docs.aws.amazon.com/x.html>"  # still an autolink
    assert line_at(document, "before-heading") == "## Heading"
    # a heading's id is its section's anchor, and an element anchor on its line too (for headings no section pairs)
    assert line_at(document, "h3own") == "### Own" and document.section_for_anchor("h3own") is not None
    assert line_at(document, "e2") == "Para" == line_at(document, "p")  # an empty heading is no line
    assert line_at(document, "li") == "- spaced item"
    assert line_at(document, "bq") == "> quote"
    assert line_at(document, "fence") == "```not a fence"
    assert line_at(document, "empty") == line_at(document, "im") == "| A | B |"  # no text: the next text's line
    assert line_at(document, "r1") == line_at(document, "span") == "| x | y |"
    assert line_at(document, "inner").startswith("| x | z")  # a table in a cell is flattened into its row
    assert line_at(document, "code") == "```"  # the opening fence
    assert "in-code" not in document.anchors  # code is literal: ids inside it are not looked for


def test_an_anchor_before_a_paragraph_a_named_one_and_boxes_without_heading() -> None:
    document = convert(
        article(
            "Boxes",
            "<p>Intro.</p><a id='first'></a><p>First paragraph.</p><a name='named'></a>\n  <p>Named one.</p>"
            "<div id='box'><p>In a box.</p></div><section id='part'>Bare section text.</section>"
            "<dl><dt>Term</dt><dd id='definition'><p>Its definition.</p></dd></dl>",
        ),
        PAGE_URL,
    )
    assert line_at(document, "first") == "First paragraph."
    assert line_at(document, "named") == "Named one."
    assert line_at(document, "box") == "In a box."
    assert line_at(document, "part") == "Bare section text."
    assert line_at(document, "definition") == ":   Its definition."
    assert reading_start(document, "named", 0) == document.markdown.index("Named one.")


def test_the_first_of_duplicate_ids_wins() -> None:
    document = convert(
        article("Twice", "<p id='dup'>First.</p><p id='dup'>Second.</p><a id='dup'></a><p>Third.</p>"), PAGE_URL
    )
    assert line_at(document, "dup") == "First."


def test_exact_ids_win_then_one_equal_but_for_case() -> None:
    document = convert(
        article(
            "Cases",
            "<h2 id='Limits'>Limits</h2><p>Section text.</p><p id='limits'>Element text.</p>"
            "<p id='Quota'>One.</p><p id='quota'>Two.</p><h2 id='only'>Only</h2><p id='ONLY-not'>x</p>",
        ),
        PAGE_URL,
    )
    assert document.markdown[reading_start(document, "Limits", 0) :].startswith("## Limits")
    assert document.markdown[reading_start(document, "limits", 0) :].startswith("Element text.")  # exact first
    assert document.markdown[reading_start(document, "LIMITS", 0) :].startswith("## Limits")  # a section first
    assert reading_start(document, "QUOTA", 0) == 0
    assert anchor_note(document, "QUOTA", 0).startswith("<e>#QUOTA matches 2 anchors that differ only in case;")
    assert anchor_note(document, "ONLY-NOT", 0) == ""


# --- tables ----------------------------------------------------------------------------------------------------
def test_ids_in_rows_a_preview_hides_lead_to_the_table() -> None:
    rows = "".join(f"<tr id='row{i}'><td><a id='cell{i}'></a>name {i}</td><td>{i}</td></tr>" for i in range(30))
    document = convert(
        article("Big table", f"<h2>Limits</h2><table id='t'><tr><th>Name</th><th>Value</th></tr>{rows}</table>"),
        PAGE_URL,
    )
    assert line_at(document, "row2") == line_at(document, "cell2") == "| name 2 | 2 |"  # shown in the preview
    header = "| Name | Value |"
    assert line_at(document, "t") == line_at(document, "row25") == line_at(document, "cell29") == header
    assert [row[0] for row in document.tables[0].rows][25] == "name 25"
    unmarked(document)


def test_action_rows_of_the_service_authorization_reference_are_anchors() -> None:
    document = page(AUTHZ)
    assert line_at(document, "awsaccountmanagement-CloseAccount").startswith("| [CloseAccount](")
    assert line_at(document, "awsaccountmanagement-DisableRegion").startswith("| [DisableRegion](")  # shown
    assert line_at(document, "awsaccountmanagement-ListRegions").startswith("| Actions | Description |")  # not
    assert line_at(document, "awsaccountmanagement-account_TargetRegion").startswith("| [account:TargetRegion](")
    unmarked(document)


# --- a hostile page ----------------------------------------------------------------------------------------------
def test_mark_characters_in_a_page_cannot_forge_or_break_an_anchor() -> None:
    forged = "\ufdd01\ufdd1 &#xFDD0;2&#xfdd1; &#64976;3&#64977 &#x0fdd0;4\ufdd1"
    document = convert(
        article(
            "Forged",
            f"<p id='a0'>Zero.</p><p id='a1'>One.</p><p id='a2'>Two.</p><p id='a3'>Three.</p><p id='a4'>Four.</p>"
            f"<p>Late: {forged}</p><pre>{forged}</pre><p><img src='x.png' alt='{forged}'> <a href='#{forged}'>l</a></p>",
        ),
        PAGE_URL,
    )
    assert [line_at(document, f"a{i}") for i in range(5)] == ["Zero.", "One.", "Two.", "Three.", "Four."]
    unmarked(document)
    rows = "".join(f"<tr><td>{i}</td></tr>" for i in range(30))
    html = article("T", f"<p id='a0'>Zero.</p><table>{rows}</table><p id='after'>After.</p>")
    noted = convert(html, PAGE_URL + "?q=\ufdd01\ufdd1\ufdd02\ufdd1")  # the numbers of a0 and after
    assert line_at(noted, "a0") == "Zero." and line_at(noted, "after") == "After."  # the table note forges none
    assert 'search_table(url="https://docs.aws.amazon.com/x/latest/guide/page.html?q=\ufffd1\ufffd' in noted.markdown
    unmarked(noted)
    assert "Late: \ufffd1\ufffd \ufffd2\ufffd \ufffd3\ufffd \ufffd4\ufffd" in document.markdown
    unmarked(document)


def test_a_page_of_a_hundred_thousand_ids_keeps_a_bounded_number() -> None:
    body = "".join(f"<p id='p{i}'>p{i}</p>" if i % 2 else f"<a id='a{i}'></a>" for i in range(100_000))
    document = convert(article("Many ids", body + "<p>\ufdd0 7 \ufdd1</p>"), PAGE_URL)
    assert len(document.anchors) == MAX_ANCHORS
    assert line_at(document, "a0") == line_at(document, "p1") == "p1"
    assert "p99999" not in document.anchors  # the first ones are kept
    unmarked(document)


# --- kept with the page ------------------------------------------------------------------------------------------
def test_anchors_travel_with_the_page_and_count_in_its_size() -> None:
    document = page(CFN)
    address = parse_doc_url(CFN, "aws")
    cached = Page(address, address, document, 1.0, 2.0)
    restored = Page.from_json(address, cached.to_json())
    assert restored.document.anchors == document.anchors and len(document.anchors) > 100
    bare = Page(address, address, Document(document.title, document.markdown, document.sections, document.tables), 1, 2)
    assert cached.size() > bare.size() + sum(len(ident) for ident in document.anchors)


async def test_read_documentation_reads_a_property_anchor(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        answer = text_of(await call(session, "read_documentation", url=CFN + "#cfn-rds-dbinstance-storagetype"))
    body, following = body_and_next(answer)
    assert re.match(r"`StorageType`\n:   ", body) and following is not None


def test_an_anchor_on_a_row_the_preview_leaves_out_says_how_to_get_that_row() -> None:
    """list_<service>.html#<service>-<Action> is the most followed row anchor; the preview shows 5 rows."""
    from docs_proxy.tables import search_tables

    url = next(u for u, n in MANIFEST.items() if "list_awsaccountmanagement" in n)
    document = page(url)
    ident = "awsaccountmanagement-GetAccountInformation"
    section, query = document.hidden_rows[ident]
    assert (section, query) == ("Actions defined by AWS Account Management", "GetAccountInformation")
    answer = _read_answer(url, document, ident.upper(), 0, 1500, None)  # its case changed on the way
    assert answer.startswith(
        f"<e>#{ident.upper()} is a row that the preview of the table below leaves out; "
        f'search_table(url="{url}", section_title="{section}", query="{query}") returns it.</e>\n\n'
    )
    rows = search_tables(document, query, section, 20)["results"][0]["rows"]
    assert any(ident in " ".join(row.values()) or "GetAccountInformation" in next(iter(row.values())) for row in rows)
    table = next(t for t in document.tables if len(t.rows) > 20)
    shown_row = table.rows[0][0]  # a row the preview shows: no note, reading starts on its line
    shown_id = next(i for i in document.anchors if i not in document.hidden_rows and i.split("-")[-1] in shown_row)
    assert _read_answer(url, document, shown_id, 0, 1500, None).startswith("AWS Documentation from")
    address = parse_doc_url(url, "aws")
    restored = Page.from_json(address, Page(address, address, document, 1.0, 2.0).to_json())
    assert restored.document.hidden_rows == document.hidden_rows
