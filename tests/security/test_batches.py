"""Batch amplification against a real Daphne: a batch over MCP_MAX_BATCH is refused whole before any
work, and a batch's answer stays within MCP_MAX_BATCH_ANSWER_BYTES, while a witness reads on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import request, streamable_session
from tests.support.witness import Witness

LARGE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"
ANSWER_BOUND = 1_000_000


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(**origin.settings_env(), MCP_MAX_BATCH_ANSWER_BYTES=str(ANSWER_BOUND)) as srv:
        yield srv
        assert srv.alive(), srv.log()


def reads(count: int) -> list[dict]:
    return [
        request("tools/call", {"name": "read_documentation", "arguments": {"url": LARGE, "max_length": 999_999}}, i)
        for i in range(1, count + 1)
    ]


async def test_a_batch_of_400_reads_is_refused_before_any_fetch(server: DaphneServer, origin: OriginServer) -> None:
    fetches_before = sum(origin.state.hits.values())
    async with httpx.AsyncClient(timeout=30) as http, Witness(server) as witness:
        headers = await streamable_session(http, server.mcp_url, "2025-03-26")
        reply = await http.post(server.mcp_url, json=reads(400), headers=headers)
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["code"] == -32600 and "at most 32" in error["message"] and "400" in error["message"]
        # the session is still good for a batch within the limit
        ok = await http.post(server.mcp_url, json=[request("ping", msg_id=i) for i in range(32)], headers=headers)
        assert ok.status_code == 200 and len(ok.json()) == 32
    witness.assert_unharmed()
    assert sum(origin.state.hits.values()) - fetches_before <= 1  # the witness's page at most; none for the batch


async def test_a_batch_answer_stays_within_its_bound(server: DaphneServer) -> None:
    async with httpx.AsyncClient(timeout=60) as http, Witness(server) as witness:
        headers = {**await streamable_session(http, server.mcp_url, "2025-03-26"), "accept": "application/json"}
        single = await http.post(server.mcp_url, json=reads(1)[0], headers=headers)
        one_answer = len(single.content)
        assert single.status_code == 200 and one_answer > ANSWER_BOUND // 32  # 32 of them pass the bound
        reply = await http.post(server.mcp_url, json=reads(32), headers=headers)
        assert reply.status_code == 200
        replies = reply.json()
        assert sorted(r["id"] for r in replies) == list(range(1, 33))  # every request answered
        refused = [r for r in replies if "error" in r]
        assert refused and all(str(ANSWER_BOUND) in r["error"]["message"] for r in refused)
        assert len(reply.content) <= ANSWER_BOUND + 300 * len(refused)
    witness.assert_unharmed()
