"""What a tool, resource or prompt handler may do while it runs: report progress, log, ask the client.

Messages go out through `emit`, which the transport binds to the right stream (the POST's own
SSE stream on Streamable HTTP, the session stream on legacy SSE and WebSocket).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp_gateway.jsonrpc import RequestId, notification_message
from mcp_gateway.sessions import LOG_LEVELS, Emit, ServerSession

CLIENT_REQUEST_TIMEOUT = 300.0

# Ends the HTTP response carrying this call's stream while the call goes on (SSE polling,
# SEP-1699): the client resumes with Last-Event-ID. None where the transport has no such stream.
Hangup = Callable[[], None]


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

    async def ask_client(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = CLIENT_REQUEST_TIMEOUT
    ) -> Any:
        """Send a server-to-client request (sampling, elicitation, roots) tied to this call."""
        return await self.session.request(self.emit, method, params, timeout)
