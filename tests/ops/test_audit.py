"""The audit trail in a real Daphne with API keys required, driven by the `mcp` SDK: each tool call (ok, a tool
error, an unknown tool) is one JSON line on the awsmcp.audit logger and one row of the table, naming the key, the
IP, the session and the client, what was asked (values cut, undeclared arguments left out) and how it ended; no token
is ever logged. A burst of calls leaves another client's session unharmed, and every call of the burst is either a
row or counted as dropped in /metrics."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from ops.models import ApiKey
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, base_env, daphne, migrate
from tests.support.witness import RDS, Witness, while_witnessed

VALUE_CHARS = 40
EVIL = "https://evil.example.com/AmazonRDS/latest/UserGuide/Welcome.html"


@pytest.fixture(scope="module")
def db() -> Path:
    return Path(tempfile.mkdtemp(prefix="awsmcp-audit-")) / "db.sqlite3"


@pytest.fixture(scope="module")
def token(db: Path) -> str:
    """An API key made in the server's database before it starts (a `manage.py` run would cost a Django start)."""
    migrate(db, base_env())
    key = ApiKey(name="auditor")
    secret = key.issue_token()
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO ops_apikey (name, prefix, token_hash, enabled, rate_override, created_at)"
            " VALUES (?, ?, ?, 1, '', datetime('now'))",
            (key.name, key.prefix, key.token_hash),
        )
    return secret


@pytest.fixture(scope="module")
def server(origin: OriginServer, db: Path, token: str) -> Iterator[DaphneServer]:
    with daphne(
        db_path=db,
        **origin.settings_env(),
        MCP_AUTH="keys",
        OPS_AUDIT_FLUSH="0.2",
        OPS_AUDIT_QUEUE="40",
        OPS_AUDIT_VALUE_CHARS=str(VALUE_CHARS),
    ) as srv:
        yield srv
        assert srv.alive(), srv.log()


async def until(check: Any, timeout: float = 20.0) -> Any:
    """Poll `check()` (plain or async) until it answers something true: the writer batches every 0.2 s."""
    for _ in range(int(timeout / 0.05)):
        found = await asyncio.to_thread(check) if not asyncio.iscoroutinefunction(check) else await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{check.__name__} was still false after {timeout} s")


@asynccontextmanager
async def keyed_session(server: DaphneServer, token: str, client_name: str) -> AsyncIterator[ClientSession]:
    client = create_mcp_http_client(headers={"authorization": f"Bearer {token}"})
    info = types.Implementation(name=client_name, version="1.0")
    async with (
        client,
        streamable_http_client(server.mcp_url, http_client=client) as streams,
        ClientSession(streams[0], streams[1], client_info=info) as session,
    ):
        await session.initialize()
        yield session


def table(db: Path, client_name: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM ops_auditentry WHERE client_name = ? ORDER BY id", (client_name,))
        return [dict(row) for row in found]


def audit_lines(server: DaphneServer, client_name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "awsmcp.audit" and line.get("client_name") == client_name]


async def test_each_tool_call_is_a_log_line_and_a_row_with_who_what_and_outcome(
    server: DaphneServer, token: str, db: Path
) -> None:
    phrase = "how do I rotate the master password of an Aurora cluster"  # longer than VALUE_CHARS
    async with keyed_session(server, token, "audit-e2e") as session:
        read = await session.call_tool("read_documentation", {"url": RDS, "max_length": 100})
        assert not read.is_error
        wrong = await session.call_tool("read_documentation", {"url": EVIL})
        assert wrong.is_error
        with pytest.raises(MCPError) as unknown:
            await session.call_tool("no_such_tool", {"url": "https://docs.aws.amazon.com/secret-plan.html"})
        assert unknown.value.error.code == -32602
        searched = await session.call_tool("search_documentation", {"search_phrase": phrase, "limit": 3})
        assert not searched.is_error

    rows = await until(lambda: len(table(db, "audit-e2e")) == 4 and table(db, "audit-e2e"))
    assert [(r["tool"], r["outcome"]) for r in rows] == [
        ("read_documentation", "ok"),
        ("read_documentation", "tool_error"),
        ("no_such_tool", "error -32602"),
        ("search_documentation", "ok"),
    ]
    assert {(r["key_name"], r["remote_ip"], r["partition"]) for r in rows} == {("auditor", "127.0.0.1", "aws")}
    assert len({r["session"] for r in rows}) == 1 and len(rows[0]["session"]) == 12
    assert [r["target"] for r in rows] == [RDS[:VALUE_CHARS] + "…", EVIL[:VALUE_CHARS] + "…", "", phrase[:40] + "…"]
    assert json.loads(rows[0]["arguments"]) == {"url": RDS[:VALUE_CHARS] + "…", "max_length": 100}
    assert json.loads(rows[2]["arguments"]) == {}  # an unknown tool's arguments are not its own: none is kept
    assert "secret-plan" not in server.log()
    assert all(r["duration_ms"] >= 0 for r in rows)

    lines = audit_lines(server, "audit-e2e")
    assert [(line["tool"], line["outcome"], line["event"]) for line in lines] == [
        (r["tool"], r["outcome"], "audit") for r in rows
    ]
    assert lines[3]["arguments"] == {"search_phrase": phrase[:VALUE_CHARS] + "…", "limit": 3}
    assert {(line["key_name"], line["client_ip"], line["session"]) for line in lines} == {
        ("auditor", "127.0.0.1", rows[0]["session"])
    }
    assert token not in server.log() and token[:20] not in server.log()
    assert not any("authorization" in json.dumps(line).lower() for line in lines)


async def test_undeclared_arguments_are_never_recorded(server: DaphneServer, token: str, db: Path) -> None:
    async with keyed_session(server, token, "audit-sneaky") as session:
        result = await session.call_tool("read_documentation", {"url": RDS, "api_key": "amcp_not_for_the_log"})
        assert not result.is_error  # the schema lets other names through; the trail keeps only the tool's own

    rows = await until(lambda: table(db, "audit-sneaky"))
    assert rows[0]["outcome"] == "ok" and json.loads(rows[0]["arguments"]) == {"url": RDS[:VALUE_CHARS] + "…"}
    assert "amcp_not_for_the_log" not in server.log()


def total(metrics: str, name: str) -> float:
    """A counter summed over its labels, from a /metrics page."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name))


def rows_written(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM ops_auditentry").fetchone()[0])


async def test_a_burst_of_calls_leaves_other_sessions_unharmed_and_every_call_is_a_row_or_a_drop(
    server: DaphneServer, token: str, db: Path
) -> None:
    burst = 120  # three times OPS_AUDIT_QUEUE: some batches may overflow; no call may be lost uncounted
    async with Witness(server, token=token) as witness, keyed_session(server, token, "audit-burst") as session:
        calls = [session.call_tool("read_documentation", {"url": RDS, "max_length": 50}) for _ in range(burst)]
        results = await asyncio.gather(*calls)
        assert not any(result.is_error for result in results)
        await while_witnessed(witness)
    witness.assert_unharmed(slowest=10.0)  # a functional check: answered and right, not a timing

    async with httpx.AsyncClient(timeout=10) as http:

        async def accounted() -> bool:
            """Every tool call the server counted (this module's, the witness's) is a row or a counted drop."""
            metrics = (await http.get(f"{server.base}/metrics")).text
            calls = total(metrics, "awsmcp_tool_call_seconds_count")
            return (
                calls > burst
                and await asyncio.to_thread(rows_written, db) + total(metrics, "awsmcp_audit_dropped_total") == calls
            )

        await until(accounted)
