"""A gate that knows a few bearer tokens, each proving an OAuth principal with its scopes (no authorization server).

Named by MCP_GATE in process tests and in real Daphne processes alike (it imports nothing but the gateway), so the
transports' scope checks can be driven without any OAuth library.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from mcp_gateway.gate import ANONYMOUS, Gate, Principal, Refusal
from mcp_gateway.sessions import ServerSession

READ, SEARCH, CN = "docs:read", "docs:search", "docs:cn"


def oauth(subject: str, *scopes: str, credential: str = "", expires: float | None = None) -> Principal:
    return Principal(
        name=f"oauth:{subject}",
        kind="oauth",
        subject=subject,
        client_id="test-client",
        scopes=frozenset(scopes),
        credential=credential or f"grant:{subject}",
        expires=expires,
    )


TOKENS: dict[str, Principal] = {
    "read": oauth("alice", READ),
    "search": oauth("alice", SEARCH),
    "both": oauth("alice", READ, SEARCH),
    "bob": oauth("bob", READ, SEARCH, credential="grant:bob"),
    "cn": oauth("alice", READ, SEARCH, CN),
    "soon": oauth("carol", READ, SEARCH, expires=time.time() + 3600),
    "lapsed": oauth("dave", READ, SEARCH, expires=time.time() - 1),  # as if it expired since it was checked
}


class ScopedGate(Gate):
    """`Bearer <name>` from TOKENS is that principal; no header is anonymous; anything else is refused (401)."""

    resources: list[str] = []  # the resource URI each check was made for
    ended: set[str] = set()  # credentials to report as ended
    asked_ended: list[set[str]] = []
    valid: set[str] | None = None  # API key names in force (None: keys are not checked)
    held = 0  # sessions counted against caps (hold_session less release_session)

    async def check_credential(self, authorization: str | None, resource: str) -> tuple[Principal, Refusal | None]:
        type(self).resources.append(resource)
        if authorization is None:
            return ANONYMOUS, None
        principal = TOKENS.get(authorization.removeprefix("Bearer "))
        if principal is None:
            return ANONYMOUS, Refusal(401, "Unauthorized", [("www-authenticate", 'Bearer error="invalid_token"')])
        return principal, None

    async def ended_credentials(self, credentials: Collection[str]) -> set[str]:
        type(self).asked_ended.append(set(credentials))
        return set(credentials) & type(self).ended

    async def valid_keys(self) -> Collection[str] | None:
        return type(self).valid

    async def hold_session(self, session: ServerSession) -> None:
        type(self).held += 1

    async def release_session(self, session: ServerSession) -> None:
        type(self).held -= 1
