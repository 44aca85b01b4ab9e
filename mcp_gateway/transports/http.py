"""A small ASGI HTTP endpoint base that sees the client leave, for plain and SSE answers alike.

Channels' documented streaming pattern misses `http.disconnect` while a handler loops, and a
Django streaming view holds a thread per stream. This base reads the body
with a size cap, runs `handle()` in a task, and watches `receive()` for the disconnect so that a
vanished client cancels its work at once. Django's middleware is not on this path on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from mcp_gateway import jsonrpc
from mcp_gateway.transports.security import client_ip

log = logging.getLogger(__name__)

Headers = Iterable[tuple[str, str]]


# Told (endpoint, seconds) when an HTTP request ends: metrics and access logs register here.
observers: list[Any] = []


class ClientGone(Exception):
    """The client closed the connection."""


class BodyTooLarge(Exception):
    pass


class HttpEndpoint:
    """One instance per HTTP request; subclasses implement `handle(body)`."""

    kind = "http"  # the transport, for metrics
    status = 0
    stream_slot: str | None = None  # the open-stream slot this request holds (see common.claim_stream)
    _handling = False  # handle() is running (the disconnect watcher may cancel it)

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.started = False
        self.finished = False
        self.disconnected = asyncio.Event()
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
        }

    @classmethod
    def as_asgi(cls) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            endpoint = cls(scope, receive, send)
            started = time.perf_counter()
            try:
                await endpoint.run()
            finally:
                elapsed = time.perf_counter() - started
                for observer in observers:
                    observer(endpoint, elapsed)

        return app

    # --- request side ------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def query(self) -> dict[str, str]:
        raw = self.scope.get("query_string", b"").decode("latin-1")
        return dict(parse_qsl(raw))

    @cached_property
    def client_ip(self) -> str:
        return client_ip(self.scope, self.headers)

    async def read_body(self, limit: int) -> bytes:
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def run(self) -> None:
        try:
            body = await self.read_body(settings.MCP_MAX_BODY_BYTES)
        except ClientGone:
            return
        except BodyTooLarge:
            await self.send_json(
                413,
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Request body too large"}},
            )
            return
        # handle() runs in this task; a watcher task cancels it if the client leaves first.
        task = asyncio.current_task()
        assert task is not None
        self._handling = True
        watcher = asyncio.create_task(self._watch_disconnect(task))
        try:
            await self.handle(body)
        except asyncio.CancelledError:
            if not self.disconnected.is_set():  # cancelled from outside (shutdown): not ours to swallow
                raise
            task.uncancel()
        except ClientGone:
            pass
        finally:
            self._handling = False
            watcher.cancel()
            await self.on_close()  # on every path, failures included: it frees stream slots
        if not self.finished and not self.disconnected.is_set():
            # handle() returned without answering: never leave a client hanging.
            if not self.started:
                await self.send_response(500, [("content-type", "text/plain")], b"no response")
            else:
                await self.finish()

    async def _watch_disconnect(self, task: asyncio.Task[Any]) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                if self._handling:
                    task.cancel()
                return

    async def handle(self, body: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def on_close(self) -> None:
        """Free what the request held; runs after the answer ends or the client leaves."""

    # --- response side -----------------------------------------------------------------------
    async def _raw_send(self, message: dict[str, Any]) -> None:
        if self.disconnected.is_set():
            raise ClientGone
        try:
            await self._send(message)
        except (OSError, RuntimeError) as exc:  # the server refuses writes to a closed connection
            self.disconnected.set()
            raise ClientGone from exc

    async def send_response(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if status not in (204, 304):  # a known body needs no chunked framing (and 204 may carry no length)
            encoded.append((b"content-length", str(len(body)).encode()))
        await self._raw_send({"type": "http.response.start", "status": status, "headers": encoded})
        self.started = True
        await self._raw_send({"type": "http.response.body", "body": body})
        self.finished = True

    async def send_json(self, status: int, payload: Any, headers: Headers = ()) -> int:
        """Send `payload` as JSON; returns the body's size in bytes."""
        body = jsonrpc.dumps_bytes(payload)
        await self.send_response(status, [("content-type", "application/json"), *headers], body)
        return len(body)

    async def send_error(self, status: int, message: str, code: int = -32600, headers: Headers = ()) -> None:
        """An HTTP error whose body is a JSON-RPC error, as MCP clients expect."""
        error = {"code": code, "message": message}
        await self.send_json(status, {"jsonrpc": "2.0", "id": None, "error": error}, headers)

    async def start_stream(self, headers: Headers = (), first: bytes = b": connected\n\n") -> None:
        """Begin a text/event-stream answer; the first chunk (a comment unless given) makes Daphne flush
        the headers."""
        self.status = 200
        await self._raw_send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache, no-transform"),
                    (b"x-accel-buffering", b"no"),
                    *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers),
                ],
            }
        )
        self.started = True
        await self.write(first)

    async def write(self, chunk: bytes) -> None:
        await self._raw_send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def send_event(
        self, data: str, event: str | None = None, event_id: str | None = None, last: bool = False
    ) -> None:
        """One SSE event; with last=True it also ends the response (one write instead of two)."""
        lines = []
        if event_id is not None:
            lines.append(f"id: {event_id}")
        if event is not None:
            lines.append(f"event: {event}")
        lines.extend(f"data: {line}" for line in data.split("\n"))
        chunk = ("\n".join(lines) + "\n\n").encode()
        if not last:
            await self.write(chunk)
            return
        self.finished = True
        await self._raw_send({"type": "http.response.body", "body": chunk, "more_body": False})

    async def keepalive_comments(self) -> None:
        """SSE comments every MCP_SSE_KEEPALIVE seconds keep proxies from timing out an idle stream."""
        while True:
            await asyncio.sleep(settings.MCP_SSE_KEEPALIVE)
            with contextlib.suppress(ClientGone):
                await self.write(b": keepalive\n\n")

    async def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        with contextlib.suppress(ClientGone):
            await self._raw_send({"type": "http.response.body", "body": b"", "more_body": False})
