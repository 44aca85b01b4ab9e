"""The process's MCP server: the protocol core bound to the catalogue the apps filled."""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing

from awsmcp import otel
from awsmcp.breaker import cache_call
from awsmcp.pools import run_in
from mcp_gateway import subscriptions, tasks
from mcp_gateway.catalogue import catalogue
from mcp_gateway.context import RequestContext
from mcp_gateway.gate import get_gate
from mcp_gateway.input_required import Rounds, StateRejected
from mcp_gateway.protocol import McpServer, ToolRefusal
from mcp_gateway.scopes import partition_scopes
from mcp_gateway.tasks.manager import TaskLimits
from mcp_gateway.tasks.store import CacheStore, MemoryStore

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# Keeps requestState signatures apart from every other use of SECRET_KEY (sessions, password resets).
REQUEST_STATE_SALT = "mcp_gateway.input_required.request-state"
# And resources/list cursors from requestState (one could not be passed off as the other).
LIST_CURSOR_SALT = "mcp_gateway.protocol.list-cursor"


class SignedStateCodec:
    """Seals requestState with Django's signing under a key derived from SECRET_KEY: every process of a fleet
    opens the states any other sealed, and a state older than `ttl` seconds is refused.

    Not compressed: the core bounds a token's length, which then bounds what it holds (at most
    MCP_REQUEST_STATE_MAX_BYTES to sign, check and parse per round); compressed, a short token of repetitive
    answers would expand to megabytes on every replay."""

    def __init__(self, ttl: float | None, salt: str = REQUEST_STATE_SALT) -> None:
        self.ttl = ttl  # None: never expires
        self.salt = salt

    def seal(self, payload: dict[str, Any]) -> str:
        return signing.dumps(payload, salt=self.salt, compress=False)

    def unseal(self, token: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = signing.loads(token, salt=self.salt, max_age=self.ttl)
        except signing.SignatureExpired:
            raise StateRejected("requestState has expired; send the request again without it") from None
        except (signing.BadSignature, ValueError):
            raise StateRejected("requestState integrity check failed") from None
        return payload


def instructions_for(partition: str) -> str:
    """What the app that added the partition tells clients about it."""
    return catalogue.instructions.get(partition) or "List the tools to see what this server offers."


async def _shared_cache(operation: str, *args: Any) -> Any:
    """One call on the default cache (Redis in a fleet) off the event loop, through its breaker; None when down."""
    return await run_in("database", cache_call, "default", operation, *args, patient=True)


async def tool_admission(name: str, ctx: RequestContext) -> ToolRefusal | None:
    """Per-tool rate rules, as the gate counts them for the caller's IP and key (tool:<name> rules in ops)."""
    session = ctx.session
    refused = await get_gate().check_tool(session.remote_ip, session.key_name, name)
    if refused is None:
        return None
    retry = next((value for header, value in refused.headers if header.lower() == "retry-after"), None)
    return ToolRefusal(refused.message, math.ceil(float(retry)) if retry is not None else None)


def _tracer() -> Tracer | None:
    """The process's tracer now (awsmcp.otel turns tracing on at start-up, maybe after the server is built)."""
    return otel.tracer


@cache
def get_server() -> McpServer:
    """Built on first use, after every app's ready() has registered its tools."""
    server = McpServer(
        catalogue,
        title=catalogue.title,
        version=settings.VERSION,
        instructions=instructions_for,
        max_batch=settings.MCP_MAX_BATCH,
        max_batch_answer_bytes=settings.MCP_MAX_BATCH_ANSWER_BYTES,
        rounds=Rounds(
            SignedStateCodec(settings.MCP_REQUEST_STATE_TTL),
            max_state_bytes=settings.MCP_REQUEST_STATE_MAX_BYTES,
            max_asks=settings.MCP_MAX_INPUT_REQUESTS,
        ),
        resources_page_size=settings.MCP_RESOURCES_PAGE_SIZE,
        cursors=SignedStateCodec(None, salt=LIST_CURSOR_SALT),
        partition_scopes=partition_scopes,
        tool_admission=tool_admission,
        tracer=_tracer,
        trace_link=settings.MCP_TRACE_CLIENT_CONTEXT == "link",
    )
    subscriptions.install(
        server,
        catalogue,
        settings.MCP_LISTEN_MAX_QUEUED,
        settings.MCP_LISTEN_MAX_RESOURCE_URIS,
        settings.MCP_LISTEN_MAX_TASK_IDS,
    )
    # Tasks (SEP-2663): in a fleet on Redis (the default cache), so that any process answers tasks/get.
    store = CacheStore(_shared_cache) if settings.REDIS_URL else MemoryStore(settings.MCP_TASK_MEMORY_BYTES)
    tasks.install(server, TaskLimits.from_settings(settings), store)
    return server
