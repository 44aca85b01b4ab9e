"""The gate with OAuth: API keys and access tokens as settings.MCP_AUTH says (`none`, `keys`, `oauth`, `keys+oauth`).

Everything else (rates, stream and session caps) is the rule book's. In `keys+oauth` a bearer starting with the API
key prefix goes to the keys and anything else to OAuth, so each credential is looked up once, in one place.
"""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings

from mcp_gateway.gate import ANONYMOUS, Principal, Refusal
from oauth import challenge, tokens
from ops import keys
from ops.gate import RuleBookGate
from ops.models import TOKEN_PREFIX
from ops.rulebook import book

MODES = frozenset({"none", "keys", "oauth", "keys+oauth"})
OAUTH_MESSAGE = "Unauthorized: send Authorization: Bearer <OAuth access token>"
KEY_MESSAGE = "Unauthorized: send Authorization: Bearer <API key>"
EITHER_MESSAGE = "Unauthorized: send Authorization: Bearer <API key or OAuth access token>"


def auth_mode() -> str:
    """settings.MCP_AUTH; without it, the old MCP_AUTH_REQUIRED (true: `keys`, false: `none`)."""
    mode = getattr(settings, "MCP_AUTH", None)
    if not mode:
        return "keys" if getattr(settings, "MCP_AUTH_REQUIRED", True) else "none"
    if mode not in MODES:
        raise ValueError(f"MCP_AUTH={mode!r}: expected one of {sorted(MODES)}")
    return str(mode)


def oauth_enabled() -> bool:
    return "oauth" in auth_mode()


def bearer_token(authorization: str | None) -> str:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive), or ""."""
    if not authorization:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class OAuthGate(RuleBookGate):
    """The rule book's gate, with OAuth access tokens beside (or instead of) API keys."""

    async def check_credential(self, authorization: str | None, resource: str) -> tuple[Principal, Refusal | None]:
        mode = auth_mode()
        token = bearer_token(authorization)
        if mode == "oauth" or (mode == "keys+oauth" and token and not token.startswith(TOKEN_PREFIX)):
            return await self._check_token(token, resource)
        return await self._check_key(token, mode, resource)

    async def _check_token(self, token: str, resource: str) -> tuple[Principal, Refusal | None]:
        if not token:
            return ANONYMOUS, Refusal(401, OAUTH_MESSAGE, [("www-authenticate", challenge.unauthorized(resource))])
        found = await tokens.validate(token, resource)
        if isinstance(found, str):
            header = challenge.unauthorized(resource, found)
            return ANONYMOUS, Refusal(401, f"Unauthorized: {found}", [("www-authenticate", header)])
        return found, None

    async def _check_key(self, token: str, mode: str, resource: str) -> tuple[Principal, Refusal | None]:
        """An API key; none needed in `none` mode, but one that is sent and wrong is refused in every mode."""
        await book()
        name = keys.authenticate(f"Bearer {token}") if token else None
        if name is not None:
            return Principal(name=name, kind="key", subject=name), None
        if not token and mode == "none":
            return ANONYMOUS, None
        if mode == "keys+oauth":
            why = "the API key is unknown or revoked" if token else ""
            header = challenge.unauthorized(resource, why)
            return ANONYMOUS, Refusal(401, EITHER_MESSAGE, [("www-authenticate", header)])
        return ANONYMOUS, Refusal(
            401, KEY_MESSAGE, [("www-authenticate", 'Bearer realm="awsmcp", error="invalid_token"')]
        )

    def insufficient_scope(self, needed: frozenset[str], resource: str) -> Refusal:
        header = challenge.insufficient_scope(needed, resource)
        message = f"Forbidden: this request needs the scope {' '.join(sorted(needed))}"
        return Refusal(403, message, [("www-authenticate", header)])

    async def ended_credentials(self, credentials: Collection[str]) -> set[str]:
        return await tokens.ended([c for c in credentials if c])
