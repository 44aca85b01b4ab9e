"""The connections table behind the admin's Connections page.

Sessions are written to the database when they open and when they close (batched within 0.2 s); their activity (last
activity, pings, message and byte counts, stale state) is written in one batch per process every
OPS_ACTIVITY_FLUSH seconds, which also serves as the process's heartbeat. The batch also writes each session's state
(ops.activity: active, idle or stale), which changes with time alone. A row whose process stopped
heart-beating for OPS_CONNECTION_LEASE seconds belonged to a process that died: it is marked closed.

A Streamable HTTP session can be held by several processes (its GET stream on one, POSTs on others: the balancer is
not sticky); the row is their meeting point. A process holding its stream refreshes the row (active, last activity
now) every batch; a process that finds it quiet writes "idle" only if no process reported activity within
OPS_ACTIVE_WINDOW (the write is conditional), and tries again next batch if another did. The gauges count each
session once fleet-wide (`count_as`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from awsmcp import background
from awsmcp.pools import run_in
from awsmcp.process import PROCESS_ID
from mcp_gateway import directory
from mcp_gateway.directory import Holder
from ops import activity, leases, metrics
from ops.keys import used_keys
from ops.models import ApiKey, Connection

log = logging.getLogger(__name__)
CHUNK = 500  # session ids per statement (SQLite's bound on a statement's parameters is far above it)
# Clock and rounding differences between processes' copies of one session's last activity that are not news.
SAME_ACTIVITY = timedelta(milliseconds=1)
FLUSHER = "connections-flusher"  # the background loop writing activity batches (registered in ops.apps)


def _at(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


KEY_NAME_CHARS = Connection._meta.get_field("key_name").max_length or 255


def _fields(holder: Holder, state: str | None = None) -> dict[str, object]:
    """The row's changing fields; `state` as the batch judged it (one instant for the whole batch)."""
    session = holder.session
    return {
        "client_name": str(session.client_info.get("name", ""))[:200],
        "client_version": str(session.client_info.get("version", ""))[:100],
        "protocol_version": session.protocol_version or "",
        "key_name": session.key_name[:KEY_NAME_CHARS],  # "oauth:" + a token's subject may pass the column
        "last_activity": _at(session.last_activity),
        "last_pong": _at(session.last_pong),
        "messages_in": session.messages_in,
        "messages_out": session.messages_out,
        "bytes_out": session.bytes_out,
        # idle: a Streamable HTTP session with no stream, quiet for a while
        "state": state if state is not None else activity.state_of(holder),
    }


def record_open(holder: Holder) -> None:
    session = holder.session
    now = datetime.now(UTC)
    Connection.objects.update_or_create(
        session_id=session.id,
        defaults={
            "transport": session.transport,
            "partition": session.partition,
            "remote_ip": session.remote_ip,
            "process": PROCESS_ID,
            "opened_at": _at(session.opened_at) or now,
            "heartbeat": now,
            "closed_at": None,
            **_fields(holder),
        },
    )


def record_close(holder: Holder) -> None:
    now = datetime.now(UTC)
    Connection.objects.filter(session_id=holder.session.id).update(
        **{**_fields(holder), "state": Connection.State.CLOSED, "closed_at": now, "heartbeat": now}
    )


# What the last batch wrote for each live session: sessions with no news since are skipped.
_written: dict[str, dict[str, object]] = {}
# The activity batch and the open/close batches run in worker threads: one writes at a time (no
# "database is locked" on SQLite, no lock-order deadlock between their UPDATEs on PostgreSQL).
_writing = threading.Lock()


def flush_activity(holders: list[Holder], states: dict[str, str] | None = None) -> dict[str, str | None]:
    """One batch: in one transaction the process's heartbeat in one statement, the sessions whose activity
    changed since the last batch, and the sessions whose stream this process holds; then, in a transaction of its
    own, ghosts of dead processes. Sweeping inside the first transaction deadlocked on PostgreSQL: each process
    held its own rows while its sweep waited for the other's. Returns how this process counts each session in
    the gauges (`count_as`).

    Writing every session each time would cost 10,000 idle streams 10,000 UPDATEs (and commits) per batch: the
    streams this process holds are refreshed in one statement per CHUNK sessions instead.
    """
    close_old_connections()
    clock = time.time()
    states = states if states is not None else activity.states_of(holders, clock)
    now = datetime.now(UTC)
    quiet_since = _at(clock - settings.OPS_ACTIVE_WINDOW)
    live = Connection.objects.exclude(state=Connection.State.CLOSED)
    written = {}
    streaming = [h.session.id for h in holders if _refreshed(h, states)]
    with _writing, transaction.atomic():
        live.filter(process=PROCESS_ID).update(heartbeat=now)
        for holder in holders:
            fields = _fields(holder, states[holder.session.id])
            if _written.get(holder.session.id) == fields:
                continue
            rows = live.filter(session_id=holder.session.id)
            if fields["state"] == activity.IDLE:  # not if another process saw it (or holds its stream) lately
                rows = rows.filter(last_activity__lte=quiet_since)
            # Another process's copy may have seen later activity: the row's last activity never goes back.
            latest = Greatest(F("last_activity"), Value(fields["last_activity"]))
            if rows.update(**{**fields, "last_activity": latest}) or fields["state"] != activity.IDLE:
                written[holder.session.id] = fields  # an idle write another process prevented is tried again
        for chunk in _chunks(streaming):
            live.filter(session_id__in=chunk).update(state=Connection.State.ACTIVE, last_activity=now)
    with _writing, transaction.atomic():
        lease = timedelta(seconds=settings.OPS_CONNECTION_LEASE)
        live.filter(heartbeat__lt=now - lease).update(state=Connection.State.CLOSED, closed_at=now)
        keep = timedelta(seconds=settings.OPS_CONNECTION_HISTORY)
        Connection.objects.filter(state=Connection.State.CLOSED, closed_at__lt=now - keep).delete()
    _written.update(written)  # only once committed: a rolled-back batch is written again next time
    current = {holder.session.id for holder in holders}
    for session_id in [s for s in _written if s not in current]:
        del _written[session_id]
    flush_key_use()
    leases.renew_leases()
    return count_as(holders, states)


def _refreshed(holder: Holder, states: dict[str, str]) -> bool:
    """A Streamable HTTP session whose stream this process holds: its row is refreshed every batch, so that the
    copies on other processes (which see no stream) do not write it idle."""
    return activity.streamable(holder) and activity.holds_stream(holder) and states[holder.session.id] == "active"


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def count_as(holders: list[Holder], states: dict[str, str]) -> dict[str, str | None]:
    """How this process counts each session it holds: "open", "idle" or None (another process counts it).

    The rule, so that the fleet's gauges count each session once: a process counts as open every session whose
    stream it holds (or work it runs), and a quiet Streamable HTTP session (no stream here) only when the row's
    last activity is its own (no other process saw it later or holds its stream); it counts as idle only a session
    it opened (the row's process) whose row is idle. A session moving between processes may be counted twice, or
    not at all, for one batch."""
    quiet = [h for h in holders if not activity.holds_stream(h)]
    rows = _rows([h.session.id for h in quiet])
    counts: dict[str, str | None] = {h.session.id: "open" for h in holders if activity.holds_stream(h)}
    for holder in quiet:
        counts[holder.session.id] = _quiet_count(holder, states[holder.session.id], rows.get(holder.session.id))
    return counts


Row = tuple[str, datetime, str]  # a connection row's state, last activity and process


def _rows(session_ids: list[str]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for chunk in _chunks(session_ids):
        found = Connection.objects.filter(session_id__in=chunk).values_list(
            "session_id", "state", "last_activity", "process"
        )
        rows.update({session_id: (state, last, process) for session_id, state, last, process in found})
    return rows


def _quiet_count(holder: Holder, state: str, row: Row | None) -> str | None:
    """How this process counts a session it holds no stream of (see `count_as`)."""
    if row is None:  # not written yet (opened within the write-behind): as this process sees it
        return "idle" if state == activity.IDLE else "open"
    row_state, row_activity, owner = row
    if state == activity.IDLE:
        return "idle" if owner == PROCESS_ID and row_state == Connection.State.IDLE else None
    ours = _at(holder.session.last_activity)
    seen_later = ours is None or row_activity > ours + SAME_ACTIVITY
    return None if seen_later else "open"


def flush_key_use() -> None:
    """API keys' last use, recorded in memory by every authenticated request, written in this batch."""
    while used_keys:
        name, when = used_keys.popitem()
        # .update() sends no post_save signal, so key caches are not reloaded for a timestamp.
        ApiKey.objects.filter(name=name).update(last_used=_at(when))


WRITE_BEHIND = 0.2  # seconds opens and closes wait, so that a burst of them is one transaction
_pending: list[tuple[Callable[[Holder], None], Holder]] = []
_writer: asyncio.Task[None] | None = None


class ConnectionTable:
    """Registered into mcp_gateway.directory: writes opens and closes within WRITE_BEHIND seconds.

    A commit per session opened would make opening 10,000 streams take two minutes (bench.connections)."""

    async def opened(self, holder: Holder) -> None:
        background.ensure(FLUSHER)
        _queue(record_open, holder)

    async def closed(self, holder: Holder) -> None:
        _queue(record_close, holder)


def _queue(write: Callable[[Holder], None], holder: Holder) -> None:
    global _writer
    _pending.append((write, holder))
    loop = asyncio.get_running_loop()
    # A writer of another event loop (one that has ended, in tests) will never run: start one on this loop.
    if _writer is None or _writer.done() or _writer.get_loop() is not loop:
        _writer = loop.create_task(_write_soon())


async def _write_soon() -> None:
    while _pending:  # what was queued while a batch was being written goes in the next one
        await asyncio.sleep(WRITE_BEHIND)
        batch = _pending[:]
        _pending.clear()
        await _safely(write_batch, batch)


def write_batch(batch: list[tuple[Callable[[Holder], None], Holder]]) -> None:
    """Opens and closes in the order they happened, in one transaction (one by one if that fails)."""
    close_old_connections()
    with _writing:
        try:
            with transaction.atomic():
                for write, holder in batch:
                    write(holder)
            return
        except Exception as exc:
            log.warning("connections table batch failed (%s); writing one by one", exc.__class__.__name__)
        for write, holder in batch:
            try:
                write(holder)
            except Exception as one:
                log.warning("connections table %s failed: %s", write.__name__, one.__class__.__name__)


async def _safely(fn: object, *args: object) -> None:
    try:
        await run_in("database", fn, *args)  # type: ignore[arg-type]
    except Exception as exc:  # the table must never break a session
        log.warning("connections table %s failed: %s: %s", getattr(fn, "__name__", fn), exc.__class__.__name__, exc)


async def flush_loop() -> None:
    """An activity batch every OPS_ACTIVITY_FLUSH seconds (the "connections-flusher" background loop).

    A failed batch is logged and the next one comes on time: the batch is the process's heartbeat, so a pause longer
    than OPS_CONNECTION_LEASE would have other processes close this one's rows as a dead process's."""
    while True:
        await asyncio.sleep(settings.OPS_ACTIVITY_FLUSH)
        holders = directory.local_sessions()
        states = activity.states_of(holders, time.time())  # judged once: the batch writes and counts the same
        try:
            counts = await run_in("database", flush_activity, holders, states)
        except Exception as exc:  # the table must never break a session; the gauges wait for the next batch
            log.warning("connections table flush_activity failed: %s: %s", exc.__class__.__name__, exc)
            continue
        # Sessions that closed while the batch was written were taken off the gauges already.
        metrics.recount([h for h in holders if directory.local(h.session.id) is h], counts)
