"""Which scopes a request needs, at the edges: parsed requests and raw frames, odd messages, batches, partitions
restricted to several scopes (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings

from mcp_gateway.gate import ANONYMOUS, Principal
from mcp_gateway.jsonrpc import Notification, Request
from mcp_gateway.scopes import INSUFFICIENT_SCOPE, frame_scopes, messages_of, needed_scopes, partition_scopes
from mcp_gateway.transports.entrance import Denied, insufficient, refuse_scopes

READ = {"name": "read_documentation", "arguments": {}}
SEARCH = {"name": "search_documentation", "arguments": {}}


@pytest.fixture(autouse=True)
def restricted(settings: Settings) -> None:
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn", "aws": ""}


def call(params: Any, msg_id: Any = 1, method: str = "tools/call") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}


def test_the_code_is_the_forbidden_of_the_server_error_range() -> None:
    assert INSUFFICIENT_SCOPE == -32003


def test_partition_scopes_split_on_spaces_and_default_to_none(settings: Settings) -> None:
    assert partition_scopes("aws-cn") == {"docs:cn"}
    assert partition_scopes("aws") == set()  # an empty scope restricts nothing
    assert partition_scopes("elsewhere") == set()
    settings.MCP_PARTITION_SCOPES = {"aws-cn": "docs:cn  docs:china"}
    assert partition_scopes("aws-cn") == {"docs:cn", "docs:china"}
    settings.MCP_PARTITION_SCOPES = None
    assert partition_scopes("aws-cn") == set()
    del settings.MCP_PARTITION_SCOPES
    assert partition_scopes("aws-cn") == set()


def test_a_parsed_request_needs_its_tools_and_its_partitions_scopes() -> None:
    assert needed_scopes(Request(1, "tools/call", READ), "aws-cn") == {"docs:cn", "docs:read"}
    assert needed_scopes(Request(1, "tools/call", SEARCH), "aws") == {"docs:search"}
    assert needed_scopes(Request(1, "tools/list"), "aws-cn") == {"docs:cn"}
    assert needed_scopes(Request(1, "tools/list"), "aws") == set()


def test_a_parsed_notification_needs_nothing() -> None:
    assert needed_scopes(Notification("notifications/initialized"), "aws-cn") == set()  # type: ignore[arg-type]


def test_raw_requests_need_what_parsed_ones_do() -> None:
    assert needed_scopes(call(READ), "aws-cn") == {"docs:cn", "docs:read"}
    assert needed_scopes(call(SEARCH, msg_id=None), "aws") == {"docs:search"}  # a null id is still an id
    assert needed_scopes(call(None, method="ping"), "aws-cn") == {"docs:cn"}
    assert needed_scopes({"jsonrpc": "2.0", "id": 2, "method": "ping"}, "aws-cn") == {"docs:cn"}


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "tools/call", "params": READ},  # a notification
        {"jsonrpc": "2.0", "id": 1, "result": {}},  # a reply to the server
        {"jsonrpc": "2.0", "id": 1, "method": 7, "params": READ},  # not a request
        [call(READ)],
        "tools/call",
        None,
    ],
)
def test_what_is_no_request_needs_nothing(message: Any) -> None:
    assert needed_scopes(message, "aws-cn") == set()


@pytest.mark.parametrize(
    "params",
    [
        None,
        ["read_documentation"],
        {"name": 7},
        {"arguments": {}},
        {"name": "no_such_tool"},
        {"name": "recommend"},  # a tool of another partition: the server answers it
    ],
)
def test_a_call_naming_no_tool_of_the_partition_needs_the_partitions_scopes_only(params: Any) -> None:
    assert needed_scopes(call(params), "aws-cn") == {"docs:cn"}


def test_only_a_tools_call_needs_the_scope_of_the_tool_it_names() -> None:
    assert needed_scopes(Request(1, "prompts/get", READ), "aws") == set()
    assert needed_scopes(call(SEARCH, method="resources/read"), "aws-cn") == {"docs:cn"}


def test_a_frame_needs_every_scope_its_messages_need() -> None:
    batch = [call(READ, 1), call(SEARCH, 2), {"jsonrpc": "2.0", "method": "notifications/cancelled"}]
    assert frame_scopes(batch, "aws") == {"docs:read", "docs:search"}
    assert frame_scopes(batch, "aws-cn") == {"docs:cn", "docs:read", "docs:search"}  # aws-cn's local search
    assert frame_scopes([], "aws-cn") == set()
    assert frame_scopes([call(SEARCH)], "aws") == {"docs:search"}


def test_messages_of_a_batch_or_one_message() -> None:
    one = call(READ)
    assert messages_of([one, one]) == [one, one]
    assert messages_of(one) == [one]
    assert messages_of([]) == []


def test_the_403_names_every_scope_and_where_this_servers_metadata_is(settings: Settings) -> None:
    settings.MCP_GATE = "oauth.gate.OAuthGate"
    settings.MCP_RESOURCE_URL = ""
    settings.BEHIND_TLS = False
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    reader = Principal("oauth:a", "oauth", "a", scopes=frozenset({"docs:read"}))
    headers = {"host": "mcp.example:8000"}
    assert refuse_scopes(reader, [call(READ)], "aws", headers) is None
    assert refuse_scopes(ANONYMOUS, [call(READ)], "aws-cn", headers) is None
    assert refuse_scopes(reader, [call(READ, 1), call(SEARCH, 2)], "aws", headers) == Denied(
        403,
        "Forbidden: this request needs the scope docs:read docs:search",
        INSUFFICIENT_SCOPE,
        (
            (
                "www-authenticate",
                'Bearer error="insufficient_scope", scope="docs:read docs:search", '
                'resource_metadata="http://mcp.example:8000/.well-known/oauth-protected-resource/mcp"',
            ),
        ),
    )
    assert insufficient(reader, frozenset(), headers) is None
