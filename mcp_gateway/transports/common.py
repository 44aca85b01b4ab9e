"""The entrance check and stream slots as HTTP endpoints use them: a refusal is sent as a JSON-RPC error body."""

from __future__ import annotations

from mcp_gateway.gate import get_gate
from mcp_gateway.transports import entrance
from mcp_gateway.transports.entrance import Caller, Denied
from mcp_gateway.transports.http import HttpEndpoint


def caller_of(endpoint: HttpEndpoint) -> Caller:
    return Caller(endpoint.headers, endpoint.client_ip, endpoint.query)


async def send_denied(endpoint: HttpEndpoint, denied: Denied) -> None:
    await endpoint.send_error(denied.status, denied.message, code=denied.code, headers=denied.headers)


async def admit(endpoint: HttpEndpoint, kind: str, rate: bool = True, partition: bool = False) -> entrance.Entry | None:
    """Run the entrance check; on refusal send it and return None, else the entry (API key name, partition).

    With rate=False the caller checks the request rate itself (to answer on a stream instead)."""
    entry = await entrance.check_entrance(caller_of(endpoint), kind, rate=rate, partition=partition)
    if entry.denied is not None:
        await send_denied(endpoint, entry.denied)
        return None
    return entry


async def claim_stream(endpoint: HttpEndpoint, slot: str, kind: str) -> bool:
    """Take a stream slot for this client (caps per IP and per process); False after sending the refusal."""
    denied = await entrance.claim_stream(endpoint.client_ip, slot, kind)
    if denied is not None:
        await send_denied(endpoint, denied)
        return False
    endpoint.stream_slot = slot
    return True


async def release_stream(endpoint: HttpEndpoint) -> None:
    slot = endpoint.stream_slot
    if slot is not None:
        endpoint.stream_slot = None
        await get_gate().release_stream(endpoint.client_ip, slot)
