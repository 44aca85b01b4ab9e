"""What the fleet tests of tasks share: two Daphne processes on one Redis, and 2026-07-28 requests of a client that
declared the tasks extension (so the test chooses which process gets each request)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import DaphneServer, daphne, redis_server
from tests.support.raw import request

TASKS = "io.modelcontextprotocol/tasks"
FOLLOWS = {"elicitation": {}, "extensions": {TASKS: {}}}


@contextmanager
def task_pair(prefix: str) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    with redis_server() as redis:
        db = Path(tempfile.mkdtemp(prefix=prefix)) / "db.sqlite3"
        env = {"REDIS_URL": redis.url, "MCP_CONFORMANCE_FIXTURES": "1", "MCP_TASK_POLL_INTERVAL": "0.2"}
        with daphne(db_path=db, **env) as a, daphne(db_path=db, **env) as b:
            yield a, b


def message(method: str, params: dict[str, Any], msg_id: int | str = 1) -> tuple[dict[str, Any], dict[str, str]]:
    """A stateless request and the headers SEP-2243 asks for."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": FOLLOWS,
    }
    name = params.get("taskId") or params.get("name")
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
        **({"mcp-name": name} if name else {}),
    }
    return request(method, {**params, "_meta": meta}, msg_id), headers


async def rpc(http: httpx.AsyncClient, server: DaphneServer, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One stateless request to `server`; its result (the test fails on an error)."""
    body, headers = message(method, params)
    reply = await http.post(server.mcp_url, json=body, headers=headers)
    if reply.headers["content-type"].startswith("text/event-stream"):  # a tool that may talk back streams its answer
        answer = json.loads([line for line in reply.text.splitlines() if line.startswith("data:")][-1][5:])
    else:
        answer = reply.json()
    assert "result" in answer, answer
    return dict(answer["result"])
