"""Event streams of a Streamable HTTP session: finished ones stay replayable, within bounds."""

from __future__ import annotations

import time

import pytest

from mcp_gateway import events
from mcp_gateway.events import FINISHED_KEPT, StreamSet


def test_a_busy_session_keeps_only_the_newest_finished_streams() -> None:
    streams = StreamSet(capacity=8)
    live = streams.open()
    finished = []
    for n in range(FINISHED_KEPT * 3):
        stream = streams.open()
        stream.publish({"jsonrpc": "2.0", "id": n, "result": {}})
        stream.close()
        finished.append(stream.id)
    streams.open()  # opening sweeps
    assert streams.get(live.id) is live  # an open stream is never dropped
    kept = [i for i in finished if streams.get(i) is not None]
    assert kept == finished[-FINISHED_KEPT:]
    assert len(streams.streams) == FINISHED_KEPT + 2


def test_finished_streams_expire_after_the_linger_time(monkeypatch: pytest.MonkeyPatch) -> None:
    streams = StreamSet(capacity=8)
    old = streams.open()
    old.close()
    assert streams.get(old.id) is old  # still replayable right after it ends
    later = time.monotonic() + events.STREAM_LINGER + 1
    monkeypatch.setattr(events.time, "monotonic", lambda: later)
    streams.open()
    assert streams.get(old.id) is None


def test_closing_twice_records_the_stream_once() -> None:
    streams = StreamSet(capacity=8)
    stream = streams.open()
    stream.close()
    stream.close()
    assert list(streams.finished) == [stream]


def test_an_idle_stream_keeps_only_its_newest_ping_for_replay() -> None:
    stream = StreamSet(capacity=200).open()
    stream.publish({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    for n in range(50):
        stream.publish({"jsonrpc": "2.0", "id": n, "method": "ping"})
    kept = [message for _seq, message in stream.buffer]
    assert kept == [
        {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
        {"jsonrpc": "2.0", "id": 49, "method": "ping"},
    ]
    assert stream.seq == 51  # event ids still count every event


def test_finished_streams_kept_within_the_session_byte_budget() -> None:
    """Answers a client never read stay replayable only up to the session's budget (newest kept)."""
    streams = StreamSet(capacity=10, budget=2_000)
    opened = []
    for n in range(6):
        stream = streams.open()
        stream.publish({"jsonrpc": "2.0", "id": n, "result": {"text": "x" * 600}})
        stream.publish({"jsonrpc": "2.0", "method": "ping", "id": f"p{n}"})  # pings cost nothing here
        stream.close()
        opened.append(stream)
    assert streams.finished_bytes <= 2_000
    kept = [s for s in opened if streams.get(s.id) is not None]
    assert kept == opened[-len(kept) :] and 1 <= len(kept) < len(opened)
    assert streams.finished_bytes == sum(s.size for s in kept)
