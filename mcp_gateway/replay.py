"""Streamable HTTP events kept in Redis, so a stream can be resumed with Last-Event-ID on any process.

With REDIS_URL set, every event of a Streamable HTTP stream is also appended to a Redis Stream
(`awsmcp:events:<stream id>`, bounded to MCP_EVENT_REPLAY entries and expiring after STREAM_LINGER),
with a last entry marking the stream's end. A GET with Last-Event-ID on a process that does not hold
the stream replays from there and follows it until it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

from django.conf import settings

from mcp_gateway.events import STREAM_LINGER

log = logging.getLogger(__name__)
PREFIX = "awsmcp:events:"
OWNER_SUFFIX = ":owner"  # beside each stream: [session id, key name], the only session that may resume it
FOLLOW_BOUND = 600.0  # seconds a resumed stream is followed at most


@cache
def _client() -> Any:
    import redis.asyncio

    return redis.asyncio.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=2)


def enabled() -> bool:
    return bool(settings.REDIS_URL)


WAITING_EVENTS_PER_KEPT = 10  # a burst of small events waits; only a stalled Redis makes this many wait
_GIVEN_UP = (-1, "")  # the queue's last item once a recorder stopped recording


class Recorder:
    """Appends one stream's events to Redis, in order, without holding up the stream.

    Events wait in memory while Redis takes them; when Redis does not keep up (stalled), past MCP_EVENT_REPLAY_BYTES
    (or WAITING_EVENTS_PER_KEPT x MCP_EVENT_REPLAY events) waiting, the recorder gives up: the events waiting are dropped and the copy
    in Redis removed (nobody resumes a stream with a gap), and the stream can be resumed only where it runs."""

    def __init__(self, stream_id: str, owner: tuple[str, str] | None = None) -> None:
        self.key = PREFIX + stream_id
        self.owner = owner
        self.queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self.queued_bytes = 0
        self.given_up = False
        self.queue.put_nowait((0, ""))  # the stream exists from its start, before any event
        self.task = asyncio.get_running_loop().create_task(self._write())

    def record(self, seq: int, message: dict[str, Any]) -> None:
        if self.given_up:
            return
        data = json.dumps(message, separators=(",", ":"))
        if (
            self.queue.qsize() >= settings.MCP_EVENT_REPLAY * WAITING_EVENTS_PER_KEPT
            or self.queued_bytes + len(data) > settings.MCP_EVENT_REPLAY_BYTES
        ):
            self._give_up()
            return
        self.queued_bytes += len(data)
        self.queue.put_nowait((seq, data))

    def close(self) -> None:
        if not self.given_up:
            self.queue.put_nowait(None)

    def _give_up(self) -> None:
        log.warning(
            "event replay of %s stopped: Redis is not taking its events (%d waiting)", self.key, self.queue.qsize()
        )
        self.given_up = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0
        self.queue.put_nowait(_GIVEN_UP)

    async def _write(self) -> None:
        client = _client()
        while True:
            item = await self.queue.get()
            if item == _GIVEN_UP:
                try:
                    await client.delete(self.key, self.key + OWNER_SUFFIX)
                except Exception as exc:  # it expires after STREAM_LINGER anyway
                    log.warning("event replay delete failed: %s: %s", exc.__class__.__name__, exc)
                return
            if item is not None:
                self.queued_bytes -= len(item[1])
            if item is None:
                fields: dict[str, Any] = {"seq": 0, "end": 1}
            elif item[0] == 0:
                fields = {"seq": 0, "open": 1}
            else:
                fields = {"seq": item[0], "data": item[1]}
            try:
                # One round trip; the owner is a key of its own (the stream's first entry is trimmed away on
                # long streams), its expiry renewed with the stream's.
                pipe = client.pipeline(transaction=False)
                pipe.xadd(self.key, fields, maxlen=settings.MCP_EVENT_REPLAY + 1, approximate=True)
                pipe.expire(self.key, int(STREAM_LINGER))
                if self.owner is not None:
                    pipe.set(self.key + OWNER_SUFFIX, json.dumps(list(self.owner)), ex=int(STREAM_LINGER))
                await pipe.execute()
            except Exception as exc:  # Redis down: this stream just cannot be resumed elsewhere
                log.warning("event replay write failed: %s: %s", exc.__class__.__name__, exc)
            if item is None:
                return


async def owner(stream_id: str) -> tuple[str, str] | None:
    """(session id, key name) of a stream kept in Redis; None when it is not there (or Redis is unreachable)."""
    if not enabled():
        return None
    try:
        raw = await _client().get(PREFIX + stream_id + OWNER_SUFFIX)
    except Exception as exc:
        log.warning("event replay lookup failed: %s: %s", exc.__class__.__name__, exc)
        return None
    if raw is None:
        return None
    session_id, key_name = json.loads(raw)
    return str(session_id), str(key_name)


async def follow(stream_id: str, after: int) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """(sequence, message) after `after`, then new ones as they come, until the stream's end."""
    client = _client()
    key = PREFIX + stream_id
    last_id = "0-0"
    deadline = asyncio.get_running_loop().time() + FOLLOW_BOUND
    while asyncio.get_running_loop().time() < deadline:
        batch = await client.xread({key: last_id}, block=1000, count=100)
        streams = batch.items() if isinstance(batch, dict) else (batch or [])  # RESP3 answers a dict, RESP2 a list
        for _key, entries in streams:
            for entry_id, fields in entries:
                last_id = entry_id
                if fields.get(b"end"):
                    return
                seq = int(fields[b"seq"])
                if seq > after and b"data" in fields:
                    yield seq, json.loads(fields[b"data"])
