"""A load generator on raw asyncio sockets that times every call exactly, on each MCP transport.

wrk's latency percentiles disagree with its own request counts on this machine (a p95 of 20 ms at
one connection doing 2,800 requests a second), and httpx spends more CPU per call than the server
we measure. This client writes prebuilt bytes and parses only what it must: status, headers,
Content-Length or chunked bodies, SSE events and WebSocket frames. One call in flight per session;
each session has its own connection (and its own MCP session).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "awsmcp-bench", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class Refused(Exception):
    """The server answered something other than what the workload expects."""


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, one per completed call
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Milliseconds."""
        return percentile(self.latencies, q) * 1000

    def summary(self) -> dict[str, float]:
        return {
            "rps": self.rate,
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "calls": len(self.latencies),
            "errors": self.errors,
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- wire formats ----------------------------------------------------------------------------
def http_request(method: str, path: str, port: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def ws_frame(payload: bytes) -> bytes:
    """A masked client text frame (mask key zero: the payload goes as is)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 65536:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


class Connection(asyncio.Protocol):
    """One keep-alive socket; `response()` waits for the next whole HTTP response, `chunks` feeds streams."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Any] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.parse: Any = None  # the parser the current waiter needs

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def _try(self) -> None:
        while self.waiter is not None and not self.waiter.done() and self.parse is not None:
            found = self.parse(self.buffer)
            if found is None:
                return
            used, value = found
            del self.buffer[:used]
            self.waiter.set_result(value)

    async def expect(self, parse: Any) -> Any:
        self.parse = parse
        self.waiter = asyncio.get_running_loop().create_future()
        self._try()
        return await self.waiter

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(port: int) -> Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(Connection, "127.0.0.1", port)
    return protocol


def parse_response(buffer: bytearray) -> tuple[int, tuple[int, dict[str, str], bytes]] | None:
    """A whole HTTP/1.1 response at the front of buffer: (bytes used, (status, headers, body))."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if "content-length" in headers:
        stop = start + int(headers["content-length"])
        if len(buffer) < stop:
            return None
        return stop, (status, headers, bytes(buffer[start:stop]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        at = start
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
            if size == 0:
                if len(buffer) < line_end + 4:
                    return None
                return line_end + 4, (status, headers, bytes(body))
            if len(buffer) < line_end + 2 + size + 2:
                return None
            body += buffer[line_end + 2 : line_end + 2 + size]
            at = line_end + 2 + size + 2
    if status in (204, 304) or 100 <= status < 200:
        return start, (status, headers, b"")
    return None  # read-until-close bodies are not used here


def parse_head(buffer: bytearray) -> tuple[int, tuple[int, dict[str, str]]] | None:
    """Only the status line and headers (for streams and upgrades)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return end + 4, (int(head[0].split(" ", 2)[1]), headers)


def parse_sse_event(buffer: bytearray) -> tuple[int, dict[str, str]] | None:
    """The next SSE event in a chunked stream (chunk framing read in place; comments skipped)."""
    text = bytearray()
    at = 0
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        if size == 0 or len(buffer) < line_end + 2 + size + 2:
            return None
        text += buffer[line_end + 2 : line_end + 2 + size]
        at = line_end + 2 + size + 2
        boundary = text.find(b"\n\n")
        if boundary >= 0:
            if boundary + 2 != len(text):
                return None  # an event split mid-chunk: not produced by Daphne's one-write-per-event streams
            event: dict[str, str] = {}
            for line in text[:boundary].decode().split("\n"):
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                event[name] = value[1:] if value.startswith(" ") else value
            if not event:  # a comment alone (keep-alive): go on to the next event
                del buffer[:at]
                at = 0
                text.clear()
                continue
            return at, event


def parse_ws_frame(buffer: bytearray) -> tuple[int, tuple[int, bytes]] | None:
    if len(buffer) < 2:
        return None
    opcode = buffer[0] & 0x0F
    size = buffer[1] & 0x7F
    at = 2
    if size == 126:
        if len(buffer) < 4:
            return None
        size, at = int.from_bytes(buffer[2:4], "big"), 4
    elif size == 127:
        if len(buffer) < 10:
            return None
        size, at = int.from_bytes(buffer[2:10], "big"), 10
    if len(buffer) < at + size:
        return None
    return at + size, (opcode, bytes(buffer[at : at + size]))


# --- sessions: each opens its MCP session, then `call()` does one timed round trip ------------------
class HttpSession:
    """Streamable HTTP (or any plain POST endpoint): answers as JSON or as an SSE body."""

    def __init__(
        self,
        port: int,
        path: str,
        call: bytes,
        sse: bool = False,
        initialize: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.port, self.path, self.call_body, self.initialize = port, path, call, initialize
        # Both kinds are listed, as the spec asks; awsmcp answers in the kind listed first.
        accept = "text/event-stream, application/json" if sse else "application/json, text/event-stream"
        self.headers = {"accept": accept, "content-type": "application/json", **(headers or {})}

    async def open(self) -> None:
        self.conn = await connect(self.port)
        if self.initialize:
            status, headers, body = await self.post(json.dumps(INIT).encode())
            if status != 200 or "mcp-session-id" not in headers:
                raise Refused(f"initialize: {status} {body[:200]!r}")
            self.headers["mcp-session-id"] = headers["mcp-session-id"]
            self.headers["mcp-protocol-version"] = "2025-11-25"
            status, _, body = await self.post(json.dumps(INITIALIZED).encode())
            if status != 202:
                raise Refused(f"initialized: {status} {body[:200]!r}")
        self.request = http_request("POST", self.path, self.port, self.headers, self.call_body)

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        self.conn.write(http_request("POST", self.path, self.port, self.headers, body))
        return await self.conn.expect(parse_response)

    async def call(self) -> None:
        self.conn.write(self.request)
        status, _, body = await self.conn.expect(parse_response)
        if status != 200 or b'"result"' not in body or b'"isError":true' in body:
            raise Refused(f"call: {status} {body[:200]!r}")

    def close(self) -> None:
        self.conn.close()


class LegacySseSession:
    """GET /mcp/sse for the stream, POST /mcp/message for calls; the reply is timed on the stream."""

    def __init__(self, port: int, call: bytes) -> None:
        self.port, self.call_body = port, call

    async def open(self) -> None:
        self.stream = await connect(self.port)
        self.stream.write(http_request("GET", "/mcp/sse", self.port, {"accept": "text/event-stream"}))
        status, _ = await self.stream.expect(parse_head)
        if status != 200:
            raise Refused(f"sse: {status}")
        endpoint = await self.stream.expect(parse_sse_event)
        self.path = endpoint["data"]
        self.conn = await connect(self.port)
        self.headers = {"content-type": "application/json"}
        await self.send(json.dumps(INIT).encode())
        await self.reply()
        await self.send(json.dumps(INITIALIZED).encode())
        self.request = http_request("POST", self.path, self.port, self.headers, self.call_body)

    async def send(self, body: bytes) -> None:
        self.conn.write(http_request("POST", self.path, self.port, self.headers, body))
        status, _, answer = await self.conn.expect(parse_response)
        if status != 202:
            raise Refused(f"message: {status} {answer[:200]!r}")

    async def reply(self) -> str:
        while True:
            event = await self.stream.expect(parse_sse_event)
            data = event.get("data", "")
            if '"method":"ping"' in data:  # answer keep-alive pings like a real client
                ping = json.loads(data)
                await self.send(json.dumps({"jsonrpc": "2.0", "id": ping["id"], "result": {}}).encode())
                continue
            return data

    async def call(self) -> None:
        self.conn.write(self.request)
        status, _, answer = await self.conn.expect(parse_response)
        if status != 202:
            raise Refused(f"message: {status} {answer[:200]!r}")
        data = await self.reply()
        if '"result"' not in data or '"isError":true' in data:
            raise Refused(f"call: {data[:200]}")

    def close(self) -> None:
        self.conn.close()
        self.stream.close()


class WebSocketSession:
    """One WebSocket (subprotocol `mcp` unless told otherwise); each call is a frame and its reply frame."""

    def __init__(self, port: int, path: str, call: bytes, initialize: bool = True) -> None:
        self.port, self.path, self.call_body, self.initialize = port, path, call, initialize

    async def open(self) -> None:
        self.conn = await connect(self.port)
        headers = {
            "upgrade": "websocket",
            "connection": "Upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
            "sec-websocket-protocol": "mcp",
        }
        self.conn.write(http_request("GET", self.path, self.port, headers))
        status, _ = await self.conn.expect(parse_head)
        if status != 101:
            raise Refused(f"upgrade: {status}")
        if self.initialize:
            self.conn.write(ws_frame(json.dumps(INIT).encode()))
            await self.reply()
            self.conn.write(ws_frame(json.dumps(INITIALIZED).encode()))
        self.frame = ws_frame(self.call_body)

    async def reply(self) -> bytes:
        while True:
            opcode, payload = await self.conn.expect(parse_ws_frame)
            if opcode == 0x8:
                raise Refused("closed by the server")
            if opcode != 0x1:
                continue
            if b'"method":"ping"' in payload:
                ping = json.loads(payload)
                self.conn.write(ws_frame(json.dumps({"jsonrpc": "2.0", "id": ping["id"], "result": {}}).encode()))
                continue
            return payload

    async def call(self) -> None:
        self.conn.write(self.frame)
        payload = await self.reply()
        if b'"result"' not in payload or b'"isError":true' in payload:
            raise Refused(f"call: {payload[:200]!r}")

    def close(self) -> None:
        self.conn.close()


# --- driving ---------------------------------------------------------------------------------
async def drive(sessions: list[Any], seconds: float, warmup: float = 0.3) -> Result:
    """Open every session, then each calls back to back for warmup + seconds; only the last `seconds` count."""
    opened = await asyncio.gather(*(s.open() for s in sessions), return_exceptions=True)
    failures = [o for o in opened if isinstance(o, BaseException)]
    if failures:
        for s in sessions:
            try:
                s.close()
            except Exception:
                pass
        raise Refused(f"{len(failures)} of {len(sessions)} sessions failed to open: {failures[0]!r}")
    result = Result()
    start = time.perf_counter()
    counting = start + warmup
    stop = counting + seconds

    async def loop(session: Any) -> None:
        while True:
            began = time.perf_counter()
            if began >= stop:
                return
            try:
                await session.call()
            except (Refused, ConnectionError):
                result.errors += 1
                return
            if began >= counting:
                result.latencies.append(time.perf_counter() - began)

    try:
        await asyncio.gather(*(loop(s) for s in sessions))
    finally:
        for s in sessions:
            s.close()
    result.seconds = seconds
    return result


def run(sessions: list[Any], seconds: float) -> dict[str, float]:
    """Run one load in a fresh event loop; raises the fd limit first for the larger session counts."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    return asyncio.run(drive(sessions, seconds)).summary()


def alternate(
    first: Callable[[], list[Any]], second: Callable[[], list[Any]], rounds: int, seconds: float
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Run two loads in turn, `rounds` times (first, second, first, ...), so machine noise hits both alike.

    Each side is a function making that side's fresh sessions; returns each side's run summaries."""
    firsts, seconds_ = [], []
    for _ in range(rounds):
        firsts.append(run(first(), seconds))
        seconds_.append(run(second(), seconds))
    return firsts, seconds_


def tools_call(url: str, max_length: int = 5000, msg_id: int = 1, meta: dict[str, Any] | None = None) -> bytes:
    params: dict[str, Any] = {"name": "read_documentation", "arguments": {"url": url, "max_length": max_length}}
    if meta is not None:
        params["_meta"] = meta
    return json.dumps(
        {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": params},
        separators=(",", ":"),
    ).encode()


# A 2026-07-28 client: no session; each request carries its envelope, and its headers mirror the body (SEP-2243).
STATELESS_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
}
STATELESS_HEADERS = {
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "read_documentation",
}


if __name__ == "__main__":  # a quick manual check: python -m bench.loadgen PORT
    import sys

    port = int(sys.argv[1])
    call = tools_call("https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Welcome.html")
    kind = sys.argv[2] if len(sys.argv) > 2 else "json"
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    make = {
        "json": lambda: HttpSession(port, "/mcp", call),
        "sse": lambda: HttpSession(port, "/mcp", call, sse=True),
        "legacy": lambda: LegacySseSession(port, call),
        "ws": lambda: WebSocketSession(port, "/mcp/ws", call),
        "ceiling": lambda: HttpSession(port, "/", call, initialize=False),
    }[kind]
    print(os.getpid(), run([make() for _ in range(count)], 3.0))
