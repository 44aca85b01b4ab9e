"""Worker process of bench.connections: holds idle MCP streams on raw asyncio sockets and answers pings.

One worker opens its share of the streams (Streamable HTTP `GET /mcp` or legacy `GET /mcp/sse`), a few
at a time, parses each stream by hand (chunked transfer encoding, then SSE events), answers every
server `ping` by POSTing `{"result": {}}` over a small pool of keep-alive connections, and records
when each ping arrived (time.monotonic, which is one clock for every process on Linux). It talks to
the parent over a multiprocessing pipe: it sends ("opened", ...) once its streams are up, waits for
"stop", closes everything and sends ("result", ...). It exits when the parent's end of the pipe closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

ACCEPT_BOTH = "application/json, text/event-stream"
VERSION = "2025-11-25"
LEGACY_VERSION = "2024-11-05"
HEAD_END = b"\r\n\r\n"


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def initialize_body(version: str) -> bytes:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "bench-hold", "version": "1"}}
    return json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}).encode()


INITIALIZED_BODY = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


class HttpError(Exception):
    def __init__(self, status: int, body: bytes = b"") -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


# --- small requests: one keep-alive HTTP/1.1 connection at a time per pool slot ----------------------
class HttpConn:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            try:
                return await self._request(method, path, headers, body)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                self.close()
                if attempt:
                    raise ConnectionError(f"{exc.__class__.__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(HEAD_END)
        status, response_headers = parse_head(head[:-4])
        if "chunked" in response_headers.get("transfer-encoding", ""):
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers are sent
                    break
                parts.append((await self.reader.readexactly(size + 2))[:-2])
            data = b"".join(parts)
        elif "content-length" in response_headers:
            data = await self.reader.readexactly(int(response_headers["content-length"]))
        else:  # body until close
            data = await self.reader.read()
            self.close()
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, data


class Pool:
    def __init__(self, host: str, port: int, size: int) -> None:
        self.free: asyncio.Queue[HttpConn] = asyncio.Queue()
        self.conns = [HttpConn(host, port) for _ in range(size)]
        for conn in self.conns:
            self.free.put_nowait(conn)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        conn = await self.free.get()
        try:
            return await conn.request(method, path, headers, body)
        except BaseException:
            conn.close()
            raise
        finally:
            self.free.put_nowait(conn)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


# --- one held stream: an asyncio Protocol that de-chunks and splits SSE events ---------------------------
class Stream(asyncio.Protocol):
    def __init__(self, worker: Worker, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.worker = worker
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.sse = bytearray()
        self.state = "head"
        self.chunk_left = 0
        self.head: asyncio.Future[tuple[int, dict[str, str]]] = loop.create_future()
        self.endpoint: asyncio.Future[str] = loop.create_future()
        self.replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.post_path = ""
        self.post_headers: dict[str, str] = {}
        self.ready_at = 0.0
        self.pings: list[float] = []
        self.closed_at: float | None = None
        self.stopping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic()
        if not self.stopping and self.ready_at:
            self.worker.closed += 1
        gone = ConnectionError("stream closed")
        for future in (self.head, self.endpoint, *self.replies.values()):
            if not future.done():
                future.set_exception(gone)
                future.exception()  # retrieved: nobody may be waiting for it

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            self._parse()
        except Exception as exc:  # a malformed stream: count it and drop the connection
            self.worker.errors[f"parse: {exc.__class__.__name__}"] += 1
            if self.transport is not None:
                self.transport.close()

    def _parse(self) -> None:
        buf = self.buf
        if self.state == "head":
            end = buf.find(HEAD_END)
            if end == -1:
                return
            status, headers = parse_head(bytes(buf[:end]))
            del buf[: end + 4]
            self.state = "size" if "chunked" in headers.get("transfer-encoding", "") else "raw"
            if not self.head.done():
                self.head.set_result((status, headers))
            if status != 200:
                return
        while buf:
            if self.state == "raw":
                self.sse += buf
                buf.clear()
            elif self.state == "size":
                end = buf.find(b"\r\n")
                if end == -1:
                    break
                size = int(bytes(buf[:end]).split(b";")[0], 16)
                del buf[: end + 2]
                if size == 0:
                    self.state = "end"
                    buf.clear()
                    break
                self.chunk_left = size
                self.state = "data"
            elif self.state == "data":
                take = min(len(buf), self.chunk_left)
                self.sse += buf[:take]
                del buf[:take]
                self.chunk_left -= take
                if self.chunk_left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(buf) < 2:
                    break
                del buf[:2]
                self.state = "size"
            else:
                buf.clear()
        while (end := self.sse.find(b"\n\n")) != -1:
            event = bytes(self.sse[:end])
            del self.sse[: end + 2]
            self._event(event)

    def _event(self, raw: bytes) -> None:
        kind = "message"
        data: list[str] = []
        for line in raw.decode().split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
        text = "\n".join(data)
        if kind == "endpoint":
            if not self.endpoint.done():
                self.endpoint.set_result(text)
            return
        if not text.strip():
            return  # the priming event of 2025-11-25 streams
        message = json.loads(text)
        if message.get("method") == "ping" and "id" in message:
            self.pings.append(time.monotonic())
            self.worker.pong(self, message["id"])
        elif "id" in message:
            waiter = self.replies.get(message["id"])
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        elif "method" in message:
            self.worker.notifications[message["method"]] += 1


@dataclass
class Worker:
    host: str
    port: int
    transport: str  # "streamable" or "sse"
    count: int
    concurrency: int
    pool_size: int
    streams: list[Stream] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    notifications: Counter[str] = field(default_factory=Counter)
    pong_status: Counter[str] = field(default_factory=Counter)
    pong_latency: list[float] = field(default_factory=list)
    closed: int = 0
    cpu_share: float = 0.0  # CPU seconds per second while the streams were held
    retries: int = 0
    failed: int = 0
    pool: Pool | None = None
    pongs: set[asyncio.Task[None]] = field(default_factory=set)

    def get_request(self, path: str, headers: dict[str, str]) -> bytes:
        lines = [f"GET {path} HTTP/1.1", f"host: {self.host}:{self.port}", "accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def post(self, path: str, headers: dict[str, str], body: bytes, expect: int) -> dict[str, str]:
        assert self.pool is not None
        status, response_headers, data = await self.pool.request("POST", path, headers, body)
        if status != expect:
            raise HttpError(status, data)
        return response_headers

    async def _connect(self, path: str, headers: dict[str, str]) -> Stream:
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_connection(
            lambda: Stream(self, self.get_request(path, headers)), self.host, self.port
        )
        status, _ = await asyncio.wait_for(stream.head, 15)
        if status != 200:
            await asyncio.sleep(0.05)  # let the error body arrive, then drop it
            if stream.transport is not None:
                stream.transport.close()
            raise HttpError(status)
        return stream

    async def open_streamable(self) -> Stream:
        base = {"content-type": "application/json", "accept": ACCEPT_BOTH}
        headers = await self.post("/mcp", base, initialize_body(VERSION), 200)
        session = {"mcp-session-id": headers["mcp-session-id"], "mcp-protocol-version": VERSION}
        await self.post("/mcp", {**base, **session}, INITIALIZED_BODY, 202)
        stream = await self._connect("/mcp", session)
        stream.post_path, stream.post_headers = "/mcp", {**base, **session}
        return stream

    async def open_sse(self) -> Stream:
        stream = await self._connect("/mcp/sse", {})
        try:
            stream.post_path = await asyncio.wait_for(stream.endpoint, 15)
            stream.post_headers = {"content-type": "application/json"}
            reply = stream.replies[0] = asyncio.get_running_loop().create_future()
            await self.post(stream.post_path, stream.post_headers, initialize_body(LEGACY_VERSION), 202)
            await asyncio.wait_for(reply, 15)
            await self.post(stream.post_path, stream.post_headers, INITIALIZED_BODY, 202)
        except BaseException:
            if stream.transport is not None:
                stream.transport.close()
            raise
        return stream

    async def open_one(self, gate: asyncio.Semaphore) -> None:
        async with gate:
            for attempt in range(3):
                try:
                    stream = await (self.open_streamable() if self.transport == "streamable" else self.open_sse())
                except Exception as exc:  # refused, reset, timed out, malformed: count it and try again
                    label = f"HTTP {exc.status}" if isinstance(exc, HttpError) else exc.__class__.__name__
                    self.errors[label] += 1
                    if attempt == 2:
                        self.failed += 1
                        return
                    self.retries += 1
                    await asyncio.sleep(0.5)
                    continue
                stream.ready_at = time.monotonic()
                self.streams.append(stream)
                return

    def pong(self, stream: Stream, ping_id: Any) -> None:
        task = asyncio.ensure_future(self._pong(stream, ping_id, time.monotonic()))
        self.pongs.add(task)
        task.add_done_callback(self.pongs.discard)

    async def _pong(self, stream: Stream, ping_id: Any, received: float) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": ping_id, "result": {}}).encode()
        try:
            await self.post(stream.post_path, stream.post_headers, body, 202)
            self.pong_status["202"] += 1
            self.pong_latency.append(time.monotonic() - received)
        except HttpError as exc:
            self.pong_status[str(exc.status)] += 1
        except Exception as exc:  # the connection failed: the server will count a missed ping
            self.pong_status[exc.__class__.__name__] += 1

    async def open_all(self, deadline: float) -> float:
        """Open every stream, or as many as `deadline` seconds allow (the rest count as failed)."""
        self.pool = Pool(self.host, self.port, self.pool_size)
        gate = asyncio.Semaphore(self.concurrency)
        started = time.monotonic()
        tasks = [asyncio.ensure_future(self.open_one(gate)) for _ in range(self.count)]
        _, late = await asyncio.wait(tasks, timeout=deadline)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
            self.failed += len(late)
            self.errors["not open by the deadline"] += len(late)
        return time.monotonic() - started

    def close_all(self) -> None:
        for stream in self.streams:
            stream.stopping = True
            if stream.transport is not None:
                stream.transport.close()
        for task in self.pongs:
            task.cancel()
        if self.pool is not None:
            self.pool.close()

    def result(self, stopped_at: float) -> dict[str, Any]:
        return {
            "ready": [s.ready_at for s in self.streams],
            "pings": [s.pings for s in self.streams],
            "closed_at": [
                s.closed_at if s.closed_at is not None and s.closed_at < stopped_at else None for s in self.streams
            ],
            "closed": self.closed,
            "failed": self.failed,
            "retries": self.retries,
            "errors": dict(self.errors),
            "notifications": dict(self.notifications),
            "pong_status": dict(self.pong_status),
            "pong_latency": self.pong_latency,
            "stopped_at": stopped_at,
            "cpu_share": self.cpu_share,
        }


async def serve(pipe: Connection, plan: dict[str, Any]) -> None:
    worker = Worker(
        plan["host"], plan["port"], plan["transport"], plan["count"], plan["concurrency"], plan["pool_size"]
    )
    loop = asyncio.get_running_loop()
    try:
        pipe.send(("up", {}))
        try:
            command = await loop.run_in_executor(None, pipe.recv)
            assert command == "go", command
            seconds = await worker.open_all(plan["open_deadline"])
            pipe.send(
                ("opened", {"seconds": seconds, "done_at": time.monotonic(), "ok": len(worker.streams),
                            "failed": worker.failed, "errors": dict(worker.errors)})
            )  # fmt: skip
            cpu_start, wall_start = time.process_time(), time.monotonic()
            command = await loop.run_in_executor(None, pipe.recv)
            worker.cpu_share = (time.process_time() - cpu_start) / (time.monotonic() - wall_start)
        except (EOFError, BrokenPipeError):  # the parent is gone
            return
        assert command == "stop", command
        stopped_at = time.monotonic()
        pipe.send(("result", worker.result(stopped_at)))
    finally:
        worker.close_all()
        await asyncio.sleep(0)


def main(pipe: Connection, plan: dict[str, Any]) -> None:
    """Entry point of one worker process (multiprocessing target)."""
    raise_fd_limit()
    try:
        asyncio.run(serve(pipe, plan))
    except Exception as exc:  # tell the parent rather than leaving it waiting
        with contextlib.suppress(OSError):
            pipe.send(("error", f"{exc.__class__.__name__}: {exc}"))
        raise
    finally:
        pipe.close()
