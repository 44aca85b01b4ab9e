"""The audit trail of tool calls: who called which tool on what, when, for how long, and how it ended.

Every call is one line on the `awsmcp.audit` logger (with the JSON log's fixed fields) and, with OPS_AUDIT_DB, one
row of ops.AuditEntry. A row waits in a bounded queue (OPS_AUDIT_QUEUE; a full queue drops it and counts it in
`awsmcp_audit_dropped_total`) for the "audit-writer" background loop, which inserts the queue with one bulk_create
every OPS_AUDIT_FLUSH seconds in the database pool, and every OPS_AUDIT_PRUNE_EVERY seconds deletes, a batch at a
time, the rows older than OPS_AUDIT_RETENTION_DAYS and the oldest past OPS_AUDIT_MAX_ROWS (either 0: no such limit).

Only the tool's own arguments (the names its input schema declares) are recorded, each value cut to
OPS_AUDIT_VALUE_CHARS; no header, token or key reaches this module. A call answered with a task is recorded when
the task is accepted, with the outcome "task": the task's own end is tasks/get's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections
from django.db.models import CharField, Max, Min, QuerySet, Subquery
from prometheus_client import Counter

from awsmcp import background
from awsmcp.pools import run_in
from mcp_gateway import protocol
from mcp_gateway.catalogue import Tool, catalogue
from mcp_gateway.jsonrpc import Request
from mcp_gateway.sessions import ServerSession, short_id
from ops.models import AuditEntry

log = logging.getLogger("awsmcp.audit")  # the trail itself: one line per tool call
problems = logging.getLogger(__name__)  # the trail's own troubles (a failed batch), kept off the trail

WRITER = "audit-writer"  # the background loop writing and pruning the table (registered in ops.apps)
DROPPED = Counter("awsmcp_audit_dropped", "Audit rows not written to the database, by reason", ["reason"])
PRUNE_BATCH = 5000  # rows per DELETE: a long backlog goes in short statements that hold no lock for long
PRUNE_BATCHES = 40  # DELETEs per round at most; what remains waits for the next round
INSERT_BATCH = 500  # rows per INSERT statement
FINAL_FLUSH = 5.0  # seconds the last batch may take at shutdown (the server waits for it)
# The argument that says what a call is about, in this order of preference (a batch's `requests` give their URLs).
MAIN_ARGUMENTS = ("url", "search_phrase", "query", "service")
ELLIPSIS = "…"

_queue: list[dict[str, Any]] = []
# The CharFields' lengths, from the model: an entry's texts are cut to them.
_LIMITS = {
    field.name: field.max_length
    for field in AuditEntry._meta.get_fields()
    if isinstance(field, CharField) and field.max_length is not None
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def _value(value: Any, limit: int) -> Any:
    """An argument's value as recorded: numbers and booleans as they are, anything else as text of at most
    `limit` characters (lists and objects as their JSON)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _cut(value, limit)


def recorded_arguments(tool: Tool | None, arguments: Any, limit: int) -> dict[str, Any]:
    """The arguments the tool declares, values cut; none for an unknown tool (its names could be anything)."""
    if tool is None or not isinstance(arguments, dict):
        return {}
    declared = tool.input_schema.get("properties") or {}
    return {name: _value(value, limit) for name, value in arguments.items() if name in declared}


def main_argument(arguments: Any, limit: int) -> str:
    """What the call is about: the URL, the search phrase or query, the service; a batch's URLs, space-separated."""
    if not isinstance(arguments, dict):
        return ""
    for name in MAIN_ARGUMENTS:
        if isinstance(arguments.get(name), str):
            return _cut(arguments[name], limit)
    requests = arguments.get("requests")
    if isinstance(requests, list):
        urls = [r["url"] for r in requests if isinstance(r, dict) and isinstance(r.get("url"), str)]
        return _cut(" ".join(urls), limit)
    return ""


def _fit(entry: dict[str, Any]) -> dict[str, Any]:
    """Every text cut to its column's max_length: PostgreSQL refuses a longer value (and with it the whole batch),
    and "oauth:" + a subject, a client id or an address is the client's to make long."""
    for name, limit in _LIMITS.items():
        value = entry.get(name)
        if isinstance(value, str) and len(value) > limit:
            entry[name] = value[: limit - 1] + ELLIPSIS
    return entry


def entry_for(session: ServerSession, request: Request, seconds: float, outcome: str) -> dict[str, Any]:
    """One call's audit entry, in AuditEntry's field names, each text within its column."""
    limit = settings.OPS_AUDIT_VALUE_CHARS
    name = request.params.get("name")
    tool = catalogue.tool(name, session.partition) if isinstance(name, str) else None
    arguments = request.params.get("arguments")
    principal = session.principal
    oauth = principal.kind == "oauth"
    return _fit({
        "at": datetime.fromtimestamp(time.time() - seconds, UTC),
        "tool": name if isinstance(name, str) else json.dumps(name, default=str),
        "target": main_argument(arguments, limit) if tool is not None else "",
        "arguments": recorded_arguments(tool, arguments, limit),
        "partition": session.partition,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 3),
        "key_name": session.key_name or principal.name,
        "subject": principal.subject if oauth else "",
        "oauth_client": principal.client_id if oauth else "",
        "remote_ip": session.remote_ip,
        "session": short_id(session.id),
        "client_name": str(session.client_info.get("name", "")),
    })  # fmt: skip


def write_line(entry: dict[str, Any]) -> None:
    """The call's line on the awsmcp.audit logger: the message for a terminal, the fields for a log pipeline."""
    who = entry["key_name"] or "anonymous"
    log.info(
        "tool call %s %s by %s from %s: %s in %.1f ms",
        entry["tool"], _cut(entry["target"], 200), who, entry["remote_ip"], entry["outcome"], entry["duration_ms"],
        extra={
            "event": "audit",
            "tool": entry["tool"],
            "target": entry["target"],
            "arguments": entry["arguments"],
            "partition": entry["partition"],
            "outcome": entry["outcome"],
            "latency_ms": entry["duration_ms"],
            "key_name": entry["key_name"],
            "subject": entry["subject"] or None,
            "oauth_client": entry["oauth_client"] or None,
            "client_ip": entry["remote_ip"],
            "session": entry["session"],
            "client_name": entry["client_name"],
        },
    )  # fmt: skip


def enqueue(entry: dict[str, Any]) -> None:
    """Queue a row for the writer; past OPS_AUDIT_QUEUE rows the row is dropped and counted (the log has it)."""
    if len(_queue) >= settings.OPS_AUDIT_QUEUE:
        DROPPED.labels("queue_full").inc()
        return
    _queue.append(entry)
    background.ensure(WRITER)


class AuditTrail(protocol.Observer):
    """Registered into the protocol core: each tools/call becomes a log line and (OPS_AUDIT_DB) a queued row."""

    def tool_called(self, session: ServerSession, request: Request, seconds: float, outcome: str) -> None:
        try:
            entry = entry_for(session, request, seconds, outcome)
            if log.isEnabledFor(logging.INFO):
                write_line(entry)
            if settings.OPS_AUDIT_DB:
                enqueue(entry)
        except Exception:  # the trail must never break the call it records
            problems.exception("audit entry of a tools/call failed")


def write(batch: list[dict[str, Any]]) -> None:
    """Insert a batch of rows (in the database pool)."""
    close_old_connections()
    AuditEntry.objects.bulk_create([AuditEntry(**entry) for entry in batch], batch_size=INSERT_BATCH)


async def flush() -> int:
    """Write what is queued; returns rows written. A batch the database refuses for its data is written again in
    halves, down to single rows, so that one bad row costs that row alone; a batch that fails otherwise (the
    database is down) is dropped whole. Dropped rows are counted; their log lines have them."""
    batch = _queue[:]
    _queue.clear()
    if not batch:
        return 0
    return await _write_or_split(batch)


async def _write_or_split(batch: list[dict[str, Any]]) -> int:
    try:
        await run_in("database", write, batch)
    except (DataError, IntegrityError) as exc:
        if len(batch) > 1:
            middle = len(batch) // 2
            return await _write_or_split(batch[:middle]) + await _write_or_split(batch[middle:])
        DROPPED.labels("write_failed").inc()
        problems.warning("audit row of %s refused: %s: %s", batch[0].get("tool"), exc.__class__.__name__, exc)
        return 0
    except Exception as exc:
        DROPPED.labels("write_failed").inc(len(batch))
        problems.warning("audit batch of %d rows failed: %s: %s", len(batch), exc.__class__.__name__, exc)
        return 0
    return len(batch)


def _delete_in_batches(rows: QuerySet[AuditEntry]) -> int:
    """Delete `rows` PRUNE_BATCH at a time, oldest first, at most PRUNE_BATCHES statements."""
    total = 0
    for _ in range(PRUNE_BATCHES):
        chunk = rows.order_by("pk").values("pk")[:PRUNE_BATCH]
        deleted, _ = AuditEntry.objects.filter(pk__in=Subquery(chunk)).delete()
        total += deleted
        if deleted < PRUNE_BATCH:
            break
    return total


def prune() -> int:
    """Delete rows past the retention, then the oldest past the row cap (in the database pool); returns how many.

    A limit of 0 is no limit. The cap's exact query (the newest row past it: an index walk of `cap` entries) runs
    only when two index lookups cannot rule it out: fewer than `cap` ids between the oldest and newest row."""
    close_old_connections()
    deleted = 0
    if settings.OPS_AUDIT_RETENTION_DAYS > 0:
        cutoff = datetime.now(UTC) - timedelta(days=settings.OPS_AUDIT_RETENTION_DAYS)
        deleted += _delete_in_batches(AuditEntry.objects.filter(at__lt=cutoff))
    cap = settings.OPS_AUDIT_MAX_ROWS
    if cap <= 0:
        return deleted
    span = AuditEntry.objects.aggregate(oldest=Min("pk"), newest=Max("pk"))
    if span["newest"] is None or span["newest"] - span["oldest"] < cap:
        return deleted  # ids are unique: at most `cap` rows between them
    # The newest row past the cap (rows are numbered as they are written): it and every older row go.
    past_cap = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True)[cap : cap + 1]
    newest_past = next(iter(past_cap), None)
    if newest_past is not None:
        deleted += _delete_in_batches(AuditEntry.objects.filter(pk__lte=newest_past))
    return deleted


async def write_loop() -> None:
    """The "audit-writer" loop: a batch every OPS_AUDIT_FLUSH seconds, a retention round every OPS_AUDIT_PRUNE_EVERY.

    A failed round is logged and the next comes on time (the supervisor's growing pause would let the queue fill).
    Stopped (the server shuts down), it writes what is queued first, for FINAL_FLUSH seconds at most."""
    pruned_at = -float("inf")
    try:
        while True:
            await asyncio.sleep(settings.OPS_AUDIT_FLUSH)
            await flush()
            if time.monotonic() - pruned_at >= settings.OPS_AUDIT_PRUNE_EVERY:
                pruned_at = time.monotonic()
                try:
                    await run_in("database", prune)
                except Exception as exc:
                    problems.warning("audit retention round failed: %s: %s", exc.__class__.__name__, exc)
    except asyncio.CancelledError:
        try:
            await asyncio.wait_for(flush(), FINAL_FLUSH)
        except TimeoutError:
            problems.warning("audit rows still queued at shutdown were not written within %s s", FINAL_FLUSH)
        raise
