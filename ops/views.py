"""Health endpoints: liveness, and readiness of the database, cache and channel layer.

Readiness tells anonymous callers only which part fails; the reason (an address, an exception's text)
goes to the log, and to staff. The database check writes (in a transaction rolled back) with a short
lock wait, so a database locked or made read-only by someone else shows as not ready.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from awsmcp.pools import run_in
from ops.metrics import render

READY_TIMEOUT = 3.0
WRITE_WAIT_MS = 1000  # how long the database check waits for a write lock held elsewhere
log = logging.getLogger(__name__)


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    """A write the database must accept now: SQLite's write lock taken and let go; elsewhere, a writable
    transaction (not a read-only replica or a read-only session)."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout")
            usual = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
            try:
                if connection.in_atomic_block:
                    raise RuntimeError("a transaction is already open on this connection")
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {usual}")
        elif connection.vendor == "postgresql":
            cursor.execute("SHOW transaction_read_only")
            if cursor.fetchone()[0] != "off":
                raise RuntimeError("the database accepts no writes (read-only transaction)")
        else:
            cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, 1, 5)
    if cache.get(key) != 1:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "readyz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "readyz.ping":
        raise RuntimeError("channel layer returned another message")


async def _is_staff(request: HttpRequest) -> bool:
    if not request.COOKIES:
        return False  # no session: anonymous, without a database query
    try:
        user = await asyncio.wait_for(request.auser(), READY_TIMEOUT)
    except Exception:
        return False
    return bool(user.is_staff)


async def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": run_in("database", _check_database),
        "cache": run_in("database", _check_cache),
        "channel_layer": _check_channel_layer(),
    }
    results: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_TIMEOUT)
            results[name] = "ok"
        except Exception as exc:  # every failure is reported, by part; its reason is logged
            results[name] = "failing"
            reasons[name] = f"{exc.__class__.__name__}: {exc}"[:300] if str(exc) else exc.__class__.__name__
            log.warning("readiness: %s failing: %s", name, reasons[name])
    ready = not reasons
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": results}
    if reasons and await _is_staff(request):
        body["reasons"] = reasons
    return JsonResponse(body, status=200 if ready else 503)


async def metrics(request: HttpRequest) -> HttpResponse:
    body, content_type = await run_in("database", render)
    return HttpResponse(body, content_type=content_type)
