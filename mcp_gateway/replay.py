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
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

import redis.asyncio
from django.conf import settings

from awsmcp.breaker import SLOW_CALL, breaker, timed_out

log = logging.getLogger(__name__)
T = TypeVar("T")
STREAM_LINGER = 120.0  # seconds a finished stream stays replayable, in this process and in Redis
PREFIX = "awsmcp:events:"
OWNER_SUFFIX = ":owner"  # beside each stream: [session id, key name], the only session that may resume it
FOLLOW_BOUND = 600.0  # seconds a resumed stream is followed at most


@cache
def _client() -> Any:
    """The process's asyncio Redis client for event copies (the caches' clients block); its socket timeout outlasts
    the one-second XREAD of `follow`."""
    return redis.asyncio.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=2)


def enabled() -> bool:
    return bool(settings.REDIS_URL)


async def _through_breaker(operation: str, call: Callable[[], Awaitable[T]], default: T) -> T:
    """One call whose failure only loses a copy, through the process's Redis breaker: `default` while the breaker
    is tripped (patient: not merely while another call is slow) or when the call fails, which trips it."""
    guard = breaker("redis")
    if not guard.available(mind_slow=False):
        return default
    started = time.monotonic()
    try:
        return await call()
    except Exception as exc:
        guard.trip(f"event replay {operation}", exc, timed_out(exc) or time.monotonic() - started > SLOW_CALL)
        return default


WAITING_EVENTS_PER_KEPT = 10  # a burst of small events waits; only a stalled Redis makes this many wait
_GIVEN_UP = (-1, "")  # the queue's last item once a recorder stopped recording


class Recorder:
    """Appends one stream's events to Redis, in order, without holding up the stream.

    Events wait in memory while Redis takes them; when Redis does not keep up (stalled), past MCP_EVENT_REPLAY_BYTES
    (or WAITING_EVENTS_PER_KEPT x MCP_EVENT_REPLAY events) waiting, the recorder gives up: the events waiting are
    dropped and the copy in Redis removed (nobody resumes a stream with a gap), and the stream can be resumed only
    where it runs."""

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
        """The stream's writer: a task of its own that ends with the stream (per-stream work, not a background
        loop), and never raises: a failed write is logged and only costs the copy."""
        while True:
            item = await self.queue.get()
            if item == _GIVEN_UP:
                # Skipped or failed (the breaker logs it), the copy still expires after STREAM_LINGER.
                await _through_breaker("delete", lambda: _client().delete(self.key, self.key + OWNER_SUFFIX), None)
                return
            if item is None:
                await self._append({"seq": 0, "end": 1})
                return
            self.queued_bytes -= len(item[1])
            await self._append({"seq": 0, "open": 1} if item[0] == 0 else {"seq": item[0], "data": item[1]})

    async def _append(self, fields: dict[str, Any]) -> None:
        """One entry, in one round trip. Not skipped while the Redis breaker is open: the write waits for Redis
        (the events behind it bounded by `record`), since a skipped entry would leave a gap in the copy."""
        try:
            # The owner is a key of its own (the stream's first entry is trimmed away on long streams), its
            # expiry renewed with the stream's.
            pipe = _client().pipeline(transaction=False)
            pipe.xadd(self.key, fields, maxlen=settings.MCP_EVENT_REPLAY + 1, approximate=True)
            pipe.expire(self.key, int(STREAM_LINGER))
            if self.owner is not None:
                pipe.set(self.key + OWNER_SUFFIX, json.dumps(list(self.owner)), ex=int(STREAM_LINGER))
            await pipe.execute()
        except Exception as exc:  # Redis down: this stream just cannot be resumed elsewhere
            log.warning("event replay write failed: %s: %s", exc.__class__.__name__, exc)


async def owner(stream_id: str) -> tuple[str, str] | None:
    """(session id, key name) of a stream kept in Redis; None when it is not there (or Redis is unreachable)."""
    if not enabled():
        return None
    raw = await _through_breaker("lookup", lambda: _client().get(PREFIX + stream_id + OWNER_SUFFIX), None)
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
