"""What a tool, resource or prompt handler may do while it runs: report progress, log, ask the client.

Messages go out through `emit`, which the transport binds to the right stream (the POST's own
SSE stream on Streamable HTTP, the session stream on legacy SSE and WebSocket). Asking the client goes
through `ask_client`: a server-to-client request in a stateful session, an input-required round on a
2026-07-28 request (which never carries a request of the server's on its response stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_types import PROTOCOL_VERSION_META_KEY
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY

from mcp_gateway.input_required import Round
from mcp_gateway.jsonrpc import INTERNAL_ERROR, JsonRpcError, RequestId, notification_message
from mcp_gateway.sessions import LOG_LEVELS, Emit, ServerSession

CLIENT_REQUEST_TIMEOUT = 300.0

# Ends the HTTP response carrying this call's stream while the call goes on (SSE polling,
# SEP-1699): the client resumes with Last-Event-ID. None where the transport has no such stream.
Hangup = Callable[[], None]
# Asks the client in a way of its own (a task asks through tasks/get and tasks/update): method, params, timeout.
Asker = Callable[[str, dict[str, Any] | None, float], Awaitable[Any]]
# The capability a client must declare before the server may send it each request.
REQUIRED_CAPABILITY = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}


async def drop_messages(message: dict[str, Any]) -> None:
    """Emit for answers that cannot carry in-call messages (JSON-only POST replies)."""


@dataclass(slots=True)
class RequestContext:
    session: ServerSession
    request_id: RequestId | None
    emit: Emit = drop_messages
    progress_token: str | int | None = None
    # None sends no log messages (a 2026-07-28 request that did not opt in).
    log_level: str | None = "info"
    hangup: Hangup | None = None
    asker: Asker | None = None
    request_method: str = ""
    request_params: dict[str, Any] = field(default_factory=dict)
    request_meta: dict[str, Any] = field(default_factory=dict)
    # Set by the core on a 2026-07-28 request that may answer input_required.
    round: Round | None = None

    @property
    def modern(self) -> bool:
        """A 2026-07-28 request: it carries its protocol version and capabilities in `_meta`."""
        return PROTOCOL_VERSION_META_KEY in self.request_meta

    @property
    def client_capabilities(self) -> dict[str, Any]:
        return self.session.client_capabilities

    def close_stream(self) -> bool:
        """Let go of the client's connection for now; False if this transport cannot."""
        if self.hangup is None:
            return False
        self.hangup()
        return True

    @property
    def partition(self) -> str:
        return self.session.partition

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.emit(notification_message("notifications/progress", params))

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """Send notifications/message if the client's level (logging/setLevel) lets it through."""
        if self.log_level is None or LOG_LEVELS.index(level) < LOG_LEVELS.index(self.log_level):
            return
        params: dict[str, Any] = {"level": level, "data": data}
        if logger:
            params["logger"] = logger
        await self.emit(notification_message("notifications/message", params))

    def require_capability(self, method: str) -> None:
        """-32021 unless the client declared what `method` needs. Checked on 2026-07-28 requests, where the
        capabilities ride in each request's `_meta`; stateful sessions keep sending as they always did."""
        needed = REQUIRED_CAPABILITY.get(method)
        if not self.modern or needed is None or needed in self.client_capabilities:
            return
        raise JsonRpcError(
            MISSING_REQUIRED_CLIENT_CAPABILITY,
            f"Missing required client capability: {needed} (needed for {method})",
            {"requiredCapabilities": {needed: {}}},
        )

    async def ask_client(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float = CLIENT_REQUEST_TIMEOUT,
        *,
        key: str | None = None,
    ) -> Any:
        """Ask the client (sampling, elicitation, roots) on behalf of this call and return its answer.

        `key` names the ask in an input-required round (the client answers under it); by default asks are
        numbered in the order they are made."""
        self.require_capability(method)
        if self.asker is not None:
            return await self.asker(method, params, timeout)
        if self.round is not None:
            return self.round.answer(key, method, params)
        if self.modern:  # 2026-07-28 sends no request of its own on a response stream
            raise JsonRpcError(INTERNAL_ERROR, f"{self.request_method or 'this request'} cannot ask the client")
        return await self.session.request(self.emit, method, params, timeout)

    async def ask_client_all(
        self, asks: Mapping[str, tuple[str, dict[str, Any] | None]], timeout: float = CLIENT_REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """Several asks at once, keyed by name: one input-required round, or concurrent requests in a session."""
        for method, _ in asks.values():
            self.require_capability(method)
        if self.round is not None and self.asker is None:
            return self.round.answer_all(asks)
        keys = list(asks)
        answers = await asyncio.gather(*(self.ask_client(*asks[k], timeout) for k in keys))
        return dict(zip(keys, answers, strict=True))
