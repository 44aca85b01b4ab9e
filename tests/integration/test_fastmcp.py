"""fastmcp's client (4.x) against a real Daphne and the fixture origin.

fastmcp 4 connects in "auto" mode: `server/discover`, then stateless 2026-07-28 requests that ask for debug
logs and a progress token on every call. It lists the tools, keeps their output schemas and hydrates
structured results against them (`result.data`), raises `ToolError` on a tool's error result, and answers an
input-required round through its elicitation handler (the data it returns is an accepted answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne

PUBLIC = "https://docs.aws.amazon.com"
RDS = f"{PUBLIC}/AmazonRDS/latest/UserGuide/Welcome.html"
AUTHZ = f"{PUBLIC}/service-authorization/latest/reference/list_awsaccountmanagement.html"
CN_S3 = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"
# Offered in both partitions: regions and availability (offline), and batch reads.
BOTH = {"list_regions", "get_regional_availability", "read_documentation_batch"}
DOCS_TOOLS = {"read_documentation", "read_sections", "search_table", "search_documentation", "recommend"} | BOTH
STRUCTURED = {"search_table", "search_documentation", "recommend"} | BOTH


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(**origin.settings_env()) as srv:
        yield srv
        assert srv.alive(), srv.log()


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[DaphneServer]:
    """The conformance fixture tools, for an input-required round."""
    with daphne(MCP_CONFORMANCE_FIXTURES="1") as srv:
        yield srv
        assert srv.alive(), srv.log()


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def test_connects_in_the_2026_revision_and_lists_the_docs_tools(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_info is not None and client.server_info.name == "awsmcp"
        assert client.instructions is not None and "search_documentation" in client.instructions
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) == DOCS_TOOLS
    for name, tool in tools.items():
        assert tool.description and tool.annotations is not None and tool.annotations.read_only_hint is True
        assert (tool.output_schema is not None) == (name in STRUCTURED)


async def test_reads_a_page_and_its_sections(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        page = await client.call_tool("read_documentation", {"url": RDS, "max_length": 2000})
        sections = await client.call_tool("read_sections", {"url": RDS, "section_titles": ["Advantages of Amazon RDS"]})
    # The header, the base-URL line when the chunk has relative links, then the page.
    assert re.match(
        rf"AWS Documentation from {re.escape(RDS)}:\n(<e>Relative links resolve against {re.escape(RDS)}\.</e>\n)?\n"
        "# What is Amazon Relational Database Service",
        text_of(page),
    )
    hint = re.search(r"start_index=(\d+) to get more content", text_of(page))  # a block boundary in 1600..2000
    assert hint is not None and 1600 <= int(hint.group(1)) <= 2000
    assert "## Advantages of Amazon RDS" in text_of(sections)
    assert "## Comparison of responsibilities" not in text_of(sections)


async def test_structured_tools_hydrate_against_their_output_schemas(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        search = await client.call_tool("search_documentation", {"search_phrase": "RDS", "limit": 5})
        table = await client.call_tool("search_table", {"url": AUTHZ, "query": "GetAccountInformation"})
        recommended = await client.call_tool("recommend", {"url": RDS})
    assert search.structured_content is not None and search.structured_content["query_id"] == "fixture-query-1"
    assert search.structured_content["search_results"][0]["url"].startswith(f"{PUBLIC}/")
    assert search.data is not None
    assert table.structured_content is not None and table.structured_content["tables_with_matches"] >= 1
    assert any("GetAccountInformation" in str(row) for row in table.structured_content["results"][0]["rows"])
    assert recommended.structured_content is not None
    assert {r["category"] for r in recommended.structured_content["result"]} == {"journey", "new", "similar"}


async def test_a_tool_error_is_raised_as_tool_error(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        with pytest.raises(ToolError, match="not an AWS documentation host"):
            await client.call_tool("read_documentation", {"url": "https://example.com/page.html"})
        again = await client.call_tool("read_documentation", {"url": RDS, "max_length": 100})
    assert not again.is_error


async def test_china_partition(server: DaphneServer) -> None:
    async with Client(f"{server.mcp_url}?partition=aws-cn") as client:
        names = {tool.name for tool in await client.list_tools()}
        services = await client.call_tool("get_available_services", {})
        page = await client.call_tool("read_documentation", {"url": CN_S3})
    assert names == {"read_documentation", "get_available_services", "search_documentation"} | BOTH
    assert f"- [Amazon S3]({CN_S3})" in text_of(services)
    assert "# Amazon S3 in the China Regions" in text_of(page)


async def test_an_input_required_round_is_answered_by_the_elicitation_handler(fixture_server: DaphneServer) -> None:
    asked: list[str] = []

    async def handler(message: str, response_type: Any, params: Any, context: Any) -> dict[str, Any]:
        asked.append(message)
        return {"name": "Grace Hopper"}

    async with Client(fixture_server.mcp_url, elicitation_handler=handler) as client:
        result = await client.call_tool("test_input_required_result_elicitation", {})
    assert text_of(result) == "Hello, Grace Hopper!"
    assert asked == ["What is your name?"]
