"""The connections table's activity batch: own rows in one transaction, only sessions with news, ghosts closed;
and the rule that tells an open session from an idle one, which the table and the gauges share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from mcp_gateway.sessions import ServerSession, new_session_id
from ops import activity, connections, metrics
from ops.models import Connection


@dataclass
class FakeHolder:  # what a transport keeps for a session: a session and no channel
    session: ServerSession
    channel_name: str | None = None


def holders(count: int) -> list[FakeHolder]:
    made = [
        FakeHolder(ServerSession(new_session_id(), "streamable-http", "aws", remote_ip="127.0.0.1"))
        for _ in range(count)
    ]
    for holder in made:
        connections.record_open(holder)
    return made


@pytest.mark.django_db(transaction=True)
def test_idle_sessions_cost_one_statement_per_batch_and_changes_are_written() -> None:
    live = holders(50)
    connections._written.clear()
    connections.flush_activity(live)  # the first batch writes everyone
    with CaptureQueriesContext(connection) as idle:
        connections.flush_activity(live)
    updates = [q["sql"] for q in idle.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 2  # the process's heartbeat and the ghost sweep; no per-session writes

    live[7].session.messages_in = 3
    with CaptureQueriesContext(connection) as busy:
        connections.flush_activity(live)
    assert len([q for q in busy.captured_queries if q["sql"].startswith("UPDATE")]) == 3
    assert Connection.objects.get(session_id=live[7].session.id).messages_in == 3
    assert Connection.objects.get(session_id=live[8].session.id).messages_in == 0


@pytest.mark.django_db(transaction=True)
def test_heartbeats_keep_rows_alive_and_ghosts_of_dead_processes_are_closed() -> None:
    live = holders(2)
    ghost = Connection.objects.create(
        session_id="ghost",
        transport="websocket",
        partition="aws",
        remote_ip="127.0.0.1",
        process="a-dead-process",
        opened_at=datetime.now(UTC),
        last_activity=datetime.now(UTC),
        heartbeat=datetime.now(UTC) - timedelta(hours=1),
    )
    Connection.objects.filter(session_id__in=[h.session.id for h in live]).update(
        heartbeat=datetime.now(UTC) - timedelta(hours=1)
    )
    connections.flush_activity(live)
    ghost.refresh_from_db()
    assert ghost.state == Connection.State.CLOSED
    states = set(Connection.objects.filter(session_id__in=[h.session.id for h in live]).values_list("state", flat=True))
    assert states == {Connection.State.ACTIVE}


async def test_opens_and_closes_queued_during_a_batch_are_written_by_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "WRITE_BEHIND", 0.01)
    written: list[str] = []

    def slow_batch(batch: list) -> None:
        written.extend(holder for _write, holder in batch)
        time.sleep(0.05)

    monkeypatch.setattr(connections, "write_batch", slow_batch)
    connections._queue(connections.record_open, "first")  # type: ignore[arg-type]
    await asyncio.sleep(0.03)  # its batch is being written in a worker thread
    connections._queue(connections.record_close, "second")  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    assert written == ["first", "second"] and connections._pending == []


@dataclass
class FakeStreamable(FakeHolder):  # a Streamable HTTP holder: `idle` when no GET stream is open and nothing runs
    idle: bool = True


def test_a_session_is_idle_only_with_no_stream_and_no_recent_message(settings: Any) -> None:
    settings.OPS_ACTIVE_WINDOW = 60
    now = time.time()
    quiet = ServerSession(new_session_id(), "streamable-http", "aws", last_activity=now - 61)
    assert activity.state_of(FakeStreamable(quiet), now) == "idle"
    assert activity.state_of(FakeStreamable(quiet, idle=False), now) == "active"  # its GET stream is open
    talking = ServerSession(new_session_id(), "streamable-http", "aws", last_activity=now - 59)
    assert activity.state_of(FakeStreamable(talking), now) == "active"  # a message within the window
    assert activity.state_of(FakeHolder(quiet), now) == "active"  # SSE and WebSocket: open while they exist
    quiet.stale = True
    assert activity.state_of(FakeStreamable(quiet), now) == "stale"


async def test_the_gauges_move_a_session_between_open_and_idle_and_forget_it_on_close(settings: Any) -> None:
    settings.OPS_ACTIVE_WINDOW = 60
    session = ServerSession(new_session_id(), "streamable-http", "aws-cn")
    holder = FakeStreamable(session, idle=False)
    gauges = metrics.ConnectionGauge()

    def counted() -> tuple[float, float]:
        labels = {"transport": "streamable-http", "partition": "aws-cn"}
        return tuple(  # type: ignore[return-value]
            REGISTRY.get_sample_value(name, labels) or 0.0
            for name in ("awsmcp_open_connections", "awsmcp_idle_sessions")
        )

    before = counted()
    await gauges.opened(holder)
    assert counted() == (before[0] + 1, before[1])
    metrics.recount([holder], {session.id: "idle"})
    metrics.recount([holder], {session.id: "idle"})  # moved once, not once a batch
    assert counted() == (before[0], before[1] + 1)
    metrics.recount([holder], {})  # not in this batch's counts: left as it was
    assert counted() == (before[0], before[1] + 1)
    metrics.recount([holder], {session.id: None})  # another process counts it
    assert counted() == before
    metrics.recount([holder], {session.id: "open"})
    assert counted() == (before[0] + 1, before[1])
    await gauges.closed(holder)
    assert counted() == before and session.id not in metrics._counted


@pytest.mark.django_db(transaction=True)
def test_a_quiet_copy_does_not_write_idle_over_a_stream_held_elsewhere(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process A opened the session and hears nothing; process B holds its GET stream (same row)."""
    settings.OPS_ACTIVE_WINDOW = 60
    long_ago = time.time() - 120
    a_copy = FakeStreamable(ServerSession(new_session_id(), "streamable-http", "aws", last_activity=long_ago))
    connections.record_open(a_copy)
    b_copy = FakeStreamable(ServerSession.from_state(a_copy.session.state()), idle=False)
    b_copy.session.last_activity = long_ago
    row = Connection.objects.filter(session_id=a_copy.session.id)
    connections._written.clear()

    monkeypatch.setattr(connections, "PROCESS_ID", "process-b")
    assert connections.flush_activity([b_copy]) == {a_copy.session.id: "open"}  # B counts the stream it holds
    monkeypatch.undo()
    connections._written.clear()
    assert connections.flush_activity([a_copy]) == {a_copy.session.id: None}  # A leaves it to B
    assert connections.flush_activity([a_copy]) == {a_copy.session.id: None}  # and tries again: still not idle
    assert row.get().state == Connection.State.ACTIVE

    # B's stream ended a window ago (its last refresh): A's next try lands, and A counts it idle.
    row.update(last_activity=datetime.now(UTC) - timedelta(seconds=61))
    assert connections.flush_activity([a_copy]) == {a_copy.session.id: "idle"}
    assert row.get().state == Connection.State.IDLE
