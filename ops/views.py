"""Health endpoints: liveness, and readiness of the database, cache and channel layer."""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

READY_TIMEOUT = 3.0


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
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


async def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": sync_to_async(_check_database)(),
        "cache": sync_to_async(_check_cache)(),
        "channel_layer": _check_channel_layer(),
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_TIMEOUT)
            results[name] = "ok"
        except Exception as exc:  # every failure is reported, by part
            results[name] = f"failing: {exc.__class__.__name__}: {exc}"[:200]
    ready = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": results}, status=200 if ready else 503)


async def metrics(request: HttpRequest) -> HttpResponse:
    from ops.metrics import render

    body, content_type = await sync_to_async(render, thread_sensitive=False)()
    return HttpResponse(body, content_type=content_type)
