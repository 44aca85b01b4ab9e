"""A stand-in for what a transport keeps for a session, for the directory and control tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_gateway.sessions import ServerSession, new_session_id


@dataclass(eq=False)
class FakeHolder:
    """What a transport keeps for a session: here, only what the directory and control read."""

    session: ServerSession
    channel_name: str | None = None
    closed: list[str] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)

    async def close_session(self, reason: str, code: int = 4008) -> None:
        self.closed.append(reason)
        self.codes.append(code)


def holder(channel: str | None = None, transport: str = "streamable-http") -> FakeHolder:
    return FakeHolder(ServerSession(new_session_id(), transport, "aws", key_name="k"), channel)
