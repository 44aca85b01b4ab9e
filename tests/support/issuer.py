"""Real awsmcp processes in OAuth modes: a protected server with its built-in authorization server, and a second
Daphne of the same code playing an organisation's "external" issuer (the issue asks for a real issuer, not a mock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

from tests.support.oauth_browser import PASSWORD, USER, create_users
from tests.support.origin import OriginServer
from tests.support.processes import DaphneServer, daphne, free_port

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
def daphne_at(port: int, **env: str) -> Iterator[DaphneServer]:
    """`daphne()` on a port chosen beforehand: an issuer must be told the resource it issues tokens for (its
    MCP_RESOURCE_URL) before the protected server, which must be told the issuer, is started."""
    with ExitStack() as stack:
        with mock.patch("tests.support.processes.free_port", return_value=port):
            server = stack.enter_context(daphne(**env))
        yield server


@contextmanager
def issuer_for(users: dict[str, str] | None = None, **overrides: str) -> Iterator[tuple[DaphneServer, int]]:
    """Another awsmcp process used only as the organisation's authorization server, issuing tokens for the
    resource `http://127.0.0.1:PORT/mcp`; yields it and PORT, where the protected server must then be started
    (`daphne_at`). Its own MCP endpoints are not used."""
    port = free_port()
    with daphne(**oauth_env(MCP_RESOURCE_URL=f"http://127.0.0.1:{port}/mcp", **overrides)) as server:
        create_users(server, users or {USER: PASSWORD})
        yield server, port


def issuer_of(server: DaphneServer) -> str:
    """The built-in issuer string of a server reached at 127.0.0.1 (its metadata `issuer`, byte for byte)."""
    return f"{server.base}/oauth"
