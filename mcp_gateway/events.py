"""Resumable event streams for Streamable HTTP: numbered events, a bounded replay buffer, live readers.

An event id is `<stream id>_<sequence>`, so a `Last-Event-ID` alone says which stream to resume
and from where. A stream outlives the HTTP response that carried it, so a client that lost the
connection can GET the rest (spec: resumability and redelivery).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

STREAM_LINGER = 120.0  # seconds a finished stream stays replayable


class EventStream:
    def __init__(self, capacity: int, stream_id: str | None = None) -> None:
        self.id = stream_id or secrets.token_hex(6)
        self.buffer: deque[tuple[int, dict[str, Any]]] = deque(maxlen=capacity)
        self.seq = 0
        self.closed = False
        self.closed_at = 0.0
        self._wakeup = asyncio.Event()
        self.recorder: Any = None  # mcp_gateway.replay.Recorder when events are kept in Redis too

    def event_id(self, seq: int) -> str:
        return f"{self.id}_{seq}"

    def publish(self, message: dict[str, Any]) -> str:
        self.seq += 1
        self.buffer.append((self.seq, message))
        self._wakeup.set()
        if self.recorder is not None:
            self.recorder.record(self.seq, message)
        return self.event_id(self.seq)

    def close(self) -> None:
        if not self.closed and self.recorder is not None:
            self.recorder.close()
        self.closed = True
        self.closed_at = time.monotonic()
        self._wakeup.set()

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
    """The event streams of one session, with finished ones dropped after a while."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.streams: dict[str, EventStream] = {}

    def open(self) -> EventStream:
        self._sweep()
        stream = EventStream(self.capacity)
        self.streams[stream.id] = stream
        from mcp_gateway import replay

        if replay.enabled():
            stream.recorder = replay.Recorder(stream.id)
        return stream

    def get(self, stream_id: str) -> EventStream | None:
        return self.streams.get(stream_id)

    def close_all(self) -> None:
        for stream in self.streams.values():
            stream.close()

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self.streams.items() if s.closed and now - s.closed_at > STREAM_LINGER]:
            del self.streams[key]
