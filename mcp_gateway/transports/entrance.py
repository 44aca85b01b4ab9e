"""The one entrance check every transport makes before any work, HTTP and WebSocket alike.

In order: Host and Origin (DNS-rebinding protection), the partition, the credential (API key or token, checked for
this server's resource URI), the request rate. A refused credential still counts against the rate, as anonymous (""),
so a flood of made-up tokens meets the per-IP rules and gets 429 like any client. Each refusal carries its HTTP status and the JSON-RPC code MCP clients
read (-32029 for a rate limit). The scopes a request needs are checked once it is read (`refuse_scopes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from mcp_gateway import scopes
from mcp_gateway.catalogue import catalogue
from mcp_gateway.gate import ANONYMOUS, Principal, Refusal, get_gate
from mcp_gateway.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, RATE_LIMITED
from mcp_gateway.transports.security import entrance_refusal, resource_url


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
    """The entrance's verdict: who is calling (key_name is the principal's name, "" for anonymous), the partition
    when asked for, or a refusal."""

    key_name: str = ""
    partition: str | None = None
    denied: Denied | None = None
    principal: Principal = ANONYMOUS


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
    principal, refused = await gate.check_credential(caller.headers.get("authorization"), resource_url(caller.headers))
    if refused is not None:
        # Counted whatever `rate` says: the caller counting it itself never gets that far.
        too_many = await gate.check_rate(caller.client_ip, ANONYMOUS.name, endpoint)
        return Entry(denied=denied(too_many or refused))
    if rate:
        refused = await gate.check_rate(caller.client_ip, principal.name, endpoint)
    if refused is not None:
        return Entry(denied=denied(refused))
    return Entry(principal.name, chosen, principal=principal)


def refuse_scopes(principal: Principal, messages: list[Any], partition: str, headers: dict[str, str]) -> Denied | None:
    """The 403 for messages needing a scope the principal lacks (the gate's challenge names every scope they need),
    else None."""
    return insufficient(principal, scopes.frame_scopes(messages, partition), headers)


def insufficient(principal: Principal, needed: frozenset[str], headers: dict[str, str]) -> Denied | None:
    """The 403 when the principal lacks one of `needed`, naming them all (so one step-up asks for every one)."""
    if not principal.lacks(needed):
        return None
    return denied(get_gate().insufficient_scope(needed, resource_url(headers)), scopes.INSUFFICIENT_SCOPE)


async def claim_stream(client_ip: str, slot: str, endpoint: str) -> Denied | None:
    """Take an open-stream slot for this client (caps per IP and per process), or the refusal to send."""
    refused = await get_gate().claim_stream(client_ip, slot, endpoint)
    return None if refused is None else denied(refused, INTERNAL_ERROR)
