"""Reading a documentation page as a resource needs what reading it with a tool needs: `docs:read`, and the scope
of the partition whose page it is (MCP_PARTITION_SCOPES), through the real transports in process (no server, no
fetch: the URIs read past the gate are refused by the reader before anything is fetched)."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from mcp_gateway.scopes import needed_scopes
from tests.mcp_gateway.test_principal_scopes import (  # noqa: F401 (scoped: the module's autouse fixture)
    ENVELOPE,
    MODERN,
    assert_insufficient,
    rpc,
    scoped,
    session_of,
    streamable,
)

pytestmark = pytest.mark.django_db(transaction=True)
# Pages the reader refuses as addresses ('..' segments): the gate's verdict shows without a fetch.
AWS_PAGE = "https://docs.aws.amazon.com/lambda/latest/dg/../welcome.html"
CN_PAGE = "https://docs.amazonaws.cn/en_us/aws/latest/userguide/../s3.html"


def read(uri: str, msg_id: int = 1) -> dict[str, object]:
    return rpc("resources/read", {"uri": uri}, msg_id)


def test_a_docs_page_needs_the_read_scope_and_its_partitions(settings: Settings) -> None:
    assert needed_scopes(read(AWS_PAGE), "aws") == {"docs:read"}
    assert needed_scopes(read(CN_PAGE), "aws") == {"docs:read"}
    assert needed_scopes(read("https://elsewhere.example/a.html"), "aws") == set()  # the server answers it
    assert needed_scopes(rpc("resources/list"), "aws") == set()
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    # A China page read over an aws connection still needs the China partition's scope.
    assert needed_scopes(read(CN_PAGE), "aws") == {"docs:read", "docs:cn"}
    assert needed_scopes(read(AWS_PAGE), "aws") == {"docs:read"}


def test_a_page_named_over_http_or_with_its_host_in_capitals_needs_the_same_scopes(settings: Settings) -> None:
    """The reader accepts them as the tools do, so the gate must see them as the same pages."""
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    assert needed_scopes(read(AWS_PAGE.replace("https://docs.aws", "HTTPS://DOCS.AWS")), "aws") == {"docs:read"}
    assert needed_scopes(read(AWS_PAGE.replace("https://", "http://")), "aws") == {"docs:read"}
    assert needed_scopes(read(CN_PAGE.replace("https://docs.amazonaws.cn", "Http://Docs.AmazonAWS.cn")), "aws") == {
        "docs:read",
        "docs:cn",
    }
    assert needed_scopes(read(AWS_PAGE.replace("https://", "ftp://")), "aws") == set()  # no template: answered


def test_a_uri_past_the_bound_needs_only_the_partitions_scope_and_is_not_matched(settings: Settings) -> None:
    """Looked up before the template's regex runs on the event loop: the server refuses it (invalid params)."""
    settings.MCP_PARTITION_SCOPES = {"aws": "docs:aws"}
    assert needed_scopes(read(f"https://docs.aws.amazon.com/{'a/' * 500_000}x.html"), "aws") == {"docs:aws"}


async def test_a_session_reading_a_page_without_the_read_scope_is_403_naming_it() -> None:
    headers = await session_of("search")
    assert_insufficient(await streamable(read(AWS_PAGE, 2), "search", **headers), "docs:read")
    listed = await streamable(rpc("resources/list", msg_id=3), "search", **headers)
    assert listed.status == 200 and "resources" in listed.json()["result"]
    headers = await session_of("read")
    allowed = await streamable(read(AWS_PAGE, 4), "read", **headers)
    assert allowed.status == 200, allowed.body
    # Past the gate (answered on an SSE stream: a read may send progress); the reader refuses the address.
    assert b'"id":4,"error":{"code":-32602,"message":"Invalid documentation URI: ' in allowed.body


async def test_a_stateless_read_without_the_read_scope_is_403(settings: Settings) -> None:
    headers = {"mcp-protocol-version": MODERN, "mcp-method": "resources/read", "mcp-name": CN_PAGE}
    body = rpc("resources/read", {"uri": CN_PAGE, "_meta": ENVELOPE})
    assert_insufficient(await streamable(body, "search", **headers), "docs:read")
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn"}
    assert_insufficient(await streamable(body, "both", **headers), "docs:cn docs:read")  # all it needs
    allowed = await streamable(body, "cn", **headers)
    assert allowed.status == 400 and allowed.json()["error"]["code"] == -32602  # past the gate
