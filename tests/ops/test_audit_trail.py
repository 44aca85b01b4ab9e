"""The audit trail in one process: the core's tools/call outcomes as observers hear them, what an entry holds (who,
what, cut values, no undeclared argument), the bounded queue and its drop counter, retention and the row cap in
batches, and the read-only admin's filters and search (Django's test client)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import DataError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from awsmcp import background
from mcp_gateway import protocol, tasks
from mcp_gateway.catalogue import Catalogue, Tool, ToolError
from mcp_gateway.context import RequestContext
from mcp_gateway.gate import Principal
from mcp_gateway.jsonrpc import Request
from mcp_gateway.protocol import REFUSED_META, McpServer
from mcp_gateway.sessions import ServerSession
from mcp_gateway.tasks.manager import TaskLimits
from mcp_gateway.tasks.store import MemoryStore
from ops import audit, metrics
from ops.models import ApiKey, AuditEntry
from tests.mcp_gateway.conftest import make_catalogue

URL = {"type": "object", "properties": {"url": {"type": "string"}}}


class Heard(protocol.Observer):
    """What observers are told of tools/call: (tool name, outcome)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def tool_called(self, session: ServerSession, request: Request, seconds: float, outcome: str) -> None:
        assert seconds >= 0
        self.calls.append((request.params.get("name"), outcome))


class Done(protocol.Observer):
    """What observers are told of every request: (method, outcome)."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str]] = []

    def request_done(self, method: str, tool: str | None, seconds: float, outcome: str) -> None:
        self.outcomes.append((method, outcome))


def core() -> tuple[McpServer, asyncio.Event]:
    started = asyncio.Event()

    async def ok(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "fine"}]}

    async def failing(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise ToolError("not an AWS documentation URL")

    async def refused(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:  # what part rules answers
        return {"content": [{"type": "text", "text": "slow down"}], "isError": True, "_meta": {REFUSED_META: "rate"}}

    async def slow(args: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(30)
        return {"content": []}

    catalogue = Catalogue()
    for name, handler in (("ok", ok), ("failing", failing), ("refused", refused), ("slow", slow)):
        catalogue.add_tool(Tool(name, name, URL, handler))
    return McpServer(catalogue), started


def call(msg_id: int, name: str, arguments: dict[str, Any] | None = None) -> Request:
    return Request(msg_id, "tools/call", {"name": name, "arguments": arguments or {}})


async def test_observers_hear_each_tool_call_with_its_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    heard = Heard()
    monkeypatch.setattr(protocol, "observers", [heard])
    server, started = core()
    session = ServerSession("s" * 40, "streamable-http", "aws")
    await server.handle_message(session, Request(0, "initialize", {"protocolVersion": "2025-11-25"}))
    for msg_id, name in enumerate(("ok", "failing", "refused", "nope"), start=1):
        await server.handle_message(session, call(msg_id, name))
    slow = asyncio.create_task(server.handle_message(session, call(9, "slow")))
    await started.wait()
    session.cancel(9)
    assert await slow is None
    await server.handle_message(session, Request(10, "tools/list", {}))  # not a tool call: not heard
    assert heard.calls == [
        ("ok", "ok"),
        ("failing", "tool_error"),
        ("refused", "refused"),
        ("nope", "error -32602"),
        ("slow", "cancelled"),
    ]


async def test_a_call_answered_with_a_task_is_heard_when_the_task_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    heard = Heard()
    monkeypatch.setattr(protocol, "observers", [heard])
    monkeypatch.setattr(tasks, "_manager", None)
    monkeypatch.setattr(tasks, "offers", {})
    server, _ = core()
    tasks.offer("ok", inline=0)  # always a task
    tasks.install(server, TaskLimits(max_tasks=2), MemoryStore())
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {tasks.EXTENSION: {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
    }
    session = ServerSession("throwaway", "streamable-http", "aws", remote_ip="192.0.2.7")
    reply = await server.handle_message(session, Request(1, "tools/call", {"name": "ok", "_meta": envelope}))
    assert reply is not None and reply["result"]["resultType"] == "task"
    assert heard.calls == [("ok", "task")]  # recorded as accepted; the task's own end is tasks/get's


async def test_a_call_the_client_leaves_is_heard_as_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A WebSocket closed, a stream ended, a POST dropped: the transport cancels the handling task. The call
    happened: observers (audit, metrics) hear it, and the cancellation still reaches the transport."""
    heard, done = Heard(), Done()
    monkeypatch.setattr(protocol, "observers", [heard, done])
    server, started = core()
    session = ServerSession("s" * 40, "websocket", "aws")
    await server.handle_message(session, Request(0, "initialize", {"protocolVersion": "2025-11-25"}))
    handling = asyncio.create_task(server.handle_message(session, call(1, "slow")))
    await started.wait()
    handling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handling
    assert heard.calls == [("slow", "cancelled")]
    assert done.outcomes[-1] == ("tools/call", "cancelled")


async def test_an_input_required_round_is_heard_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2026-07-28 call answered with questions for the client has not ended: not "ok"."""
    heard = Heard()
    monkeypatch.setattr(protocol, "observers", [heard])
    server = McpServer(make_catalogue())
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"},
    }
    session = ServerSession("throwaway", "streamable-http", "aws")
    reply = await server.handle_message(session, Request(1, "tools/call", {"name": "asker", "_meta": envelope}))
    assert reply is not None and reply["result"]["resultType"] == "input_required", reply
    assert heard.calls == [("asker", "input_required")]


def session_of(principal: Principal, name: str = "") -> ServerSession:
    return ServerSession(
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "websocket",
        "aws",
        client_info={"name": "audit-client", "version": "1"},
        remote_ip="192.0.2.7",
        key_name=name or principal.name,
        principal=principal,
    )


def test_an_entry_names_who_and_what_with_values_cut_and_nothing_undeclared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_VALUE_CHARS", 30)
    oauth = Principal(name="oauth:alice", kind="oauth", subject="alice", client_id="claude-desktop")
    phrase = "lambda " * 20
    request = call(1, "search_documentation", {"search_phrase": phrase, "limit": 5, "api_token": "amcp_leak"})
    before = datetime.now(UTC)
    entry = audit.entry_for(session_of(oauth), request, 0.25, "ok")
    after = datetime.now(UTC)
    assert entry["tool"] == "search_documentation" and entry["partition"] == "aws" and entry["outcome"] == "ok"
    assert entry["target"] == phrase[:30] + "…" and entry["arguments"] == {
        "search_phrase": phrase[:30] + "…",
        "limit": 5,
    }
    assert (entry["key_name"], entry["subject"], entry["oauth_client"]) == ("oauth:alice", "alice", "claude-desktop")
    assert (entry["remote_ip"], entry["session"], entry["client_name"]) == ("192.0.2.7", "abcdefghijkl", "audit-client")
    # When the call came in: its duration before the entry was made (a microsecond for the float's rounding).
    tick, took = timedelta(microseconds=1), timedelta(seconds=0.25)
    assert entry["duration_ms"] == 250.0 and before - took - tick <= entry["at"] <= after - took + tick
    assert "amcp_leak" not in repr(entry)

    key = Principal(name="ci-agent", kind="key", subject="ci-agent")
    batch = call(2, "read_documentation_batch", {"requests": [{"url": "https://a/1"}, {"url": "https://b/2"}]})
    entry = audit.entry_for(session_of(key), batch, 0.01, "tool_error")
    assert entry["key_name"] == "ci-agent" and entry["subject"] == "" and entry["oauth_client"] == ""
    assert entry["target"] == "https://a/1 https://b/2"
    assert entry["arguments"]["requests"] == '[{"url": "https://a/1"}, {"url…'  # a list is cut as its JSON

    unknown = audit.entry_for(
        session_of(key), call(3, "x" * 300, {"url": "https://secret.example/"}), 0, "error -32602"
    )
    assert unknown["tool"] == "x" * 99 + "…" and unknown["arguments"] == {} and unknown["target"] == ""


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("awsmcp_audit_dropped_total", {"reason": reason}) or 0.0


async def test_a_full_queue_drops_and_counts_the_drop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_QUEUE", 3)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_FLUSH", 3600)  # the writer waits: the queue fills
    monkeypatch.setattr(audit, "_queue", [])
    before = dropped("queue_full")
    trail = audit.AuditTrail()
    for msg_id in range(5):
        trail.tool_called(
            session_of(Principal()), call(msg_id, "search_documentation", {"search_phrase": "s3"}), 0, "ok"
        )
    assert len(audit._queue) == 3
    assert dropped("queue_full") == before + 2
    assert 'awsmcp_audit_dropped_total{reason="queue_full"}' in metrics.render()[0].decode()


def rows(count: int, at: datetime, tool: str = "read_documentation", **fields: Any) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(at=at, tool=tool, partition="aws", outcome="ok", duration_ms=1.0, **fields) for _ in range(count)
    )


@pytest.mark.django_db
def test_retention_deletes_old_rows_and_the_cap_keeps_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "PRUNE_BATCH", 7)  # several DELETEs per rule, and a round that stops short
    monkeypatch.setattr(audit, "PRUNE_BATCHES", 3)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_RETENTION_DAYS", 30)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_MAX_ROWS", 10)
    now = datetime.now(UTC)
    rows(25, now - timedelta(days=31), tool="old")
    rows(8, now - timedelta(days=1), tool="kept")
    # Three batches of seven (the round's bound) by age, then the two oldest past the cap of ten.
    assert audit.prune() == 21 + 2
    assert audit.prune() == 2  # the next round takes the old rows that remained
    assert set(AuditEntry.objects.values_list("tool", flat=True)) == {"kept"}

    rows(6, now, tool="newest")  # 14 rows: the four oldest go
    assert audit.prune() == 4
    assert AuditEntry.objects.count() == 10
    assert AuditEntry.objects.filter(tool="newest").count() == 6
    assert audit.prune() == 0


@pytest.mark.django_db
def test_limits_of_zero_keep_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """0 means no limit (not "keep nothing", which would empty the trail every round)."""
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_RETENTION_DAYS", 0)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_MAX_ROWS", 0)
    rows(5, datetime.now(UTC) - timedelta(days=4000))
    rows(5, datetime.now(UTC))
    assert audit.prune() == 0 and AuditEntry.objects.count() == 10


@pytest.mark.django_db
def test_the_cap_query_runs_only_when_the_ids_allow_more_rows_than_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_RETENTION_DAYS", 0)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_MAX_ROWS", 10)
    rows(10, datetime.now(UTC), tool="first")
    with CaptureQueriesContext(connection) as under_cap:
        assert audit.prune() == 0
    assert len(under_cap) == 1  # Min and Max of the ids: no walk of the newest `cap` rows
    # Gaps in the ids (rows written and pruned) must not fool it: six rows spread over more than ten ids stay.
    AuditEntry.objects.filter(pk__in=AuditEntry.objects.order_by("pk").values("pk")[1:5]).delete()
    rows(2, datetime.now(UTC), tool="second")
    assert audit.prune() == 0 and AuditEntry.objects.count() == 8
    rows(4, datetime.now(UTC), tool="third")  # 12 rows: the two oldest go
    assert audit.prune() == 2
    assert AuditEntry.objects.filter(tool="first").count() == 4 and AuditEntry.objects.count() == 10


@pytest.mark.django_db(transaction=True)
async def test_a_row_the_database_refuses_costs_that_row_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch refused for its data is written again in halves: the other rows are written, the bad one counted."""
    monkeypatch.setattr(audit, "_queue", [])
    real_write = audit.write
    attempts: list[int] = []

    def picky(batch: list[dict[str, Any]]) -> None:  # as PostgreSQL does with a value its column cannot hold
        attempts.append(len(batch))
        if any(entry["target"] == "https://x/bad" for entry in batch):
            raise DataError("value too long for type character varying(255)")
        real_write(batch)

    monkeypatch.setattr(audit, "write", picky)
    session = session_of(Principal(name="ci-agent", kind="key"))
    for msg_id, url in enumerate(("https://x/0", "https://x/1", "https://x/bad", "https://x/3", "https://x/4")):
        audit.enqueue(audit.entry_for(session, call(msg_id, "read_documentation", {"url": url}), 0, "ok"))
    before = dropped("write_failed")
    assert await audit.flush() == 4
    assert dropped("write_failed") == before + 1
    written = await asyncio.to_thread(lambda: sorted(AuditEntry.objects.values_list("target", flat=True)))
    assert written == ["https://x/0", "https://x/1", "https://x/3", "https://x/4"]
    assert attempts == [5, 2, 3, 1, 2]  # the batch, its good half, the other half, the bad row, the rest


@pytest.mark.django_db(transaction=True)
async def test_the_writer_prunes_on_its_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's retention rounds come every OPS_AUDIT_PRUNE_EVERY: old rows written after one round go in the
    next."""
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_FLUSH", 0.01)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_PRUNE_EVERY", 0.2)
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_RETENTION_DAYS", 30)
    monkeypatch.setattr(audit, "_queue", [])
    old = datetime.now(UTC) - timedelta(days=31)

    def count_old() -> int:
        return AuditEntry.objects.filter(at__lt=old + timedelta(days=1)).count()

    async def until_pruned() -> None:
        for _ in range(1000):  # polled: the writer reports nothing
            if not await asyncio.to_thread(count_old):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("old rows still there")

    await asyncio.to_thread(rows, 3, old)
    writer = asyncio.create_task(audit.write_loop())
    try:
        await until_pruned()  # the first round
        await asyncio.to_thread(rows, 3, old)
        await until_pruned()  # the next one, on schedule
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


@pytest.mark.django_db
def test_staff_without_the_view_permission_may_not_read_the_trail(client: Client) -> None:
    staff = get_user_model().objects.create_user("clerk", is_staff=True)  # force_login: no password to hash
    client.force_login(staff)
    assert client.get("/admin/ops/auditentry/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    assert client.get("/admin/ops/auditentry/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_the_writer_inserts_the_queue_and_a_failed_batch_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "_queue", [])
    session = session_of(Principal(name="ci-agent", kind="key"))
    for msg_id in range(3):
        audit.enqueue(
            audit.entry_for(session, call(msg_id, "read_documentation", {"url": f"https://x/{msg_id}"}), 0, "ok")
        )
    assert await audit.flush() == 3 and audit._queue == []
    assert sorted(await asyncio.to_thread(lambda: list(AuditEntry.objects.values_list("target", flat=True)))) == [
        "https://x/0", "https://x/1", "https://x/2",
    ]  # fmt: skip

    def broken(batch: list[dict[str, Any]]) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(audit, "write", broken)
    before = dropped("write_failed")
    audit.enqueue(audit.entry_for(session, call(5, "read_documentation", {"url": "https://x/5"}), 0, "ok"))
    assert await audit.flush() == 0
    assert dropped("write_failed") == before + 1


@pytest.mark.django_db(transaction=True)
async def test_what_is_queued_is_written_when_the_writer_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("django.conf.settings.OPS_AUDIT_FLUSH", 3600)  # no batch before the stop
    monkeypatch.setattr(audit, "_queue", [])
    session = session_of(Principal(name="ci-agent", kind="key"))
    audit.enqueue(audit.entry_for(session, call(1, "read_documentation", {"url": "https://x/last"}), 0, "ok"))
    await audit.flush()  # what enqueue's writer would find: nothing else queued
    audit.enqueue(audit.entry_for(session, call(2, "read_documentation", {"url": "https://x/at-stop"}), 0, "ok"))
    await background.stop()  # what the server does at shutdown
    targets = await asyncio.to_thread(lambda: set(AuditEntry.objects.values_list("target", flat=True)))
    assert targets == {"https://x/last", "https://x/at-stop"}


@pytest.mark.django_db
def test_the_admin_lists_filters_and_searches_and_nobody_edits(admin_client: Client) -> None:
    now = datetime.now(UTC)
    rows(1, now, target="https://docs.aws.amazon.com/lambda/a.html", key_name="ci-agent", remote_ip="10.0.0.1")
    rows(1, now, tool="search_documentation", target="s3 bucket policy", key_name="oauth:alice", subject="alice")
    AuditEntry.objects.filter(key_name="oauth:alice").update(outcome="error -32602", partition="aws-cn")
    rows(1, now - timedelta(days=400), target="https://docs.aws.amazon.com/old.html", session="oldsession12")

    def listing(query: str) -> str:
        page = admin_client.get(f"/admin/ops/auditentry/?{query}")
        assert page.status_code == 200
        return page.content.decode()

    everything = listing("")
    assert "lambda/a.html" in everything and "s3 bucket policy" in everything and "old.html" in everything
    assert "lambda/a.html" not in listing("tool=search_documentation")
    errors = listing("outcome=error")
    assert "s3 bucket policy" in errors and "lambda/a.html" not in errors
    assert "lambda/a.html" not in listing("partition=aws-cn") and "s3 bucket policy" in listing("partition=aws-cn")
    ApiKey(name="ci-agent").save()
    assert "s3 bucket policy" not in listing("key=ci-agent") and "lambda/a.html" in listing("key=ci-agent")
    assert "lambda/a.html" not in listing("key=oauth:") and "s3 bucket policy" in listing("key=oauth:")
    anonymous = listing("key=:anonymous")
    assert "old.html" in anonymous and "lambda/a.html" not in anonymous and "s3 bucket policy" not in anonymous
    assert "?key=ci-agent" in listing("")  # a key's choice, from the keys table
    assert "lambda/a.html" in listing("q=10.0.0.1") and "s3 bucket policy" not in listing("q=10.0.0.1")
    assert "s3 bucket policy" in listing("q=alice") and "old.html" in listing("q=oldsession12")
    for since in ("hour", "day", "week", "30days"):
        recent = listing(f"since={since}")
        assert "old.html" not in recent and "lambda/a.html" in recent
    assert admin_client.get("/admin/ops/auditentry/add/").status_code == 403
    entry = AuditEntry.objects.get(key_name="ci-agent")
    assert admin_client.get(f"/admin/ops/auditentry/{entry.pk}/delete/").status_code == 403
    detail = admin_client.get(f"/admin/ops/auditentry/{entry.pk}/change/").content.decode()
    assert "lambda/a.html" in detail and 'name="_save"' not in detail  # a view, no form to save
