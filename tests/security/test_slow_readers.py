"""A client that stops reading cannot make the server hold its answers: past MCP_STREAM_BUFFER_BYTES unsent
bytes its connection is cut (awsmcp.compat), on every transport, against a real Daphne.

Each attack is a raw client whose socket has a small receive buffer and is never read, while it asks for
calls with large answers (read_documentation of a large fixture page with a large max_length). Measured:
the server's RSS growth, the connection closed with a log line, what later requests get, and a witness
session's cached reads."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.footprint import Footprint
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import initialize_request, request, streamable_session
from tests.support.witness import Witness

BUFFER = 2 * 1024 * 1024  # MCP_STREAM_BUFFER_BYTES of the server under test
CALLS = 200
LARGE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"
CLOSED_LOG = "its client stopped reading"
RSS_BOUND = 16 * 1024 * 1024
# A session's Streamable HTTP answers outlive their connection for resumption: the calls Twisted had
# already read from the pipeline are answered and kept, within the session's MCP_EVENT_REPLAY_BYTES.
REPLAY_BYTES = 2 * 1024 * 1024
STREAMABLE_RSS_BOUND = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def server(origin: OriginServer) -> Iterator[DaphneServer]:
    with daphne(
        **origin.settings_env(), MCP_STREAM_BUFFER_BYTES=str(BUFFER), MCP_EVENT_REPLAY_BYTES=str(REPLAY_BYTES)
    ) as srv:
        yield srv
        assert srv.alive(), srv.log()


def large_call(msg_id: int) -> dict[str, Any]:
    return request(
        "tools/call", {"name": "read_documentation", "arguments": {"url": LARGE, "max_length": 999_999}}, msg_id
    )


def deaf_socket(port: int) -> socket.socket:
    """A client socket with a small receive buffer, which the test never drains."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send what the server takes; False once it has cut the connection (or stopped reading for 10 s)."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def cut_off(sock: socket.socket, within: float = 10.0) -> bool:
    """The server has closed the connection: reading to the end meets a reset or EOF in time."""
    sock.settimeout(within)
    try:
        while sock.recv(1 << 20):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


async def warm(server: DaphneServer) -> int:
    """Fetch the large page once, so the attack is of cached reads; returns its answer's size in bytes."""
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await streamable_session(http, server.mcp_url)
        reply = await http.post(server.mcp_url, json=large_call(1), headers={**headers, "accept": "application/json"})
        assert reply.status_code == 200 and not reply.json()["result"].get("isError"), reply.text[:300]
        return len(reply.content)


async def logged(server: DaphneServer, text: str, count: int, within: float = 10.0) -> bool:
    """The server's log holds `text` `count` times, within a few seconds."""
    deadline = time.monotonic() + within
    while server.log().count(text) < count and time.monotonic() < deadline:  # noqa: ASYNC110 - a file, no event
        await asyncio.sleep(0.1)
    return server.log().count(text) >= count


async def test_an_unread_legacy_sse_stream_is_closed_and_its_session_ended(server: DaphneServer) -> None:
    answer = await warm(server)
    closed_before = server.log().count(CLOSED_LOG)
    deaf = deaf_socket(server.port)
    deaf.sendall(b"GET /mcp/sse HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n")
    head = b""
    while b"session_id=" not in head or b"\n" not in head.split(b"session_id=")[1]:
        head += deaf.recv(4096)
    session_id = head.split(b"session_id=")[1].split(b"\n")[0].decode()
    post_url = f"{server.base}/mcp/message?session_id={session_id}"
    statuses: list[int] = []
    async with Witness(server) as witness, httpx.AsyncClient(timeout=20) as http:
        with Footprint(server.proc.pid) as footprint:
            assert (await http.post(post_url, json=initialize_request("2024-11-05"))).status_code == 202
            await http.post(post_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            for msg_id in range(1, CALLS + 1):
                statuses.append((await http.post(post_url, json=large_call(msg_id))).status_code)
                if statuses[-1] == 404:
                    break
            closed = await logged(server, CLOSED_LOG, closed_before + 1)
            later = (await http.post(post_url, json=request("ping", msg_id=9999))).status_code
    report = f"{footprint}; answers of {answer} bytes; statuses {statuses.count(202)}x202 then {statuses[-1]}"
    print("legacy SSE:", report)
    assert closed, report
    assert later == 404, report  # the session ended with its stream
    assert 404 in statuses and statuses.count(202) * answer < CALLS * answer // 2, report
    assert footprint.rss_growth < RSS_BOUND, report
    assert cut_off(deaf), report
    witness.assert_unharmed()


async def test_pipelined_streamable_answers_never_read_close_the_connection(server: DaphneServer) -> None:
    answer = await warm(server)
    closed_before = server.log().count(CLOSED_LOG)
    async with httpx.AsyncClient(timeout=20) as http:
        headers = await streamable_session(http, server.mcp_url)
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "accept": "text/event-stream, application/json"}.items())
    requests = b""
    for msg_id in range(1, CALLS + 1):
        body = json.dumps(large_call(msg_id)).encode()
        requests += (
            f"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{head}"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body
    deaf = deaf_socket(server.port)
    async with Witness(server) as witness:
        with Footprint(server.proc.pid) as footprint:
            await asyncio.to_thread(send_quietly, deaf, requests)
            closed = await logged(server, CLOSED_LOG, closed_before + 1)
            await asyncio.sleep(0.5)
    report = f"{footprint}; answers of {answer} bytes"
    print("Streamable HTTP:", report)
    assert closed, report
    assert footprint.rss_growth < STREAMABLE_RSS_BOUND, report
    assert cut_off(deaf), report
    witness.assert_unharmed()


def ws_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client must send."""
    mask = os.urandom(4)
    size = len(payload)
    header = struct.pack("!B", 0x81)
    if size < 126:
        header += struct.pack("!B", 0x80 | size)
    elif size < 1 << 16:
        header += struct.pack("!BH", 0x80 | 126, size)
    else:
        header += struct.pack("!BQ", 0x80 | 127, size)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_an_unread_websocket_is_closed(server: DaphneServer) -> None:
    answer = await warm(server)
    closed_before = server.log().count(CLOSED_LOG)
    deaf = deaf_socket(server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    deaf.sendall(
        (
            "GET /mcp/ws HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
            f"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: mcp\r\n\r\n"
        ).encode()
    )
    handshake = b""
    while b"\r\n\r\n" not in handshake:
        handshake += deaf.recv(4096)
    assert handshake.startswith(b"HTTP/1.1 101"), handshake
    frames = [initialize_request(), {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    frames += [large_call(msg_id) for msg_id in range(1, CALLS + 1)]
    async with Witness(server) as witness:
        with Footprint(server.proc.pid) as footprint:
            for frame in frames:
                if not await asyncio.to_thread(send_quietly, deaf, ws_frame(json.dumps(frame).encode())):
                    break
                await asyncio.sleep(0.005)
            closed = await logged(server, CLOSED_LOG, closed_before + 1)
            await asyncio.sleep(0.5)
    report = f"{footprint}; answers of {answer} bytes"
    print("WebSocket:", report)
    assert closed, report
    assert footprint.rss_growth < RSS_BOUND, report
    assert cut_off(deaf), report
    witness.assert_unharmed()


async def test_one_answer_larger_than_the_bound_reaches_a_client_that_reads(server: DaphneServer) -> None:
    """The bound judges what is left unsent from earlier messages: a single large answer is never cut."""
    answer = await warm(server)
    batch = [large_call(msg_id) for msg_id in range(1, 33)]  # MCP_MAX_BATCH
    assert 32 * answer > 3 * BUFFER
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await streamable_session(http, server.mcp_url, version="2025-03-26")  # batches allowed
        reply = await http.post(server.mcp_url, json=batch, headers={**headers, "accept": "application/json"})
    assert reply.status_code == 200 and len(reply.content) > BUFFER
    assert sorted(item["id"] for item in reply.json()) == list(range(1, 33))
