"""Request bodies over MCP_MAX_BODY_BYTES are refused where Twisted receives them (awsmcp.compat), against
a real Daphne: a declared length from the headers, a chunked body as soon as it passes the limit.

Measured: the time to the 413 (the server answers before the client has sent the body), the bytes the
client got to send, the server's open temp-file bytes (TMPDIR is a fresh folder) and its RSS growth, while
a witness session keeps reading."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.admin import logged_in
from tests.support.footprint import Footprint
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne
from tests.support.raw import request, streamable_session
from tests.support.witness import Witness

LIMIT = 1024 * 1024
UPLOAD = 128 * 1024 * 1024  # what each hostile client tries to send
BLOCK = 64 * 1024


@pytest.fixture(scope="module")
def tmpdir_of_server() -> Path:
    return Path(tempfile.mkdtemp(prefix="awsmcp-tmpdir-"))


@pytest.fixture(scope="module")
def server(origin: OriginServer, tmpdir_of_server: Path) -> Iterator[DaphneServer]:
    with daphne(**origin.settings_env(), MCP_MAX_BODY_BYTES=str(LIMIT), TMPDIR=str(tmpdir_of_server)) as srv:
        yield srv
        assert srv.alive(), srv.log()


@dataclass
class Upload:
    answer: bytes = b""
    sent: int = 0
    seconds_to_answer: float | None = None
    reset: bool = False

    @property
    def status(self) -> int:
        return int(self.answer.split(b" ", 2)[1]) if self.answer.startswith(b"HTTP/1.1 ") else 0

    @property
    def message(self) -> str:
        body = self.answer.partition(b"\r\n\r\n")[2]
        return json.loads(body)["error"]["message"]


def upload(port: int, path: str, total: int, chunked: bool, send_body: bool = True) -> Upload:
    """A client that sends headers, then as much of the body as the server lets it, reading the answer
    as soon as there is one. Blocking sockets, meant for a thread."""
    framing = b"transfer-encoding: chunked" if chunked else b"content-length: %d" % total
    head = b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n%s\r\n\r\n" % (
        path.encode(),
        framing,
    )
    result = Upload()
    started = time.monotonic()
    block = (b"%x\r\n" % BLOCK + b"x" * BLOCK + b"\r\n") if chunked else b"x" * BLOCK
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        pending = memoryview(block)
        while time.monotonic() - started < 20:
            want_write = send_body and result.sent < total
            readable, writable, _ = select.select([sock], [sock] if want_write else [], [], 0.5)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    result.reset = True
                    break
                if not data:
                    break
                if not result.answer:
                    result.seconds_to_answer = time.monotonic() - started
                result.answer += data
                continue
            if writable:
                try:
                    written = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    result.reset = True
                    break
                pending = pending[written:]
                if not pending:
                    result.sent += BLOCK
                    pending = memoryview(block)
            elif not want_write and result.answer:
                break
    return result


async def test_a_declared_length_over_the_limit_is_refused_from_the_headers(server: DaphneServer) -> None:
    """Headers only, no body byte sent: the 413 comes anyway, on every route, and says why."""
    for path in ("/mcp", "/mcp/message?session_id=nothing", "/admin/login/", "/healthz"):
        refused = await asyncio.to_thread(upload, server.port, path, 1 << 30, False, False)
        assert refused.status == 413, (path, refused.answer[:200])
        assert refused.seconds_to_answer is not None and refused.seconds_to_answer < 2.0
        assert f"the limit is {LIMIT} bytes" in refused.message
        assert b"connection: close" in refused.answer.lower()


async def test_huge_uploads_are_cut_off_without_temp_files_or_memory(
    server: DaphneServer, tmpdir_of_server: Path
) -> None:
    """Four clients each try to send 128 MiB (two declared, two chunked) while a witness reads: each is
    answered 413 having sent a small part, nothing is spooled beyond the limit, memory stays flat."""
    async with Witness(server) as witness:
        with Footprint(server.proc.pid, tmpdir_of_server) as footprint:
            uploads = await asyncio.gather(
                *(
                    asyncio.to_thread(upload, server.port, "/mcp", UPLOAD, chunked)
                    for chunked in (False, True, False, True)
                )
            )
            await asyncio.sleep(0.5)
    report = f"{footprint}; sent {[u.sent // 2**20 for u in uploads]} MiB; {[u.seconds_to_answer for u in uploads]}"
    print(report)
    for one in uploads:
        assert one.status == 413, report
        assert one.sent < UPLOAD // 4, report  # cut off long before the end
    assert footprint.peak_temp_bytes <= 2 * LIMIT, report
    assert footprint.rss_growth < 48 * 2**20, report
    witness.assert_unharmed()
    assert server.alive()


async def test_bodies_within_the_limit_still_work(server: DaphneServer) -> None:
    async with httpx.AsyncClient(timeout=20) as http:
        headers = await streamable_session(http, server.mcp_url)
        padded = request("ping", {"pad": "x" * (LIMIT - 200)})
        body = json.dumps(padded).encode()
        assert len(body) < LIMIT
        assert (await http.post(server.mcp_url, content=body, headers=headers)).status_code == 200

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 50_000):
                yield body[start : start + 50_000]

        chunked = await http.post(server.mcp_url, content=chunks(), headers=headers)  # no length: chunked
        assert chunked.status_code == 200 and chunked.json()["result"] == {}
        over = await http.post(server.mcp_url, content=body + b" " * LIMIT, headers=headers)
        assert over.status_code == 413  # and the next request, on a new connection, is served
        assert (await http.post(server.mcp_url, json=request("ping"), headers=headers)).status_code == 200
    admin = await logged_in(server)  # the login form is a POST through the same layer
    assert (await admin.get("/admin/")).status_code == 200
    await admin.aclose()
