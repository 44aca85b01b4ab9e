"""Real awsmcp processes in OAuth modes: a protected server with its built-in authorization server, and a second
Daphne of the same code playing an organisation's "external" issuer (the issue asks for a real issuer, not a mock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.oauth_browser import PASSWORD, USER, create_users
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne

POLL = 0.5  # MCP_KEY_REVOCATION_POLL and OPS_RULES_POLL of these servers: revocations are seen within seconds


def oauth_env(origin: OriginServer | None = None, **overrides: str) -> dict[str, str]:
    env = {
        **(origin.settings_env() if origin is not None else {}),
        "MCP_AUTH": "oauth",
        "MCP_KEY_REVOCATION_POLL": str(POLL),
        "OPS_RULES_POLL": str(POLL),
    }
    env.update(overrides)
    return env


@contextmanager
def oauth_server(
    origin: OriginServer | None = None, users: dict[str, str] | None = None, **overrides: str
) -> Iterator[DaphneServer]:
    """A Daphne with `MCP_AUTH=oauth` (unless overridden) and these people (name -> password; by default the
    browser helper's one) able to sign in."""
    with daphne(**oauth_env(origin, **overrides)) as server:
        create_users(server, users or {USER: PASSWORD})
        yield server


@contextmanager
def external_issuer(**overrides: str) -> Iterator[DaphneServer]:
    """Another awsmcp process used only as an authorization server, issuing JWT access tokens (RS256, its JWKS
    at /oauth/.well-known/jwks.json) unless told otherwise. Its own MCP endpoints are not used."""
    env = {"MCP_OAUTH_JWT_ACCESS_TOKENS": "true", **overrides}
    with oauth_server(**env) as server:
        yield server


def issuer_of(server: DaphneServer) -> str:
    """The built-in issuer string of a server reached at 127.0.0.1 (its metadata `issuer`, byte for byte)."""
    return f"{server.base}/oauth"
