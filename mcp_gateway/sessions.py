"""Session state: what the server remembers about one MCP client between messages.

A `ServerSession` is plain data plus the bookkeeping of in-flight work (running requests to
cancel, server-to-client requests awaiting replies). Its serialisable part (`state()`) is what a
transport stores in the shared cache so that another process can pick the session up.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_gateway.gate import ANONYMOUS, Principal
from mcp_gateway.jsonrpc import RequestId

Emit = Callable[[dict[str, Any]], Awaitable[None]]

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


# How much of a session id logs, spans, the audit trail and the admin show: enough to find the session, not enough
# to use it (the whole id is a credential).
SHORT_ID_CHARS = 12


def short_id(session_id: str) -> str:
    """The start of a session id that may be shown (SHORT_ID_CHARS)."""
    return session_id[:SHORT_ID_CHARS]


def new_session_id() -> str:
    """A long random token: unguessable, and visible ASCII as the spec asks of Mcp-Session-Id."""
    return secrets.token_urlsafe(32)


class ClientReplyError(Exception):
    """The client answered a server-to-client request with a JSON-RPC error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "client error"))
        self.error = error


@dataclass(eq=False)
class ServerSession:
    id: str
    transport: str
    partition: str
    protocol_version: str | None = None
    client_info: dict[str, Any] = field(default_factory=dict)
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    initialized: bool = False
    log_level: str = "info"
    remote_ip: str = ""
    key_name: str = ""
    opened_at: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.time)
    last_pong: float | None = None
    stale: bool = False  # the client left a ping unanswered
    messages_in: int = 0
    messages_out: int = 0
    bytes_out: int = 0
    subscriptions: set[str] = field(default_factory=set)
    # Who sent the latest request this process saw (key_name is its name); never serialised: every request proves
    # it again, and another process learns it from the next request it is sent.
    principal: Principal = field(default=ANONYMOUS, repr=False)
    # In-flight work; never serialised.
    running: dict[RequestId, asyncio.Task[Any]] = field(default_factory=dict, repr=False)
    cancel_requested: set[RequestId] = field(default_factory=set, repr=False)
    pending: dict[RequestId, asyncio.Future[Any]] = field(default_factory=dict, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    # --- state that survives a hop between processes ---------------------------------------
    STATE_FIELDS = (
        "id",
        "transport",
        "partition",
        "protocol_version",
        "client_info",
        "client_capabilities",
        "initialized",
        "log_level",
        "remote_ip",
        "key_name",
        "opened_at",
    )

    def state(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.STATE_FIELDS}
        data["subscriptions"] = sorted(self.subscriptions)
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ServerSession:
        session = cls(**{name: data[name] for name in cls.STATE_FIELDS if name in data})
        session.subscriptions = set(data.get("subscriptions", ()))
        return session

    # --- server-to-client requests -----------------------------------------------------------
    def next_request_id(self) -> str:
        return f"s{next(self._ids)}"

    async def request(self, emit: Emit, method: str, params: dict[str, Any] | None, timeout: float) -> Any:
        """Send a request to the client on `emit` and wait for its reply (or raise TimeoutError)."""
        request_id = self.next_request_id()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await emit(message)
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(request_id, None)

    def resolve(self, request_id: RequestId, result: Any, error: dict[str, Any] | None) -> bool:
        """Hand a client's reply to whoever waits for it; False if nobody here does."""
        future = self.pending.get(request_id)
        if future is None or future.done():
            return False
        if error is not None:
            future.set_exception(ClientReplyError(error))
        else:
            future.set_result(result)
        return True

    # --- cancellation -----------------------------------------------------------------------
    def cancel(self, request_id: RequestId) -> bool:
        task = self.running.get(request_id)
        if task is None or task.done():
            return False
        self.cancel_requested.add(request_id)
        task.cancel()
        return True

    def close(self) -> None:
        """Stop everything in flight: the client is gone."""
        for task in list(self.running.values()):
            task.cancel()
        for future in list(self.pending.values()):
            if not future.done():
                future.cancel()
        self.running.clear()
        self.pending.clear()

    def touch(self) -> None:
        self.last_activity = time.time()
