"""Batches are bounded in count and in the size of their answer (issue 12: one 81 KB batch of 400 reads
produced a 400 MB answer)."""

from __future__ import annotations

from typing import Any

from mcp_gateway import jsonrpc
from mcp_gateway.catalogue import Catalogue
from mcp_gateway.protocol import McpServer
from mcp_gateway.sessions import ServerSession
from tests.mcp_gateway.conftest import initialize


async def batch_session(server: McpServer) -> ServerSession:
    session = ServerSession("batch", "test", "aws")
    await initialize(server, session, "2025-03-26")
    return session


def echo_batch(count: int, text: str = "x") -> list[dict[str, Any]]:
    return [
        {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": text}}}
        for i in range(count)
    ]


async def test_a_batch_over_the_limit_is_refused_whole(catalogue: Catalogue) -> None:
    server = McpServer(catalogue, max_batch=4)
    session = await batch_session(server)
    refused = await server.handle_payload(session, jsonrpc.payload_from(echo_batch(5)))
    assert len(refused) == 1 and refused[0]["id"] is None
    assert refused[0]["error"]["code"] == -32600
    assert "at most 4" in refused[0]["error"]["message"] and "5" in refused[0]["error"]["message"]
    at_limit = await server.handle_payload(session, jsonrpc.payload_from(echo_batch(4)))
    assert [r["id"] for r in at_limit] == [0, 1, 2, 3] and all("result" in r for r in at_limit)


async def test_replies_past_the_answer_bound_become_errors(catalogue: Catalogue) -> None:
    server = McpServer(catalogue, max_batch_answer_bytes=5_000)
    session = await batch_session(server)
    replies = await server.handle_payload(session, jsonrpc.payload_from(echo_batch(10, "y" * 1_000)))
    assert [r["id"] for r in replies] == list(range(10))  # every request answered, in order
    answered = [r for r in replies if "result" in r]
    refused = [r for r in replies if "error" in r]
    assert 1 <= len(answered) < 10 and refused
    assert all(r["error"]["code"] == -32600 and "5000 bytes" in r["error"]["message"] for r in refused)
    assert sum(len(jsonrpc.dumps_bytes(r)) for r in replies) <= 5_000 + 200 * len(refused)
