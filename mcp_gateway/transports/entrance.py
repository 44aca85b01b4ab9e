"""The one entrance check every transport makes before any work, HTTP and WebSocket alike.

In order: Host and Origin (DNS-rebinding protection), the API key, the request rate, the partition. Each refusal
carries its HTTP status and the JSON-RPC code MCP clients read (-32029 for a rate limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from mcp_gateway.catalogue import catalogue
from mcp_gateway.gate import Refusal, get_gate
from mcp_gateway.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, RATE_LIMITED
from mcp_gateway.transports.security import entrance_refusal


@dataclass(frozen=True, slots=True)
class Caller:
    """What the entrance needs of a request, whatever the transport: its headers, address and query."""

    headers: dict[str, str]
    client_ip: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Denied:
    """A refusal as a transport sends it: HTTP status, message, JSON-RPC code, extra headers."""

    status: int
    message: str
    code: int = INVALID_REQUEST
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    """The entrance's verdict: the API key name ("" for none), the partition when asked for, or a refusal."""

    key_name: str = ""
    partition: str | None = None
    denied: Denied | None = None


def denied(refusal: Refusal, otherwise: int = INVALID_REQUEST) -> Denied:
    """A gate's refusal with its JSON-RPC code: -32029 for 429, `otherwise` for any other status."""
    code = RATE_LIMITED if refusal.status == 429 else otherwise
    return Denied(refusal.status, refusal.message, code, tuple(refusal.headers))


def choose_partition(query: dict[str, str]) -> str | None:
    """The partition asked for with ?partition=… (or the default), None when there is no such partition."""
    partition = query.get("partition") or settings.MCP_DEFAULT_PARTITION
    return partition if partition in catalogue.partitions else None


def unknown_partition() -> Denied:
    return Denied(400, f"Bad Request: partition must be one of {', '.join(catalogue.partitions)}")


async def check_entrance(caller: Caller, endpoint: str, *, rate: bool = True, partition: bool = False) -> Entry:
    """Run every entrance check for a request to `endpoint` (the rules' name for it: streamable, sse, websocket).

    With rate=False the caller counts the request rate itself (to answer on a stream instead); with
    partition=True the ?partition= query is checked too and returned."""
    refusal = entrance_refusal(caller.headers)
    if refusal is not None:
        return Entry(denied=Denied(*refusal))
    # The partition before the gate: a request for no such partition is refused without counting against a rate.
    chosen = choose_partition(caller.query) if partition else None
    if partition and chosen is None:
        return Entry(denied=unknown_partition())
    gate = get_gate()
    key_name, refused = await gate.check_key(caller.headers.get("authorization"))
    if refused is None and rate:
        refused = await gate.check_rate(caller.client_ip, key_name, endpoint)
    if refused is not None:
        return Entry(denied=denied(refused))
    return Entry(key_name, chosen)


async def claim_stream(client_ip: str, slot: str, endpoint: str) -> Denied | None:
    """Take an open-stream slot for this client (caps per IP and per process), or the refusal to send."""
    refused = await get_gate().claim_stream(client_ip, slot, endpoint)
    return None if refused is None else denied(refused, INTERNAL_ERROR)
