"""The gate the gateway asks at every entrance, answered from the rule book (settings.MCP_GATE names it)."""

from __future__ import annotations

from collections.abc import Collection

from mcp_gateway.gate import Gate, Refusal, SessionCap
from mcp_gateway.sessions import ServerSession
from ops import keys, leases, rates


class RuleBookGate(Gate):
    """API keys, request rates, stream and session caps as staff set them in the admin."""

    async def check_key(self, authorization: str | None) -> tuple[str, Refusal | None]:
        return await keys.check_key(authorization)

    async def check_rate(self, ip: str, key_name: str, endpoint: str) -> Refusal | None:
        return await rates.check_rate(ip, key_name, endpoint)

    async def check_tool(self, ip: str, key_name: str, tool: str) -> Refusal | None:
        return await rates.check_tool(ip, key_name, tool)

    async def claim_stream(self, ip: str, slot: str, endpoint: str) -> Refusal | None:
        return await leases.claim_stream(ip, slot, endpoint)

    async def release_stream(self, ip: str, slot: str) -> None:
        await leases.release_stream(ip, slot)

    def session_groups(self, session: ServerSession) -> list[str]:
        return leases.session_groups(session)

    async def session_caps(self, ip: str, key_name: str) -> list[SessionCap]:
        return await leases.session_caps(ip, key_name)

    async def sessions_held(self, group: str) -> int:
        return await leases.sessions_held(group)

    async def hold_session(self, session: ServerSession) -> None:
        await leases.hold_session(session)

    async def release_session(self, session: ServerSession) -> None:
        await leases.release_session(session)

    async def valid_keys(self) -> Collection[str] | None:
        return await keys.valid_keys()
