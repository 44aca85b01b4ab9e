"""The Python SDK 2.3 `Client` in its default mode against a real Daphne and the fixture origin.

The default mode ("auto") opens with `server/discover` and then sends every request stateless, in the
2026-07-28 revision: the `_meta` envelope (protocol version, client info, client capabilities) in the body and
`Mcp-Protocol-Version`, `Mcp-Method`, `Mcp-Name` headers; no `initialize`, no session id. An input-required
result is resolved by the client itself: it runs the embedded requests through its callbacks and retries the
call with `inputResponses` and the echoed `requestState`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequestFormParams,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    TextContent,
)

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne

PUBLIC = "https://docs.aws.amazon.com"
RDS = f"{PUBLIC}/AmazonRDS/latest/UserGuide/Welcome.html"
AUTHZ = f"{PUBLIC}/service-authorization/latest/reference/list_awsaccountmanagement.html"
CN_SERVICES = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/services.html"
CN_S3 = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/s3.html"
DOCS_TOOLS = {"read_documentation", "read_sections", "search_table", "search_documentation", "recommend"}
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    """The docs tools reading from the fixture origin, and the conformance fixture tools beside them."""
    with daphne(**origin.settings_env(), MCP_CONFORMANCE_FIXTURES="1") as srv:
        yield srv
        assert srv.alive(), srv.log()


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def test_default_mode_discovers_the_2026_revision(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_info is not None and client.server_info.name == "awsmcp"
        assert client.instructions is not None and "docs.aws.amazon.com" in client.instructions
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert DOCS_TOOLS <= tools.keys()
    assert "get_available_services" not in tools
    for name in DOCS_TOOLS:
        assert tools[name].annotations is not None and tools[name].annotations.read_only_hint is True


async def test_read_documentation_pages_through_a_page(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        first = await client.call_tool("read_documentation", {"url": RDS, "max_length": 3000})
        assert not first.is_error and first.result_type == "complete"
        text = text_of(first)
        # The header, the base-URL line when the chunk has relative links, then the page.
        header = rf"AWS Documentation from {re.escape(RDS)}:\n(?:<e>Relative links resolve against \S+</e>\n)?\n"
        assert re.match(header + "# What is Amazon Relational Database Service", text)
        match = re.search(r"start_index=(\d+) to get more content", text)
        assert match and 2400 <= int(match.group(1)) <= 3000  # a block boundary in the last fifth of max_length
        following = int(match.group(1))
        second = text_of(await client.call_tool("read_documentation", {"url": RDS, "start_index": following}))
    top = re.match(header, second)
    assert top is not None
    assert second[top.end() :][:200] not in text


async def test_read_sections(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        result = await client.call_tool(
            "read_sections", {"url": RDS, "section_titles": ["Advantages of Amazon RDS", "Nope"]}
        )
    assert not result.is_error
    text = text_of(result)
    assert "## Advantages of Amazon RDS" in text
    assert "## Comparison of responsibilities" not in text
    assert 'sections were not found: "Nope"' in text


async def test_search_table_answers_structured_rows(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        result = await client.call_tool("search_table", {"url": AUTHZ, "query": "GetAccountInformation"})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["tables_with_matches"] >= 1
    rows = result.structured_content["results"][0]["rows"]
    assert any("GetAccountInformation" in str(row) for row in rows)


async def test_search_documentation(server: DaphneServer, origin: OriginServer) -> None:
    async with Client(server.mcp_url) as client:
        result = await client.call_tool("search_documentation", {"search_phrase": "RDS", "limit": 5})
    assert not result.is_error and result.structured_content is not None
    data = result.structured_content
    assert data["query_id"] == "fixture-query-1"
    assert data["search_results"][0]["rank_order"] == 1
    assert data["search_results"][0]["url"].startswith(f"{PUBLIC}/")
    assert origin.state.last_search["textQuery"] == {"input": "RDS"}


async def test_recommend(server: DaphneServer) -> None:
    async with Client(server.mcp_url) as client:
        result = await client.call_tool("recommend", {"url": RDS})
    assert not result.is_error and result.structured_content is not None
    results = result.structured_content["result"]
    assert {r["category"] for r in results} == {"journey", "new", "similar"}
    assert all(r["url"].startswith(f"{PUBLIC}/") for r in results)


async def test_china_partition_lists_its_services_and_reads_its_pages(server: DaphneServer) -> None:
    async with Client(f"{server.mcp_url}?partition=aws-cn") as client:
        assert client.protocol_version == "2026-07-28"
        assert client.instructions is not None and "docs.amazonaws.cn" in client.instructions
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"read_documentation", "get_available_services", "search_documentation"} <= names
        services = text_of(await client.call_tool("get_available_services", {}))
        page = text_of(await client.call_tool("read_documentation", {"url": CN_S3}))
        wrong = await client.call_tool("read_documentation", {"url": RDS})
    assert services.startswith(f"AWS Documentation from {CN_SERVICES}")
    assert "## Services in Amazon Web Services China" in services
    assert f"- [Amazon S3]({CN_S3})" in services
    assert "# Amazon S3 in the China Regions" in page
    assert wrong.is_error and "partition" in text_of(wrong)


async def test_input_required_round_is_answered_through_the_elicitation_callback(server: DaphneServer) -> None:
    """`test_input_required_result_elicitation` asks for a name (an `elicitation/create` input request) and
    greets whoever the client's callback named, after the SDK retried with the answer."""
    asked: list[ElicitRequestParams] = []

    async def answer(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        asked.append(params)
        return ElicitResult(action="accept", content={"name": "Grace Hopper"})

    async with Client(server.mcp_url, elicitation_callback=answer) as client:
        result = await client.call_tool("test_input_required_result_elicitation", {})
    assert not result.is_error, text_of(result)
    assert result.result_type == "complete"
    assert text_of(result) == "Hello, Grace Hopper!"
    assert len(asked) == 1
    assert asked[0].message == "What is your name?"


async def test_input_required_round_needs_the_elicitation_capability(server: DaphneServer) -> None:
    """A client with no elicitation callback declares no elicitation capability: the tool's input request is
    refused with -32021 rather than sent to a client that cannot answer it."""
    async with Client(server.mcp_url) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("test_input_required_result_elicitation", {})
    assert info.value.error.code == MISSING_REQUIRED_CLIENT_CAPABILITY


async def test_input_required_sampling_round_carries_the_callbacks_answer(server: DaphneServer) -> None:
    """`test_input_required_result_sampling` asks the client's model a question and answers with its reply."""
    asked: list[CreateMessageRequestParams] = []

    async def sample(
        context: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult | ErrorData:
        asked.append(params)
        reply = TextContent(type="text", text="Paris, on the Seine")
        return CreateMessageResult(role="assistant", content=reply, model="test-model", stop_reason="endTurn")

    async with Client(server.mcp_url, sampling_callback=sample) as client:
        result = await client.call_tool("test_input_required_result_sampling", {})
    assert not result.is_error, text_of(result)
    assert result.result_type == "complete"
    assert "Paris, on the Seine" in text_of(result)
    assert len(asked) == 1
    assert "capital of France" in str(asked[0].messages[0].content)


async def test_multi_round_input_required_is_driven_to_the_end(server: DaphneServer) -> None:
    """`test_input_required_result_multi_round` asks twice (a name, then a colour), each round with a new
    requestState; the SDK answers each round through the callback and retries until the result is complete."""
    asked: list[str] = []
    answers = {"name": "Ada", "color": "teal"}

    async def answer(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        assert isinstance(params, ElicitRequestFormParams), params
        asked.append(params.message)
        fields = params.requested_schema["properties"]
        return ElicitResult(action="accept", content={field: answers[field] for field in fields})

    async with Client(server.mcp_url, elicitation_callback=answer) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})
    assert not result.is_error, text_of(result)
    assert result.result_type == "complete"
    assert asked == ["Step 1: What is your name?", "Step 2: What is your favorite color?"]
