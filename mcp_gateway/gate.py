"""The gate every entrance asks who may come in: credentials (API keys, tokens), request rates, stream slots and
session caps; and which scopes a principal lacks is told in its words.

The gateway only states the questions; an app answers them (ops' rule book by default). The class is named by the
MCP_GATE setting, a dotted path, the way Django's SESSION_ENGINE names the session store; without it every client is
let in, so the gateway runs on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:  # sessions carry a Principal: the gate names ServerSession only in its signatures
    from mcp_gateway.sessions import ServerSession


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from, as the gate proved it."""

    # Owns sessions and counts in per-key rules: "" anonymous, an API key's name, or "oauth:<subject>".
    name: str = ""
    kind: str = ""  # "" (anonymous), "key", "oauth"
    subject: str = ""  # the user (username) or the token's `sub`
    client_id: str = ""  # the OAuth client id
    scopes: frozenset[str] | None = None  # None: unscoped (anonymous, API keys), every scope allowed
    credential: str = ""  # an opaque id the warden asks gate.ended_credentials about ("" = nothing to check)
    expires: float | None = None  # epoch seconds the token stops being valid (a WebSocket closes then)

    def lacks(self, needed: frozenset[str]) -> frozenset[str]:
        """The scopes of `needed` this principal does not hold (none when it is unscoped)."""
        return frozenset() if self.scopes is None else needed - self.scopes


ANONYMOUS = Principal()


@dataclass(slots=True)
class Refusal:
    """Why a client is turned away: the HTTP status, a message for it, headers such as Retry-After."""

    status: int
    message: str
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class SessionCap:
    """The most sessions a group of clients (one IP, one API key) may hold at once."""

    group: str
    cap: int
    rule_name: str
    noun: str  # what it is counted per, for the refusal's message


class Gate:
    """The questions the transports ask, answered "yes" (allow-all); an app overrides what it enforces."""

    async def check_credential(self, authorization: str | None, resource: str) -> tuple[Principal, Refusal | None]:
        """(who is calling, refusal) for an Authorization header sent to `resource` (this server's canonical URI).

        By default the API key check: a key's principal is named after the key and holds every scope."""
        key_name, refused = await self.check_key(authorization)
        if refused is not None or not key_name:
            return ANONYMOUS, refused
        return Principal(name=key_name, kind="key", subject=key_name), None

    def insufficient_scope(self, needed: frozenset[str], resource: str) -> Refusal:
        """403 naming every scope the request needs (RFC 6750 §3.1), so a client can ask for them all at once."""
        scope = " ".join(sorted(needed))
        return Refusal(
            403,
            f"Forbidden: this request needs the scope(s) {scope}",
            [("www-authenticate", f'Bearer error="insufficient_scope", scope="{scope}"')],
        )

    async def ended_credentials(self, credentials: Collection[str]) -> set[str]:
        """Which of these credentials no longer hold (a revoked grant, a disabled user): their sessions end."""
        return set()

    async def check_key(self, authorization: str | None) -> tuple[str, Refusal | None]:
        """(API key name or "" for none, refusal) for an Authorization header."""
        return "", None

    async def check_rate(self, ip: str, key_name: str, endpoint: str) -> Refusal | None:
        """Count one request; a refusal when a request-rate rule is exceeded."""
        return None

    async def check_tool(self, ip: str, key_name: str, tool: str) -> Refusal | None:
        """Count one call of a tool; a refusal (with Retry-After) when a per-tool rate rule is exceeded."""
        return None

    async def claim_stream(self, ip: str, slot: str, endpoint: str) -> Refusal | None:
        """Take an open-stream slot for this client (held until release_stream), or say why not."""
        return None

    async def release_stream(self, ip: str, slot: str) -> None:
        """Give back a slot claim_stream gave (twice is harmless)."""

    def session_groups(self, session: ServerSession) -> list[str]:
        """The groups a session counts in for session caps."""
        return []

    async def session_caps(self, ip: str, key_name: str) -> list[SessionCap]:
        """The session caps this client is under."""
        return []

    async def sessions_held(self, group: str) -> int:
        """Live sessions of a group."""
        return 0

    async def hold_session(self, session: ServerSession) -> None:
        """Count a new session against its groups' caps (until release_session)."""

    async def release_session(self, session: ServerSession) -> None:
        """Stop counting a session (twice is harmless)."""

    async def valid_keys(self) -> Collection[str] | None:
        """Names of the API keys still valid (sessions of others are closed); None when keys are not checked."""
        return None


ALLOW_ALL = Gate()
_loaded: tuple[str, Gate] = ("", ALLOW_ALL)


def get_gate() -> Gate:
    """The gate named by settings.MCP_GATE (one instance per process), or the allow-all gate when unset."""
    global _loaded
    path = getattr(settings, "MCP_GATE", "") or ""
    if path != _loaded[0]:
        _loaded = (path, import_string(path)() if path else ALLOW_ALL)
    return _loaded[1]
