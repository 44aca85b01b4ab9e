"""Pins for the docs domain's pure rules: the paging hint of every chunk, the docs host itself (no look-alike
passes), and the table layout (colspan, multi-line cells, the large-table hint) on small pages built here."""

from __future__ import annotations

import re

import pytest

from docs_proxy.addresses import AddressError, parse_doc_url
from docs_proxy.convert import convert
from docs_proxy.paging import format_documentation_result

URL = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
HINT = re.compile(r"start_index=(\d+) to get more content")


# --- paging --------------------------------------------------------------------------------------
def test_each_chunk_names_the_start_of_the_next() -> None:
    """Walking a page by its own hints reads every character once, whatever chunk one starts from."""
    content = "".join(chr(ord("a") + i % 26) for i in range(1000))
    start = 0
    pieces: list[str] = []
    hints: list[int] = []
    for _chunk in range(10):  # four chunks; a hint that points back must not loop for ever
        text = format_documentation_result(URL, content, start, 300)
        header = f"AWS Documentation from {URL}:\n\n"
        assert text.startswith(header)
        found = HINT.search(text)
        body = text[len(header) :]
        if found is None:
            pieces.append(body)
            break
        pieces.append(body[: body.index("\n\n<e>Content truncated.")])
        hints.append(int(found.group(1)))
        start = int(found.group(1))
    assert hints == [300, 600, 900]  # the second and third chunks' hints, not only the first
    assert "".join(pieces) == content


def test_a_chunk_that_reaches_the_end_has_no_hint_and_one_past_it_says_so() -> None:
    content = "x" * 500
    assert HINT.search(format_documentation_result(URL, content, 200, 300)) is None
    assert HINT.search(format_documentation_result(URL, content, 199, 300)).group(1) == "499"  # type: ignore[union-attr]
    assert format_documentation_result(URL, content, 500, 300).endswith("<e>No more content available.</e>")


# --- the docs host and nothing like it -------------------------------------------------------------
LOOK_ALIKES = [
    "https://evil-docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://xdocs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://docs.aws.amazon.com.evil.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://docs.aws.amazon.com./AmazonRDS/latest/UserGuide/Welcome.html",
    "https://aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://sub.docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://docs.aws.amazon.com@evil.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://user:pw@docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://evil.com#@docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    "https://evil.com\\@docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
]
CN_LOOK_ALIKES = [
    "https://xdocs.amazonaws.cn/en_us/aws/latest/userguide/s3.html",
    "https://evil-docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html",
    "https://docs.amazonaws.cn.evil.com/en_us/aws/latest/userguide/s3.html",
    "https://docs.amazonaws.cn@evil.com/en_us/aws/latest/userguide/s3.html",
]


@pytest.mark.parametrize("url", LOOK_ALIKES)
def test_look_alike_hosts_are_refused(url: str) -> None:
    with pytest.raises(AddressError):
        parse_doc_url(url, "aws")


@pytest.mark.parametrize("url", CN_LOOK_ALIKES)
def test_look_alike_china_hosts_are_refused(url: str) -> None:
    with pytest.raises(AddressError):
        parse_doc_url(url, "aws-cn")


def test_the_docs_hosts_themselves_are_read() -> None:
    assert parse_doc_url(URL, "aws").path == "/AmazonRDS/latest/UserGuide/Welcome.html"
    assert parse_doc_url("https://DOCS.aws.amazon.com/a/b.html", "aws").url == "https://docs.aws.amazon.com/a/b.html"
    assert parse_doc_url("https://docs.amazonaws.cn/en_us/a.html", "aws-cn").partition == "aws-cn"


# --- tables ---------------------------------------------------------------------------------------
PAGE = """<html><head><title>T</title></head><body><div id="main-content"><h1>Page</h1>
<h2 id="limits">Service limits</h2>
{table}
</div></body></html>"""


def test_colspan_repeats_the_cell_over_its_columns() -> None:
    table = """<table><thead><tr><th>Name</th><th colspan="2">Size</th></tr>
    <tr><th></th><th>Min</th><th>Max</th></tr></thead>
    <tbody><tr><td>small</td><td>1</td><td>2</td></tr>
    <tr><td colspan="3">all the same</td></tr></tbody></table>"""
    document = convert(PAGE.format(table=table), URL)
    (found,) = document.tables
    assert found.columns == ["Name", "Size / Min", "Size / Max"]
    assert found.rows == [["small", "1", "2"], ["all the same"] * 3]
    assert found.headings == ["Page", "Service limits"]
    assert "| Name | Size / Min | Size / Max |\n| --- | --- | --- |" in document.markdown
    assert "| all the same | all the same | all the same |" in document.markdown


def test_a_multi_line_cell_stays_in_its_row() -> None:
    table = """<table><tr><th>Key</th><th>Value</th></tr>
    <tr><td>k</td><td><ul><li>first line</li><li>second | line</li></ul></td></tr>
    <tr><td>code</td><td><pre>x = 1
y = 2</pre></td></tr></table>"""
    document = convert(PAGE.format(table=table), URL)
    (found,) = document.tables
    assert found.rows == [["k", "- first line<br>- second \\| line"], ["code", "```<br>x = 1<br>y = 2<br>```"]]
    assert "| k | - first line<br>- second \\| line |\n| code | ```<br>x = 1<br>y = 2<br>``` |" in document.markdown


def test_a_large_table_shows_a_preview_and_names_its_section_and_header() -> None:
    rows = "".join(f"<tr><td>row{i}</td><td>{i}</td></tr>" for i in range(30))
    table = f"<table><thead><tr><th>Resource</th><th>Quota</th></tr></thead><tbody>{rows}</tbody></table>"
    document = convert(PAGE.format(table=table), URL)
    (found,) = document.tables
    assert len(found.rows) == 30 and found.columns == ["Resource", "Quota"]
    markdown = document.markdown
    assert "| Resource | Quota |\n| --- | --- |\n| row0 | 0 |" in markdown
    assert "| row4 | 4 |" in markdown and "| row5 | 5 |" not in markdown
    assert "Table truncated (showing 5 of 30 rows)." in markdown
    assert f'search_table(url="{URL}", section_title="Service limits", query="your search term")' in markdown


def test_a_table_of_twenty_rows_is_shown_whole() -> None:
    rows = "".join(f"<tr><td>row{i}</td><td>{i}</td></tr>" for i in range(20))
    table = f"<table><thead><tr><th>Resource</th><th>Quota</th></tr></thead><tbody>{rows}</tbody></table>"
    markdown = convert(PAGE.format(table=table), URL).markdown
    assert "| row19 | 19 |" in markdown and "Table truncated" not in markdown
