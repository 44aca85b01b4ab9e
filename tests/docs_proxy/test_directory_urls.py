"""A guide's directory URL is read: forwarded by the origin (an HTTP redirect or a meta refresh) to the guide's
start page under the usual checks, and the answer says which page was read. The address rules that accept it are
tested in test_doors_addresses (in process, so the mutation run sees them)."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from docs_proxy import fetch
from docs_proxy.addresses import parse_doc_url
from docs_proxy.fetch import MAX_REDIRECTS, FetchError, fetch_page, meta_refresh_target
from tests.docs_proxy.test_tools import call, text_of
from tests.support.clients import open_session
from tests.support.origin import LAMBDA_PAGE, OriginServer, forwarding_page
from tests.support.processes import DaphneServer

AWS = "https://docs.aws.amazon.com"
RDS_GUIDE = f"{AWS}/AmazonRDS/latest/UserGuide/"
RDS = RDS_GUIDE + "Welcome.html"
LAMBDA_GUIDE = f"{AWS}/lambda/latest/dg/"


# --- forwarding pages -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "target"),
    [
        ("0; url=welcome.html", "welcome.html"),
        ("0;URL='welcome.html'", "welcome.html"),
        ('5 ; Url = "/lambda/latest/dg/welcome.html"', "/lambda/latest/dg/welcome.html"),
        ("0, url=https://docs.aws.amazon.com/x.html", "https://docs.aws.amazon.com/x.html"),
        ("0.5;url=./", "./"),
        ("30", None),  # a refresh without a URL only reloads the page
        ("0; url=", None),
    ],
)
def test_a_meta_refresh_target_is_read_from_its_content(content: str, target: str | None) -> None:
    assert meta_refresh_target(forwarding_page(content.replace('"', "&quot;")), "text/html") == target


def test_the_refresh_is_found_whatever_the_attribute_order_and_case() -> None:
    body = b'<html><head><META CONTENT="0;url=welcome.html" HTTP-EQUIV="Refresh"></head><body></body></html>'
    assert meta_refresh_target(body, "text/html; charset=utf-8") == "welcome.html"


def test_a_page_with_an_article_is_read_even_with_a_refresh() -> None:
    article = '<div id="main-col-body"><h1>Guide</h1><p>Text of the page.</p></div>'
    assert meta_refresh_target(forwarding_page("0; url=welcome.html", article), "text/html") is None


def test_only_a_tiny_page_forwards() -> None:
    padding = "<p>" + "words " * 4000 + "</p>"  # a long page without article markup: read, not forwarded
    assert meta_refresh_target(forwarding_page("0; url=welcome.html", padding), "text/html") is None


def test_a_page_that_only_mentions_a_refresh_is_not_forwarded() -> None:
    body = (
        b'<html><head><meta http-equiv="Content-Type" content="text/html"></head>'
        b"<body><p>Refresh tokens: see url=refresh.html</p></body></html>"
    )
    assert meta_refresh_target(body, "text/html") is None


def test_a_body_that_is_not_html_does_not_forward() -> None:
    assert meta_refresh_target(b'refresh content="0; url=x.html"', "application/octet-stream") is None
    assert meta_refresh_target(b"", "text/html") is None


# --- fetching a directory -------------------------------------------------------------------------
@pytest.fixture
def to_origin(origin: OriginServer, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> OriginServer:
    settings.AWS_DOCS_ORIGIN = origin.base
    settings.DOCS_TRUST_ENV_PROXIES = False
    monkeypatch.setattr(fetch, "_session", None)  # a session made with these settings
    return origin


@pytest.mark.parametrize(
    ("url", "served"),
    [
        (RDS_GUIDE, RDS),  # a 302 to the start page
        (RDS_GUIDE.rstrip("/"), RDS),
        (LAMBDA_GUIDE, LAMBDA_GUIDE + LAMBDA_PAGE),  # a page that forwards by a meta refresh
        (f"{AWS}/test/guide-then-forward/", RDS),  # a 301, then a meta refresh with a quoted URL
    ],
)
def test_a_directory_is_fetched_from_where_it_forwards(to_origin: OriginServer, url: str, served: str) -> None:
    fetched = fetch_page(parse_doc_url(url, "aws"))
    assert fetched.status == 200
    assert fetched.address.url == served
    assert b"<h1" in fetched.body


@pytest.mark.parametrize("url", [RDS_GUIDE, LAMBDA_GUIDE])
def test_a_cached_directory_revalidates_through_its_forward(to_origin: OriginServer, url: str) -> None:
    first = fetch_page(parse_doc_url(url, "aws"))
    assert first.etag
    again = fetch_page(parse_doc_url(url, "aws"), etag=first.etag)
    assert again.not_modified and again.address == first.address


def test_a_forwarding_page_with_an_article_is_the_page(to_origin: OriginServer) -> None:
    fetched = fetch_page(parse_doc_url(f"{AWS}/test/meta-with-article.html", "aws"))
    assert fetched.address.path == "/test/meta-with-article.html"
    assert b"Moved guide" in fetched.body


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (
            f"{AWS}/test/no-such-guide/latest/dg/",
            f"Page not found: {AWS}/test/no-such-guide/latest/dg/ does not exist. Check the URL, or use "
            "search_documentation to find the page.",
        ),
        (f"{AWS}/test/dir-loop-a/", f"The page redirects more than {MAX_REDIRECTS} times."),
        (f"{AWS}/test/meta-loop/", f"The page redirects more than {MAX_REDIRECTS} times."),
        (
            f"{AWS}/test/dir-offsite/",
            "The page redirects somewhere that cannot be read (https://evil.example.com/lambda/latest/dg/): "
            "Only pages on docs.aws.amazon.com can be read; evil.example.com is not an AWS documentation host.",
        ),
        (
            f"{AWS}/test/meta-offsite/",
            "The page redirects somewhere that cannot be read "
            "(https://evil.example.com/lambda/latest/dg/welcome.html): "
            "Only pages on docs.aws.amazon.com can be read; evil.example.com is not an AWS documentation host.",
        ),
        (
            f"{AWS}/test/meta-javascript/",
            "The page redirects somewhere that cannot be read (javascript:alert(document.cookie)): "
            "Only https URLs on docs.aws.amazon.com can be read.",
        ),
    ],
)
def test_a_directory_that_cannot_be_followed_gets_a_clear_error(to_origin: OriginServer, url: str, error: str) -> None:
    with pytest.raises(FetchError) as failed:
        fetch_page(parse_doc_url(url, "aws"))
    assert failed.value.message == error


def test_a_forwarding_loop_costs_at_most_the_redirect_bound(to_origin: OriginServer) -> None:
    before = to_origin.hits("/test/meta-loop/")
    with pytest.raises(FetchError):
        fetch_page(parse_doc_url(f"{AWS}/test/meta-loop/", "aws"))
    assert to_origin.hits("/test/meta-loop/") - before == MAX_REDIRECTS + 1


# --- through the tools ----------------------------------------------------------------------------
async def test_reading_a_directory_says_which_page_was_read(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        for url in (RDS_GUIDE, RDS_GUIDE.rstrip("/")):
            result = await call(session, "read_documentation", url=url, max_length=2000)
            text = text_of(result)
            assert not result.is_error, text
            assert text.startswith(f"<e>Requested {RDS_GUIDE}; served {RDS}.</e>\n\n")
            assert f"AWS Documentation from {RDS}:" in text
            assert "# What is Amazon Relational Database Service" in text
        forwarded = text_of(await call(session, "read_documentation", url=LAMBDA_GUIDE, max_length=2000))
        assert forwarded.startswith(f"<e>Requested {LAMBDA_GUIDE}; served {LAMBDA_GUIDE}{LAMBDA_PAGE}.</e>")
        assert "Python" in forwarded


async def test_a_directory_anchor_starts_at_its_section_of_the_start_page(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        text = text_of(
            await call(session, "read_documentation", url=RDS_GUIDE + "#Welcome.Concepts.comparison", max_length=400)
        )
    body = text.split(f"AWS Documentation from {RDS}:\n\n", 1)[1]
    assert body.startswith("## Comparison of responsibilities with Amazon EC2 and on-premises deployments")


async def test_sections_of_a_directory_come_from_its_start_page(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(session, "read_sections", url=RDS_GUIDE, section_titles=["Advantages of Amazon RDS"])
    text = text_of(result)
    assert not result.is_error, text
    assert text.startswith(f"<e>Requested {RDS_GUIDE}; served {RDS}.</e>")
    assert "## Advantages of Amazon RDS" in text


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        (f"{AWS}/test/no-such-guide/latest/dg/", "Page not found"),
        (f"{AWS}/test/dir-loop-a/", "redirects more than"),
        (f"{AWS}/test/dir-offsite/", "redirects somewhere that cannot be read"),
        (f"{AWS}/test/meta-javascript/", "redirects somewhere that cannot be read"),
        (f"{AWS}/lambda/latest/dg/../", "must not contain '.' or '..' segments"),
        (f"{AWS}/", "home page"),
    ],
)
async def test_a_bad_directory_gets_a_clear_tool_error(docs_server: DaphneServer, url: str, expect: str) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(session, "read_documentation", url=url)
    assert result.is_error
    assert expect in text_of(result)
