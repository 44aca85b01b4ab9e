"""WebSocket client transport for mcp 2.3.0 (mirrors mcp 1.x `mcp.client.websocket.websocket_client`)."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]


@asynccontextmanager
async def websocket_client(url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> AsyncIterator[Streams]:
    """Connect with subprotocol "mcp"; one JSON-RPC message per text frame. Yields (read_stream, write_stream)."""
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    async with connect(url, subprotocols=[Subprotocol("mcp")], additional_headers=headers, **kwargs) as ws:
        if ws.subprotocol != "mcp":
            raise ConnectionError(f"server did not select the 'mcp' subprotocol (got {ws.subprotocol!r})")

        async def ws_reader() -> None:
            async with read_writer:  # closing it = EOF -> pending requests fail with CONNECTION_CLOSED
                try:
                    async for raw in ws:
                        try:
                            msg = types.jsonrpc_message_adapter.validate_json(raw, by_name=False)
                        except ValidationError as exc:
                            await read_writer.send(exc)  # surfaces in ClientSession's message_handler
                            continue
                        await read_writer.send(SessionMessage(msg))
                except ConnectionClosed:
                    pass

        async def ws_writer() -> None:
            async with write_reader:  # closing it makes later sends fail instead of blocking
                try:
                    async for session_message in write_reader:
                        data = session_message.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
                        await ws.send(json.dumps(data, separators=(",", ":")))
                except ConnectionClosed:
                    pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(ws_reader)
            tg.start_soon(ws_writer)
            try:
                yield read_stream, write_stream
            finally:
                tg.cancel_scope.cancel()
