"""Conversion quality on every real fixture page, checked against the HTML itself.

For each page: the title is the first heading; every heading of the article appears, in order;
every code block survives unchanged inside a fence; every table keeps its rows; no navigation,
breadcrumb, feedback or cookie text leaks; every link resolves against the page to a real URL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from docs_proxy.convert import Document, convert
from tests.support import quality
from tests.support.origin import PAGES

MANIFEST = json.loads((PAGES / "MANIFEST.json").read_text())
CASES = [pytest.param(url, name, id=name.split("__")[0] + "/" + name.split("__")[1]) for url, name in MANIFEST.items()]

PAGE_LEAKS = {
    "cloudformation-userguide": ("Use quick-create links to create CloudFormation stacks",),
    "prescriptive-guidance": (
        "What is a landing zone?",
        "Setting up a secure and scalable multi-account AWS environment",
    ),
    "service-authorization": ("AWS Activate",),
    "solutions-constructs": ("aws-lambda-secretsmanager", "aws-lambda-sqs-lambda"),
    "legacy-2018": ("Building Lambda Functions", "»"),
}


@pytest.fixture(scope="module")
def converted() -> dict[str, tuple[str, Document]]:
    return {
        name: ((PAGES / name).read_text(), convert((PAGES / name).read_text(), url)) for url, name in MANIFEST.items()
    }


@pytest.mark.parametrize(("url", "name"), CASES)
def test_title_is_the_first_heading(url: str, name: str, converted) -> None:  # type: ignore[no-untyped-def]
    _html, document = converted[name]
    assert document.title
    assert document.markdown.startswith(f"# {document.title}\n")


@pytest.mark.parametrize(("url", "name"), CASES)
def test_every_heading_appears_in_order(url: str, name: str, converted) -> None:  # type: ignore[no-untyped-def]
    html, document = converted[name]
    headings = quality.expected_headings(quality.article_of(html))
    assert headings
    assert quality.headings_in_order(document.markdown, headings) == len(headings)


@pytest.mark.parametrize(("url", "name"), CASES)
def test_code_blocks_survive_in_fences(url: str, name: str, converted) -> None:  # type: ignore[no-untyped-def]
    html, document = converted[name]
    for code in quality.expected_code_blocks(quality.article_of(html)):
        assert quality.code_block_fenced(document.markdown, code), f"code block changed or not fenced: {code[:80]!r}"


@pytest.mark.parametrize(("url", "name"), CASES)
def test_tables_keep_their_rows(url: str, name: str, converted) -> None:  # type: ignore[no-untyped-def]
    html, document = converted[name]
    expected = quality.expected_table_rows(quality.article_of(html))
    got = [len(t.rows) + 1 for t in document.tables]  # +1: the header row
    assert got == expected
    for table in document.tables:
        assert all(len(row) == len(table.columns) for row in table.rows)


@pytest.mark.parametrize(("url", "name"), CASES)
def test_no_chrome_leaks(url: str, name: str, converted) -> None:  # type: ignore[no-untyped-def]
    _html, document = converted[name]
    assert quality.leaks(document.markdown, PAGE_LEAKS.get(name.split("__")[0], ())) == []


@pytest.mark.parametrize(("url", "name"), CASES)
def test_links_and_images_resolve_against_the_page(url: str, name: str, converted) -> None:  # type: ignore[no-untyped-def]
    _html, document = converted[name]
    targets = re.findall(r"\]\(([^)\s]+)", document.markdown)
    assert targets
    for target in quality.relative_links(document.markdown):
        assert not target.startswith(("//", "..", "./")), target  # the shortest form is never one of these
        assert urljoin(url, target).startswith("https://docs.aws.amazon.com/"), target


def test_callouts_tabs_and_languages() -> None:
    rds = convert(
        (PAGES / MANIFEST["https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"]).read_text(),
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html",
    )
    assert "> **Note**\n>\n> This guide covers Amazon RDS database engines" in rds.markdown
    assert "###### Note" not in rds.markdown
    tabs_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/service_code_examples.html"
    tabs = convert((PAGES / MANIFEST[tabs_url]).read_text(), tabs_url)
    assert "**CLI**" in tabs.markdown and "**PowerShell**" in tabs.markdown
    assert "```powershell\n" in tabs.markdown
    constructs_url = "https://docs.aws.amazon.com/solutions/latest/constructs/aws-lambda-sns.html"
    constructs = convert((PAGES / MANIFEST[constructs_url]).read_text(), constructs_url)
    assert re.search(r"```(typescript|python|java)\n", constructs.markdown)


def test_rowspan_is_spread_over_the_rows() -> None:
    url = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsaccountmanagement.html"
    document = convert((PAGES / MANIFEST[url]).read_text(), url)
    actions = max(document.tables, key=lambda t: len(t.rows))
    assert len(actions.rows) > 20
    width = len(actions.columns)
    assert all(len(row) == width for row in actions.rows)
    # a rowspan cell repeats its value on the rows it spans instead of shifting their columns
    first_column = [row[0] for row in actions.rows]
    assert any(first_column[i] == first_column[i + 1] and first_column[i] for i in range(len(first_column) - 1))


def test_sections_know_their_anchors() -> None:
    url = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
    document = convert((PAGES / MANIFEST[url]).read_text(), url)
    section = document.section_for_anchor("Welcome.Concepts.comparison")
    assert section is not None and section.level == 2
    assert document.markdown[section.start :].startswith("## Comparison of responsibilities")
    cli_url = "https://docs.aws.amazon.com/cli/latest/reference/s3/cp.html"
    cli = convert((PAGES / MANIFEST[cli_url]).read_text(), cli_url)
    options = cli.section_for_anchor("options")
    assert options is not None and cli.markdown[options.start :].startswith("## Options")


def test_fixture_pages_exist() -> None:
    assert len(MANIFEST) == 8
    assert all(Path(PAGES / name).exists() for name in MANIFEST.values())
