"""Documentation pages as MCP resources, end to end: a real Daphne reading from the fixture origin, the SDK 2.3
`Client` in its default (2026-07-28) mode. The templates of both hosts, a page read whole with its freshness as
`ttlMs`, refused URIs (answered without a fetch, the server unharmed), and the indexed pages listed in pages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import Resource

from docs_proxy.addresses import DocAddress
from docs_proxy.convert import Document, UnreadablePage
from docs_proxy.fetch import FetchError
from docs_proxy.page import Page
from docs_proxy.resources import fresh_ms, page_text, read_failure
from mcp_gateway.catalogue import ToolError
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.witness import Witness

PAGE_SIZE = 4
L2_TTL = 900  # DOCS_CACHE_L2_TTL: how long a fetched page stays fresh, the bound of ttlMs
RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
CN_S3 = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"
TEMPLATES = {"https://docs.aws.amazon.com/{+path}", "https://docs.amazonaws.cn/{+path}"}
# The conformance fixtures' resources, listed before the indexed pages.
STATIC = ["test://static-text", "test://static-binary", "test://watched-resource"]
LISTED = [f"https://docs.aws.amazon.com/listing/latest/guide/page-{n:02}.html" for n in range(11)]
LISTED_CN = [f"https://docs.amazonaws.cn/en_us/listing/latest/guide/page-{n}.html" for n in range(2)]
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

SAVE_ROWS = """
from docs_proxy.search_index import store
from docs_proxy.search_index.records import IndexRecord, guide_of
for url, partition in {rows!r}:
    store.save(IndexRecord(url, partition, guide_of(url), "Listing " + url.rsplit("/", 1)[1], ["Heading"], "Body."))
"""


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    """The docs app with the conformance fixtures beside it (their resources come first in resources/list)."""
    with daphne(
        **origin.settings_env(),
        MCP_CONFORMANCE_FIXTURES="1",
        MCP_RESOURCES_PAGE_SIZE=str(PAGE_SIZE),
        DOCS_CACHE_L2_TTL=str(L2_TTL),
    ) as srv:
        yield srv
        assert srv.alive(), srv.log()


async def every_page(client: Client) -> list[list[Resource]]:
    """resources/list from the first page to the last, fetched afresh (the client would cache a page 60 s)."""
    listed, cursor = [], None
    while True:
        page = await client.list_resources(cursor=cursor, cache_mode="bypass")
        listed.append(page.resources)
        cursor = page.next_cursor
        if cursor is None:
            return listed
        assert len(listed) < 100


def uris(listed: list[list[Resource]]) -> list[str]:
    return [str(resource.uri) for page in listed for resource in page]


async def read_error(client: Client, uri: str) -> Any:
    with pytest.raises(MCPError) as info:
        await client.read_resource(uri, cache_mode="bypass")
    return info.value.error


async def test_the_templates_cover_both_documentation_hosts(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        templates = {str(t.uri_template): t for t in (await client.list_resource_templates()).resource_templates}
    assert TEMPLATES <= templates.keys()
    for uri in TEMPLATES:
        assert templates[uri].mime_type == "text/markdown" and templates[uri].description


async def test_a_page_reads_whole_as_markdown_fresh_for_as_long_as_the_cache_keeps_it(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        result = await client.read_resource(RDS, cache_mode="bypass")
        tool = await client.call_tool("read_documentation", {"url": RDS, "max_length": 999_999})
    (content,) = result.contents
    assert str(content.uri) == RDS and content.mime_type == "text/markdown"
    text = getattr(content, "text", "")
    assert text.startswith(f"AWS Documentation from {RDS}:\n")
    assert "# What is Amazon Relational Database Service" in text and "## Advantages of Amazon RDS" in text
    # The whole page, as read_documentation gives it when asked for all of it.
    assert text == tool.content[0].text
    assert 0 < result.ttl_ms <= L2_TTL * 1000 and result.cache_scope == "private"


async def test_a_page_named_over_http_or_with_its_host_in_capitals_reads_as_with_the_tools(
    server: DaphneServer,
) -> None:
    shouted = RDS.replace("https://docs.aws.amazon.com", "HTTPS://DOCS.aws.amazon.com")
    plain = RDS.replace("https://", "http://")
    async with Client(server.mcp_url) as client:
        for uri in (shouted, plain):
            (content,) = (await client.read_resource(uri, cache_mode="bypass")).contents
            assert str(content.uri).lower() == uri.lower()  # as asked
            assert getattr(content, "text", "").startswith(f"AWS Documentation from {RDS}:\n")  # the page read


async def test_a_china_page_reads_through_its_hosts_template(server: DaphneServer, origin: OriginServer) -> None:
    before = origin.hits("/cn/en_us/aws/latest/userguide/s3.html")
    async with Client(server.mcp_url) as client:
        result = await client.read_resource(CN_S3, cache_mode="bypass")
    text = getattr(result.contents[0], "text", "")
    assert text.startswith(f"AWS Documentation from {CN_S3}:\n") and "# Amazon S3 in the China Regions" in text
    assert 0 < result.ttl_ms <= L2_TTL * 1000 and result.cache_scope == "private"
    assert origin.hits("/cn/en_us/aws/latest/userguide/s3.html") == before + 1


async def test_refused_uris_get_a_clear_error_without_a_fetch(server: DaphneServer, origin: OriginServer) -> None:
    async with Witness(server) as witness, Client(server.mcp_url) as client:
        fetched = sum(origin.state.hits.values())
        offsite = await read_error(client, "https://evil.example.com/lambda/latest/dg/welcome.html")
        lookalike = await read_error(client, "https://docs.aws.amazon.com.evil.example/x.html")
        dots = await read_error(client, "https://docs.aws.amazon.com/lambda/latest/dg/../../admin.html")
        not_a_page = await read_error(client, "https://docs.aws.amazon.com/lambda/latest/dg/guide.pdf")
        huge = await read_error(client, "https://docs.aws.amazon.com/" + "a/" * 2000 + "x.html")
        control = await read_error(client, "https://docs.aws.amazon.com/a%00b.html")
        not_fetched = sum(origin.state.hits.values()) - fetched
        missing = await read_error(client, "https://docs.aws.amazon.com/nothing/latest/dg/missing.html")
        await asyncio.sleep(0.2)  # the witness keeps reading meanwhile
    witness.assert_unharmed()
    for error in (offsite, lookalike):  # no template matches: not found (invalid params in this revision)
        assert error.code == INVALID_PARAMS and error.message.startswith("Resource not found: https://")
    assert dots.code == INVALID_PARAMS and "'..' segments" in dots.message
    assert not_a_page.code == INVALID_PARAMS and "ending in .html" in not_a_page.message
    assert huge.code == INVALID_PARAMS and "longer than 2048 characters" in huge.message
    assert control.code == INVALID_PARAMS and "characters that are not allowed" in control.message
    assert not_fetched == 0  # nothing reached the origin (the witness reads a cached page)
    assert missing.code == INVALID_PARAMS and "does not exist" in missing.message


async def test_a_page_that_cannot_be_read_just_now_is_an_internal_error_not_a_missing_one(
    server: DaphneServer, origin: OriginServer
) -> None:
    """Not found tells a client the resource is not there; an origin outage or a failed conversion does not."""
    outage = "/resources/latest/dg/outage.html"  # never read before: no cached copy to serve stale
    origin.fail(outage)
    try:
        async with Witness(server) as witness, Client(server.mcp_url) as client:
            failing = await read_error(client, f"https://docs.aws.amazon.com{outage}")
            unreadable = await read_error(client, "https://docs.aws.amazon.com/test/no-article.html")
            missing = await read_error(client, "https://docs.aws.amazon.com/nothing/latest/dg/gone.html")
    finally:
        origin.fail(outage, False)
    witness.assert_unharmed()
    assert failing.code == INTERNAL_ERROR and "failed with HTTP 503; try again later" in failing.message
    assert unreadable.code == INTERNAL_ERROR and "could not be read" in unreadable.message
    assert missing.code == INVALID_PARAMS and "does not exist" in missing.message  # not found, in this revision


def test_only_a_page_the_origin_says_is_missing_is_not_found() -> None:
    def failure(cause: BaseException | None) -> int:
        error = ToolError("reason")
        error.__cause__ = cause
        return read_failure("https://docs.aws.amazon.com/x.html", error).code

    assert failure(FetchError("missing", 404)) == failure(FetchError("gone", 410)) == RESOURCE_NOT_FOUND
    assert failure(FetchError("down", 503, retryable=True)) == INTERNAL_ERROR
    assert failure(FetchError("too slow", retryable=True)) == INTERNAL_ERROR
    assert failure(FetchError("forbidden", 403)) == INTERNAL_ERROR
    assert failure(UnreadablePage("no article")) == failure(None) == INTERNAL_ERROR


async def test_the_indexed_pages_are_listed_a_page_at_a_time(server: DaphneServer) -> None:
    saved = server.manage(
        "shell", "-c", SAVE_ROWS.format(rows=[(url, "aws") for url in LISTED] + [(u, "aws-cn") for u in LISTED_CN])
    )
    assert saved.returncode == 0, saved.stderr
    async with Client(server.mcp_url) as client:
        listed = await every_page(client)
        with pytest.raises(MCPError) as forged:
            await client.list_resources(cursor="eyJsaXN0IjoicmVzb3VyY2VzIn0.forged", cache_mode="bypass")
    async with Client(f"{server.mcp_url}?partition=aws-cn") as client:
        listed_cn = await every_page(client)
    assert len(listed) >= 4 and all(len(page) == PAGE_SIZE for page in listed[:-1]) and 0 < len(listed[-1]) <= PAGE_SIZE
    flat = uris(listed)
    assert flat[: len(STATIC)] == STATIC  # the catalogue's own resources first
    assert len(flat) == len(set(flat)) and [uri for uri in flat if "/listing/" in uri] == LISTED
    assert not any(uri.startswith("https://docs.amazonaws.cn/") for uri in flat)
    assert [uri for uri in uris(listed_cn) if "/listing/" in uri] == LISTED_CN
    assert forged.value.error.code == INVALID_PARAMS and "Invalid cursor" in forged.value.error.message
    entry = next(resource for page in listed for resource in page if str(resource.uri) == LISTED[0])
    assert entry.title == "Listing page-00.html" and entry.mime_type == "text/markdown"
    assert entry.name == "listing/latest/guide/page-00.html"


async def test_a_page_read_is_then_listed(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        await client.read_resource(RDS, cache_mode="bypass")
        for _ in range(100):  # indexing runs beside the read: wait for it, 10 s at most
            if RDS in uris(await every_page(client)):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"{RDS} was read but is not listed")


def test_ttl_is_the_time_the_copy_stays_fresh_and_none_for_a_stale_one() -> None:
    requested = DocAddress("aws", "/guide/old.html")
    served = DocAddress("aws", "/guide/new.html")
    page = Page(requested, served, Document("T", "# T\n\nSee [x](other.html).\n"), 1000.0, 1600.0)
    assert fresh_ms(page, 1000.0) == 600_000 and fresh_ms(page, 1599.9995) == 0 and fresh_ms(page, 1700.0) == 0
    page.stale_reason = "HTTP 503"
    assert fresh_ms(page, 1000.0) == 0
    # The notes the tools give (a redirect, a stale copy) come first, then the URL it was read from.
    text = page_text(page)
    assert text.startswith(f"<e>Requested {requested.url}; served {served.url}.</e>\n\n<e>This is a cached copy from ")
    assert f"AWS Documentation from {served.url}:\n<e>Relative links resolve against {served.url}.</e>\n\n# T\n" in text
