"""The stateless 2026-07-28 revision: `server/discover` and requests that carry their own `_meta` envelope.

Such a request needs no `initialize`: its protocol version, client info, capabilities and log level
ride in `params._meta`. Results gain `resultType`, and cacheable ones `ttlMs` and `cacheScope`.
"""

from __future__ import annotations

from typing import Any

from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    LOG_LEVEL_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
)
from mcp_types.jsonrpc import HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION

from mcp_gateway.jsonrpc import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RESOURCE_NOT_FOUND,
    JsonRpcError,
    Payload,
    Request,
)
from mcp_gateway.sessions import LOG_LEVELS, ServerSession
from mcp_gateway.versions import KNOWN_PROTOCOL_VERSIONS, STATELESS_VERSIONS

# Methods the 2026-07-28 revision removed: answered "method not found" in that revision.
REMOVED = frozenset({"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})
# Results a client may cache; lists are the same for every client of a partition.
CACHEABLE = {
    "tools/list": ("public", 60_000),
    "prompts/list": ("public", 60_000),
    "resources/list": ("public", 60_000),
    "resources/templates/list": ("public", 60_000),
    "resources/read": ("private", 0),
    "server/discover": ("public", 60_000),
}

# HTTP statuses of request errors in this revision.
HTTP_STATUS = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}


def is_modern(request: Request) -> bool:
    meta = request.params.get("_meta")
    return request.method == "server/discover" or (isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta)


def is_stateless(payload: Payload, version_header: str | None) -> bool:
    """Whether an HTTP body belongs to the stateless revision (no session to find or make)."""
    if version_header in STATELESS_VERSIONS:
        return True
    return any(isinstance(m, Request) and is_modern(m) for m in payload.messages)


def unsupported(requested: Any) -> JsonRpcError:
    return JsonRpcError(
        UNSUPPORTED_PROTOCOL_VERSION,
        f"Unsupported protocol version: {requested!r}",
        {"supported": list(KNOWN_PROTOCOL_VERSIONS), "requested": requested},
    )


def envelope_version(request: Request) -> Any:
    """The protocol version the request's `_meta` envelope names; INVALID_PARAMS when the envelope is malformed."""
    meta = request.params.get("_meta")
    if not isinstance(meta, dict):
        raise JsonRpcError(INVALID_PARAMS, f"params._meta must carry {PROTOCOL_VERSION_META_KEY!r}")
    missing = [k for k in (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY) if k not in meta]
    if missing:
        raise JsonRpcError(INVALID_PARAMS, f"params._meta is missing {', '.join(missing)}")
    return meta[PROTOCOL_VERSION_META_KEY]


def adopt_envelope(session: ServerSession, request: Request) -> str | None:
    """Check the request's `_meta` envelope and apply it to the session; returns its log level."""
    version = envelope_version(request)
    if not isinstance(version, str):
        raise JsonRpcError(INVALID_PARAMS, f"{PROTOCOL_VERSION_META_KEY} must be a string")
    if version not in STATELESS_VERSIONS:
        raise unsupported(version)
    meta = request.params["_meta"]
    capabilities = meta.get(CLIENT_CAPABILITIES_META_KEY)
    info = meta.get(CLIENT_INFO_META_KEY)
    session.protocol_version = version
    session.initialized = True
    session.client_capabilities = capabilities if isinstance(capabilities, dict) else {}
    if isinstance(info, dict):
        session.client_info = {k: v for k, v in info.items() if k in ("name", "title", "version")}
    level = meta.get(LOG_LEVEL_META_KEY)
    return level if level in LOG_LEVELS else None


def check_version_header(request: Request, header: str | None) -> None:
    """Over HTTP, MCP-Protocol-Version must be sent and agree with the envelope (SEP-2243: a missing
    required header is a mismatch too)."""
    version = envelope_version(request)
    if header != version:
        raise JsonRpcError(
            HEADER_MISMATCH, f"MCP-Protocol-Version header {header!r} does not match _meta version {version!r}"
        )


def revise_error(error: JsonRpcError) -> JsonRpcError:
    """An error as this revision spells it: an unknown resource is invalid params (SEP-2164), where
    2025-11-25 and earlier said -32002."""
    if error.code == RESOURCE_NOT_FOUND:
        return JsonRpcError(INVALID_PARAMS, error.message, error.data)
    return error


def finish_result(method: str, result: Any) -> Any:
    if not isinstance(result, dict):
        return result
    result.setdefault("resultType", "complete")
    cache = CACHEABLE.get(method)
    if cache is not None:
        result.setdefault("cacheScope", cache[0])
        result.setdefault("ttlMs", cache[1])
    return result


def discover_result(capabilities: dict[str, Any], server_info: dict[str, Any], instructions: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "supportedVersions": list(KNOWN_PROTOCOL_VERSIONS),
        # resources/subscribe is gone in this revision (subscriptions/listen replaces it).
        "capabilities": {**capabilities, "resources": {"listChanged": False}},
        "_meta": {SERVER_INFO_META_KEY: server_info},
    }
    if instructions:
        result["instructions"] = instructions
    return result
