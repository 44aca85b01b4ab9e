"""Hand-made MCP traffic for tests of what well-behaved SDK clients never send."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

ACCEPT_BOTH = "application/json, text/event-stream"


def request(method: str, params: dict[str, Any] | None = None, msg_id: int | str = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize_request(version: str = "2025-11-25") -> dict[str, Any]:
    return request(
        "initialize",
        {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "1"}},
        msg_id=0,
    )


async def streamable_session(
    http: httpx.AsyncClient, url: str, version: str = "2025-11-25", token: str | None = None
) -> dict[str, str]:
    """Initialize over Streamable HTTP (with `Authorization: Bearer <token>` when given); returns the headers
    later requests of the session carry."""
    credential = {"authorization": f"Bearer {token}"} if token else {}
    reply = await http.post(url, json=initialize_request(version), headers={"accept": ACCEPT_BOTH, **credential})
    assert reply.status_code == 200, reply.text
    headers = {
        "accept": ACCEPT_BOTH,
        "mcp-session-id": reply.headers["mcp-session-id"],
        "mcp-protocol-version": version,
        **credential,
    }
    note = await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    assert note.status_code == 202, note.text
    return headers


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse an SSE response into events ({"id", "event", "data", "retry"}); comments are skipped."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if event:
                yield event
            event = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            event["data"] = event["data"] + "\n" + value if "data" in event else value
        else:
            event[field] = value


async def sse_messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for event in sse_events(response):
        if event.get("data"):
            yield json.loads(event["data"])


class LegacySse:
    """A hand-driven legacy HTTP+SSE session: the GET stream plus POSTs to its endpoint."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.post_url = ""

    async def __aenter__(self) -> LegacySse:
        self._cm = self.http.stream("GET", self.url, headers={"accept": "text/event-stream"})
        self.response = await self._cm.__aenter__()
        self.events = sse_events(self.response)
        first = await anext(self.events)
        assert first["event"] == "endpoint", first
        self.post_url = str(httpx.URL(self.url).join(first["data"]))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(*exc)

    async def post(self, message: Any) -> httpx.Response:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        return await self.http.post(self.post_url, content=body, headers={"content-type": "application/json"})

    async def next_message(self, timeout: float = 5.0) -> dict[str, Any]:
        import asyncio

        async def read() -> dict[str, Any]:
            while True:
                event = await anext(self.events)
                if event.get("data"):
                    return json.loads(event["data"])

        return await asyncio.wait_for(read(), timeout)

    async def until_closed(self, timeout: float) -> None:
        """Wait for the server to end the stream (TimeoutError past `timeout`)."""
        import asyncio

        async def drain() -> None:
            async for _event in self.events:
                pass

        await asyncio.wait_for(drain(), timeout)

    async def initialize(self) -> dict[str, Any]:
        assert (await self.post(initialize_request("2024-11-05"))).status_code == 202
        reply = await self.next_message()
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply
