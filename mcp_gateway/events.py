"""Resumable event streams for Streamable HTTP: numbered events, a bounded replay buffer, live readers.

An event id is `<stream id>_<sequence>`, so a `Last-Event-ID` alone says which stream to resume
and from where. A stream outlives the HTTP response that carried it, so a client that lost the
connection can GET the rest (spec: resumability and redelivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcp_gateway import jsonrpc, replay
from mcp_gateway.replay import STREAM_LINGER

FINISHED_KEPT = 64  # finished streams a session keeps replayable at most (the newest ones)
FINISHED_BYTES = 8 * 1024 * 1024  # default bytes of finished streams a session keeps replayable

# (session id, API key name) a stream belongs to: only that session may resume it.
Owner = tuple[str, str]
# Every live stream of this process by id, so a Last-Event-ID naming another session's stream is refused.
_streams: weakref.WeakValueDictionary[str, EventStream] = weakref.WeakValueDictionary()


def owner_of(stream_id: str) -> Owner | None:
    """The owner of a stream this process still holds (None when unknown here)."""
    stream = _streams.get(stream_id)
    return stream.owner if stream is not None else None


class EventStream:
    def __init__(self, capacity: int, stream_id: str | None = None, owner: Owner | None = None) -> None:
        self.id = stream_id or secrets.token_hex(6)
        self.owner = owner
        self.buffer: deque[tuple[int, dict[str, Any]]] = deque(maxlen=capacity)
        self.seq = 0
        self.size = 0  # bytes of the messages published (pings aside): what replaying it may cost
        self.closed = False
        self.closed_at = 0.0
        self._wakeup = asyncio.Event()
        self.recorder: replay.Recorder | None = None  # when events are kept in Redis too
        self._ping: tuple[int, dict[str, Any]] | None = None  # the newest ping in the buffer
        # Told the stream once it closes (StreamSet keeps finished ones in order).
        self.on_close: Callable[[EventStream], None] | None = None

    def event_id(self, seq: int) -> str:
        return f"{self.id}_{seq}"

    def publish(self, message: dict[str, Any]) -> str:
        self.seq += 1
        entry = (self.seq, message)
        if message.get("method") == "ping":
            # Only the newest ping is worth replaying: keeping every one filled each idle stream's
            # buffer with up to MCP_EVENT_REPLAY pings (~0.27 KiB each, bench.connections).
            if self._ping is not None:
                with contextlib.suppress(ValueError):
                    self.buffer.remove(self._ping)
            self._ping = entry
        else:
            self.size += len(jsonrpc.dumps_bytes(message))
        self.buffer.append(entry)
        self._wakeup.set()
        if self.recorder is not None:
            self.recorder.record(self.seq, message)
        return self.event_id(self.seq)

    def close(self) -> None:
        if self.closed:
            return
        if self.recorder is not None:
            self.recorder.close()
        self.closed = True
        self.closed_at = time.monotonic()
        self._wakeup.set()
        if self.on_close is not None:
            self.on_close(self)

    async def read(self, after: int = 0) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield (event id, message) after sequence `after`, then live ones until closed."""
        last = after
        while True:
            for seq, message in list(self.buffer):
                if seq > last:
                    last = seq
                    yield self.event_id(seq), message
            if self.closed:
                return
            self._wakeup.clear()
            if self.seq > last:
                continue
            await self._wakeup.wait()


def parse_event_id(value: str) -> tuple[str, int] | None:
    stream_id, sep, seq = value.rpartition("_")
    if not sep or not seq.isdigit() or not stream_id:
        return None
    return stream_id, int(seq)


class StreamSet:
    """The event streams of one session; finished ones stay replayable for STREAM_LINGER seconds,
    the newest FINISHED_KEPT of them and `budget` bytes at most, so a busy session's memory and sweep
    stay bounded (a client that never reads its answers leaves them all here)."""

    def __init__(self, capacity: int, owner: Owner | None = None, budget: int = FINISHED_BYTES) -> None:
        self.capacity = capacity
        self.owner = owner
        self.budget = budget
        self.streams: dict[str, EventStream] = {}
        self.finished: deque[EventStream] = deque()  # in the order they closed
        self.finished_bytes = 0

    def open(self) -> EventStream:
        self._sweep()
        stream = EventStream(self.capacity, owner=self.owner)
        stream.on_close = self._finished
        self.streams[stream.id] = stream
        _streams[stream.id] = stream
        if replay.enabled():
            stream.recorder = replay.Recorder(stream.id, self.owner)
        return stream

    def get(self, stream_id: str) -> EventStream | None:
        return self.streams.get(stream_id)

    def close_all(self) -> None:
        for stream in list(self.streams.values()):
            stream.close()

    def _finished(self, stream: EventStream) -> None:
        self.finished.append(stream)
        self.finished_bytes += stream.size
        self._sweep()

    def _sweep(self) -> None:
        """Drop the oldest finished streams: O(1) per stream dropped, whatever the session's history."""
        expired = time.monotonic() - STREAM_LINGER
        finished = self.finished
        while finished and (
            len(finished) > FINISHED_KEPT or self.finished_bytes > self.budget or finished[0].closed_at < expired
        ):
            dropped = finished.popleft()
            self.finished_bytes -= dropped.size
            self.streams.pop(dropped.id, None)
