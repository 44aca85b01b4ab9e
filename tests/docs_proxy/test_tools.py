"""The documentation tools end to end: real Daphne, the official SDK client, the fixture origin on loopback."""

from __future__ import annotations

import json
import re
import time

import pytest
from mcp.client.session import ClientSession

from tests.support.clients import TRANSPORTS, open_session
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer

RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html"
AUTHZ = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsaccountmanagement.html"
RDS_PATH = "/AmazonRDS/latest/UserGuide/Welcome.html"
BOTH_PARTITIONS = ("list_regions", "get_regional_availability", "read_documentation_batch")


def text_of(result) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(c.text for c in result.content if c.type == "text")


async def call(session: ClientSession, tool: str, **arguments):  # type: ignore[no-untyped-def]
    return await session.call_tool(tool, arguments)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tools_listed_per_partition(docs_server: DaphneServer, transport: str) -> None:
    async with open_session(docs_server, transport) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"read_documentation", "read_sections", "search_table", "search_documentation", "recommend"} <= set(
            tools
        )
        assert "get_available_services" not in tools
        for name in ("read_documentation", "search_documentation", "recommend"):
            assert tools[name].annotations.read_only_hint is True
            assert tools[name].annotations.open_world_hint is True
            assert tools[name].description
        assert tools["search_documentation"].output_schema is not None
        assert set(BOTH_PARTITIONS) <= set(tools)
    async with open_session(docs_server, transport, query="partition=aws-cn") as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"read_documentation", "get_available_services", "search_documentation", *BOTH_PARTITIONS} <= names


HEADER = re.compile(r"AWS Documentation from (\S+):\n(?:<e>Relative links resolve against \S+\.</e>\n)?\n")
HINT = re.compile(
    r"\n\n<e>Content truncated\. Call the \w+ tool with (?:the same section_titles and )?start_index=(\d+) "
)


def body_and_next(text: str) -> tuple[str, int | None]:
    """An answer's chunk of page text (between the header and the truncation note) and the start_index it names."""
    header = HEADER.match(text)
    assert header is not None, text[:200]
    hint = HINT.search(text, header.end())
    if hint is None:
        return text[header.end() :], None
    return text[header.end() : hint.start()], int(hint.group(1))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_read_documentation_pages_through_the_document(docs_server: DaphneServer, transport: str) -> None:
    async with open_session(docs_server, transport) as session:
        whole, _none = body_and_next(text_of(await call(session, "read_documentation", url=RDS, max_length=100_000)))
        first = text_of(await call(session, "read_documentation", url=RDS, max_length=3000))
        assert first.startswith(f"AWS Documentation from {RDS}:\n")
        body_one, following = body_and_next(first)
        assert body_one.startswith("# What is Amazon Relational Database Service")
        # The chunk ends at a block boundary in the last fifth of max_length, and start_index is where it ended.
        assert following is not None and 2400 <= following <= 3000 and body_one == whole[:following]
        assert body_one.endswith("\n")
        second = text_of(await call(session, "read_documentation", url=RDS, max_length=3000, start_index=following))
        body_two, _next = body_and_next(second)
        assert body_two and whole[following:].startswith(body_two)
        beyond = text_of(await call(session, "read_documentation", url=RDS, start_index=10_000_000))
        assert beyond == f"AWS Documentation from {RDS}:\n\n<e>No more content available.</e>"


async def test_a_page_is_fetched_once_for_many_reads(docs_server: DaphneServer, origin: OriginServer) -> None:
    path = "/prescriptive-guidance/latest/migration-aws-environment/building-landing-zones.html"
    url = "https://docs.aws.amazon.com" + path
    before = origin.hits(path)
    async with open_session(docs_server, "streamable-http") as session:
        for start in range(0, 5000, 1000):
            result = await call(session, "read_documentation", url=url, max_length=1000, start_index=start)
            assert not result.is_error
    assert origin.hits(path) - before <= 1


async def test_anchor_starts_at_its_section(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        text = text_of(
            await call(session, "read_documentation", url=RDS + "#Welcome.Concepts.comparison", max_length=400)
        )
    body = text.split("\n\n", 1)[1]
    assert body.startswith("## Comparison of responsibilities with Amazon EC2 and on-premises deployments")


async def test_read_sections_h2_and_h3(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        text = text_of(
            await call(
                session,
                "read_sections",
                url=RDS,
                section_titles=["advantages of  amazon rds", "Amazon RDS application architecture: example", "Nope"],
            )
        )
        assert "## Advantages of Amazon RDS" in text
        assert "### Amazon RDS application architecture: example" in text
        assert "## Comparison of responsibilities" not in text
        assert 'sections were not found: "Nope"' in text
        missing = await call(session, "read_sections", url=RDS, section_titles=["Nothing like this"])
        assert missing.is_error and "Available sections:" in text_of(missing)


async def test_search_table_finds_rows(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(session, "search_table", url=AUTHZ, query="GetAccountInformation")
        assert not result.is_error
        data = result.structured_content
        assert data["tables_with_matches"] >= 1
        rows = data["results"][0]["rows"]
        assert any("GetAccountInformation" in json.dumps(row) for row in rows)
        none = (await call(session, "search_table", url=AUTHZ, query="zzzz-no-such-thing")).structured_content
        assert none["results"] == [] and "No rows matched" in none["hint"]
        wrong = (
            await call(session, "search_table", url=AUTHZ, query="x", section_title="No Such Section")
        ).structured_content
        assert "not found" in wrong["hint"] and "Available sections" in wrong["hint"]


async def test_large_tables_are_truncated_with_a_hint(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        text = text_of(await call(session, "read_documentation", url=AUTHZ, max_length=200000))
    assert "Table truncated (showing 5 of" in text
    assert f'search_table(url="{AUTHZ}"' in text


async def test_search_documentation(docs_server: DaphneServer, origin: OriginServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(
            session,
            "search_documentation",
            search_phrase="RDS",
            limit=5,
            product_types=["Amazon RDS"],
            search_intent="learn",
        )
    assert not result.is_error
    data = result.structured_content
    assert data["query_id"] == "fixture-query-1"
    assert data["search_results"][0]["rank_order"] == 1
    assert data["search_results"][0]["url"].startswith("https://docs.aws.amazon.com/")
    assert data["facets"]["product_types"] == ["Amazon RDS"]
    sent = origin.state.last_search
    assert sent["textQuery"] == {"input": "RDS"}
    assert {"key": "aws-docs-search-product", "value": "Amazon RDS"} in sent["contextAttributes"]
    assert sent["locales"] == ["en_us"]


async def test_recommend_has_categories(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(session, "recommend", url=RDS)
    assert not result.is_error
    results = result.structured_content["result"]
    assert {r["category"] for r in results} == {"journey", "new", "similar"}
    assert len(result.content) == len(results)
    assert all(r["url"].startswith("https://docs.aws.amazon.com/") for r in results)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_china_partition(docs_server: DaphneServer, transport: str) -> None:
    async with open_session(docs_server, transport, query="partition=aws-cn") as session:
        services = text_of(await call(session, "get_available_services"))
        assert services.startswith(
            "AWS Documentation from https://docs.amazonaws.cn/en_us/aws/latest/userguide/services.html"
        )
        assert "## Services in Amazon Web Services China" in services
        assert "- [Amazon S3](https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html)" in services
        assert "Unsupported" not in services
        page = text_of(
            await call(
                session, "read_documentation", url="https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"
            )
        )
        assert "# Amazon S3 in the China Regions" in page
        wrong = await call(session, "read_documentation", url=RDS)
        assert wrong.is_error and "partition" in text_of(wrong)


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        ("https://example.com/page.html", "not an AWS documentation host"),
        ("https://docs.aws.amazon.com:444/x.html", "port"),
        ("https://docs.aws.amazon.com/test/missing.html", "Page not found"),
        ("https://docs.aws.amazon.com/test/redirect-offsite.html", "redirects somewhere that cannot be read"),
        ("https://docs.aws.amazon.com/test/redirect-ip.html", "redirects somewhere that cannot be read"),
        ("https://docs.aws.amazon.com/test/redirect-loop.html", "redirects more than"),
        ("https://docs.aws.amazon.com/test/huge.html", "larger than"),
        ("https://docs.aws.amazon.com/test/hang.html", "did not answer in time"),
        ("https://docs.aws.amazon.com/test/error-500.html", "HTTP 500"),
        ("https://docs.aws.amazon.com/test/no-article.html", "could not be read"),
        ("https://docs.aws.amazon.com/test/binary.html", "not an HTML page"),
    ],
)
async def test_bad_pages_get_clear_tool_errors(docs_server: DaphneServer, url: str, expect: str) -> None:
    started = time.monotonic()
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(session, "read_documentation", url=url)
        assert result.is_error, text_of(result)
        assert expect in text_of(result)
        ok = await call(session, "read_documentation", url=RDS, max_length=100)
        assert not ok.is_error
    assert time.monotonic() - started < 15


async def test_redirects_on_the_docs_host_are_followed(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        for name in ("redirect-relative", "redirect-origin", "redirect-public"):
            result = await call(session, "read_documentation", url=f"https://docs.aws.amazon.com/test/{name}.html")
            text = text_of(result)
            assert not result.is_error, text
            assert text.startswith(f"<e>Requested https://docs.aws.amazon.com/test/{name}.html; served {RDS}.</e>")


async def test_a_flaky_origin_is_retried(docs_server: DaphneServer) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await call(session, "read_documentation", url="https://docs.aws.amazon.com/test/flaky.html")
    assert not result.is_error


@pytest.mark.parametrize(
    ("tool", "arguments", "expect"),
    [
        ("search_documentation", {"search_phrase": "   "}, "cannot be empty"),
        ("search_documentation", {"search_phrase": "s3", "limit": 0}, "limit"),
        ("search_documentation", {"search_phrase": "s3", "limit": 51}, "limit"),
        ("read_documentation", {"url": RDS, "max_length": 0}, "max_length"),
        ("read_documentation", {"url": RDS, "start_index": -1}, "start_index"),
        ("read_sections", {"url": RDS, "section_titles": []}, "section_titles"),
        ("search_table", {"url": RDS, "query": "  "}, "query"),
        ("search_table", {"url": RDS, "query": "x", "max_rows": 101}, "max_rows"),
        ("recommend", {"url": "https://evil.example/x.html"}, "Invalid URL"),
        ("recommend", {"url": "https://docs.aws.amazon.com/upstream-error.html"}, "HTTP 500"),
    ],
)
async def test_bad_arguments_get_clear_tool_errors(
    docs_server: DaphneServer, tool: str, arguments: dict, expect: str
) -> None:
    async with open_session(docs_server, "streamable-http") as session:
        result = await session.call_tool(tool, arguments)
    assert result.is_error
    assert expect in text_of(result)
