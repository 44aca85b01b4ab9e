"""Protocol revisions this server speaks, taken from mcp-types' registry so both stay in step."""

from __future__ import annotations

from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    KNOWN_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
    is_version_at_least,
)

# Reached through initialize (stateful sessions).
STATEFUL_VERSIONS: frozenset[str] = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)
LATEST_STATEFUL: str = LATEST_HANDSHAKE_VERSION
# Stateless revisions: server/discover plus a per-request _meta envelope.
STATELESS_VERSIONS: frozenset[str] = frozenset(MODERN_PROTOCOL_VERSIONS)
KNOWN_VERSIONS: frozenset[str] = frozenset(KNOWN_PROTOCOL_VERSIONS)
__all__ = [
    "KNOWN_PROTOCOL_VERSIONS",
    "KNOWN_VERSIONS",
    "LATEST_STATEFUL",
    "STATEFUL_VERSIONS",
    "STATELESS_VERSIONS",
    "is_version_at_least",
]
# JSON-RPC batches existed in exactly one revision.
BATCH_VERSIONS: frozenset[str] = frozenset({"2025-03-26"})
