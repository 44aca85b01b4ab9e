"""Which OAuth scopes a request needs: its tool's or resource's (the catalogue says) and its partition's
(MCP_PARTITION_SCOPES).

The gate proves who is calling and with which scopes; this module only reads the request, so every transport asks
the same question. Requests need scopes; notifications and replies to the server carry nothing to guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from mcp_gateway.catalogue import catalogue
from mcp_gateway.jsonrpc import Request

# The JSON-RPC code a refused scope carries where there is no HTTP status to say it (a WebSocket frame), and in
# the body of the 403 elsewhere. Neither JSON-RPC nor MCP defines one; -32003 is the "forbidden" of the
# implementation-defined server-error range, clear of -32000/-32001 (the SDKs' connection closed / timeout).
INSUFFICIENT_SCOPE = -32003


def partition_scopes(partition: str) -> frozenset[str]:
    """The scope a partition is restricted to (MCP_PARTITION_SCOPES, partition -> scope), if any."""
    scope = (getattr(settings, "MCP_PARTITION_SCOPES", None) or {}).get(partition)
    return frozenset(scope.split()) if scope else frozenset()


def needed_scopes(message: Request | dict[str, Any], partition: str) -> frozenset[str]:
    """Every scope one message needs in `partition`: none for a notification or a reply, the partition's for any
    request, for tools/call also the tool's, and for resources/read the resource's and those of the partition whose
    data it is (an unknown tool or resource needs none: the server answers it)."""
    params: Any
    if isinstance(message, Request):
        method, params = message.method, message.params
    elif isinstance(message, dict) and "id" in message and isinstance(message.get("method"), str):
        method, params = message["method"], message.get("params")
    else:
        return frozenset()
    needed = partition_scopes(partition)
    if method == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
        tool = catalogue.tool(params["name"], partition)
        if tool is not None:
            needed |= frozenset(tool.scopes)
    if method == "resources/read" and isinstance(params, dict) and isinstance(params.get("uri"), str):
        needed |= resource_scopes(params["uri"])
    return needed


def resource_scopes(uri: str) -> frozenset[str]:
    """What reading `uri` needs: its resource's (or template's) scopes, and its data's partition's."""
    found = catalogue.resource_for(uri)
    if found is None:
        return frozenset()
    resource = found[0]
    own = frozenset(resource.scopes)
    return own if resource.partition is None else own | partition_scopes(resource.partition)


def frame_scopes(messages: Iterable[Any], partition: str) -> frozenset[str]:
    """Every scope a frame or body (one message, or a batch) needs."""
    needed: frozenset[str] = frozenset()
    for message in messages:
        needed |= needed_scopes(message, partition)
    return needed


def messages_of(obj: Any) -> list[Any]:
    """The messages of a decoded frame: a batch's items, or the one message."""
    return obj if isinstance(obj, list) else [obj]
