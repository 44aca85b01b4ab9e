"""API key authentication: `Authorization: Bearer <token>` against the keys of the rule book."""

from __future__ import annotations

import hmac
import time

from django.conf import settings

from mcp_gateway.gate import Refusal
from ops.models import TOKEN_PREFIX, hash_token
from ops.rulebook import book, current

BEARER = "bearer "
used_keys: dict[str, float] = {}  # key name -> last use, written in the connections table's activity batch


def _token(authorization: str | None) -> str:
    """The bearer token of an Authorization header, or "" when there is none."""
    if not authorization or not authorization.lower().startswith(BEARER):
        return ""
    return authorization[len(BEARER) :].strip()


def authenticate(authorization: str | None) -> str | None:
    """The API key name for an `Authorization: Bearer <token>` header, or None (compared in constant time)."""
    token = _token(authorization)
    if not token:
        return None
    key = current().keys.get(token[: len(TOKEN_PREFIX) + 8])
    if key is None or not hmac.compare_digest(key.token_hash, hash_token(token)):
        return None
    used_keys[key.name] = time.time()
    return key.name


async def check_key(authorization: str | None) -> tuple[str, Refusal | None]:
    """(key name, refusal): 401 when the key is wrong, or missing while MCP_AUTH_REQUIRED.

    A token that is sent but not (or no longer) valid is refused even when keys are optional: a revoked key
    must not quietly carry on as an anonymous client."""
    await book()
    name = authenticate(authorization)
    if name is None and (settings.MCP_AUTH_REQUIRED or _token(authorization)):
        return "", Refusal(
            401,
            "Unauthorized: send Authorization: Bearer <API key>",
            [("www-authenticate", 'Bearer realm="awsmcp", error="invalid_token"')],
        )
    return name or "", None


async def valid_keys() -> set[str]:
    """Names of the keys in force (enabled, not revoked)."""
    return {key.name for key in (await book()).keys.values()}
