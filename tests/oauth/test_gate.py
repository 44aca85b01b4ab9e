"""The OAuth gate: MCP_AUTH's four modes, the exact challenge strings, introspection, ended credentials.

Tokens come from a real loopback issuer (tests.support.jwks_server); API keys from the rule book held in memory.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mcp_gateway.gate import ANONYMOUS, Principal
from oauth import challenge, introspect, tokens
from oauth.gate import OAuthGate, auth_mode, bearer_token
from ops import rulebook
from ops.models import hash_token
from tests.support.jwks_server import INTROSPECT_PATH, JwksServer, Signer

RESOURCE = "https://mcp.example/mcp"
METADATA = "https://mcp.example/.well-known/oauth-protected-resource/mcp"
KEY = "amcp_ABCDEFGHsecret-part-of-the-key"
SIGNER = Signer("gate-key")
NO_TOKEN = f'Bearer resource_metadata="{METADATA}", scope="docs:read docs:search"'
KEYS_HEADER = 'Bearer realm="awsmcp", error="invalid_token"'


@pytest.fixture
def book() -> Iterator[None]:
    """One API key, "ci", in a book marked fresh so nothing reloads it from the database."""
    book = rulebook._book
    saved = (book.rules, book.keys, book.loaded, book.checked_at)
    book.rules = []
    book.keys = {KEY[:13]: rulebook.Key("ci", hash_token(KEY), "")}
    book.loaded, book.checked_at = True, time.monotonic() + 3600
    yield
    book.rules, book.keys, book.loaded, book.checked_at = saved


@pytest.fixture
def gate(settings: Any, issuer_server: JwksServer, book: None) -> Iterator[OAuthGate]:
    settings.MCP_OAUTH_ISSUER = issuer_server.issuer
    settings.MCP_OAUTH_JWKS_URL = issuer_server.url + "/jwks.json"
    settings.MCP_OAUTH_INTROSPECTION_URL = ""
    settings.MCP_OAUTH_AUDIENCE = []
    settings.MCP_OAUTH_AUDIENCE_CLAIM = "aud"
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    settings.MCP_OAUTH_SCOPES = "docs:read docs:search"
    tokens.forget()
    yield OAuthGate()
    tokens.forget()


def access_token(server: JwksServer, **changes: Any) -> str:
    now = int(time.time())
    body = {"iss": server.issuer, "sub": "alice", "aud": RESOURCE, "scope": "docs:read", "exp": now + 600}
    body.update(changes)
    return SIGNER.sign(body, typ="at+jwt")


def header(refusal: Any) -> str:
    return dict(refusal.headers)["www-authenticate"]


async def test_oauth_mode_no_token_gets_the_discovery_challenge(gate: OAuthGate, settings: Any) -> None:
    settings.MCP_AUTH = "oauth"
    principal, refusal = await gate.check_credential(None, RESOURCE)
    assert principal == ANONYMOUS and refusal is not None and refusal.status == 401
    assert header(refusal) == NO_TOKEN


async def test_oauth_mode_bad_token_adds_invalid_token(
    gate: OAuthGate, settings: Any, issuer_server: JwksServer
) -> None:
    settings.MCP_AUTH = "oauth"
    expired = access_token(issuer_server, exp=int(time.time()) - 600)
    _, refusal = await gate.check_credential(f"Bearer {expired}", RESOURCE)
    assert refusal is not None and refusal.status == 401
    assert header(refusal) == NO_TOKEN + ', error="invalid_token", error_description="the token has expired"'


async def test_oauth_mode_takes_tokens_only(gate: OAuthGate, settings: Any, issuer_server: JwksServer) -> None:
    settings.MCP_AUTH = "oauth"
    principal, refusal = await gate.check_credential(f"Bearer {access_token(issuer_server)}", RESOURCE)
    assert refusal is None and principal.name == "oauth:alice" and principal.kind == "oauth"
    assert principal.scopes == frozenset({"docs:read"})
    _, refusal = await gate.check_credential(f"Bearer {KEY}", RESOURCE)
    assert refusal is not None and 'error_description="the token is not a JWT"' in header(refusal)


async def test_keys_and_oauth_route_by_prefix(gate: OAuthGate, settings: Any, issuer_server: JwksServer) -> None:
    settings.MCP_AUTH = "keys+oauth"
    principal, refusal = await gate.check_credential(f"Bearer {KEY}", RESOURCE)
    assert refusal is None and principal == Principal(name="ci", kind="key", subject="ci")
    principal, refusal = await gate.check_credential(f"bearer {access_token(issuer_server)}", RESOURCE)
    assert refusal is None and principal.name == "oauth:alice"
    _, refusal = await gate.check_credential("Bearer amcp_ABCDEFGHwrong", RESOURCE)
    assert refusal is not None and refusal.status == 401
    assert (
        header(refusal) == NO_TOKEN + ', error="invalid_token", error_description="the API key is unknown or revoked"'
    )
    _, refusal = await gate.check_credential(None, RESOURCE)
    assert refusal is not None and header(refusal) == NO_TOKEN


async def test_keys_mode_is_unchanged(gate: OAuthGate, settings: Any, issuer_server: JwksServer) -> None:
    settings.MCP_AUTH = "keys"
    principal, refusal = await gate.check_credential(f"Bearer {KEY}", RESOURCE)
    assert refusal is None and principal.name == "ci"
    for sent in (None, f"Bearer {access_token(issuer_server)}", "Bearer amcp_ABCDEFGHwrong"):
        principal, refusal = await gate.check_credential(sent, RESOURCE)
        assert principal == ANONYMOUS and refusal is not None and refusal.status == 401
        assert header(refusal) == KEYS_HEADER


async def test_none_mode_lets_anonymous_in_but_refuses_a_wrong_key(gate: OAuthGate, settings: Any) -> None:
    settings.MCP_AUTH = "none"
    assert await gate.check_credential(None, RESOURCE) == (ANONYMOUS, None)
    principal, refusal = await gate.check_credential(f"Bearer {KEY}", RESOURCE)
    assert refusal is None and principal.name == "ci"
    _, refusal = await gate.check_credential("Bearer amcp_ABCDEFGHwrong", RESOURCE)
    assert refusal is not None and header(refusal) == KEYS_HEADER


async def test_the_old_setting_still_chooses_when_mcp_auth_is_unset(gate: OAuthGate, settings: Any) -> None:
    settings.MCP_AUTH = ""
    settings.MCP_AUTH_REQUIRED = False
    assert await gate.check_credential(None, RESOURCE) == (ANONYMOUS, None)
    settings.MCP_AUTH_REQUIRED = True
    _, refusal = await gate.check_credential(None, RESOURCE)
    assert refusal is not None and header(refusal) == KEYS_HEADER


def test_insufficient_scope_names_every_needed_scope(settings: Any) -> None:
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    refusal = OAuthGate().insufficient_scope(frozenset({"docs:read", "docs:cn"}), RESOURCE)
    assert refusal.status == 403
    assert (
        header(refusal)
        == f'Bearer error="insufficient_scope", scope="docs:cn docs:read", resource_metadata="{METADATA}"'
    )


def test_challenges_quote_and_prefix(settings: Any) -> None:
    settings.MCP_OAUTH_SCOPE_PREFIX = "https://mcp.example/mcp/"
    settings.MCP_OAUTH_SCOPES = "docs:read"
    assert challenge.unauthorized(RESOURCE, 'bad "x" \\ y\r\nz') == (
        f'Bearer resource_metadata="{METADATA}", scope="https://mcp.example/mcp/docs:read", '
        'error="invalid_token", error_description="bad \\"x\\" \\\\ yz"'
    )
    assert challenge.metadata_url("https://h.example:8443/public/mcp") == (
        "https://h.example:8443/.well-known/oauth-protected-resource/public/mcp"
    )


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("BEARER  abc ") == "abc"
    assert bearer_token("Basic abc") == ""
    assert bearer_token(None) == ""
    assert bearer_token("Bearer") == ""


def test_an_unknown_mode_is_an_error(settings: Any) -> None:
    settings.MCP_AUTH = "passwords"
    with pytest.raises(ValueError, match="MCP_AUTH"):
        auth_mode()


# --- introspection (RFC 7662) ---------------------------------------------------------------------------------


@pytest.fixture
def introspecting(gate: OAuthGate, settings: Any, issuer_server: JwksServer) -> OAuthGate:
    settings.MCP_AUTH = "oauth"
    settings.MCP_OAUTH_INTROSPECTION_URL = issuer_server.url + INTROSPECT_PATH
    settings.MCP_OAUTH_INTROSPECTION_CLIENT_ID, settings.MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = (
        issuer_server.state.client
    )
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 300
    return gate


def active(server: JwksServer, **changes: Any) -> dict[str, Any]:
    answer = {
        "active": True,
        "sub": "bob",
        "client_id": "c-9",
        "aud": [RESOURCE],
        "scope": "docs:search",
        "exp": int(time.time()) + 600,
        "iss": server.issuer,
    }
    answer.update(changes)
    return answer


async def test_introspection_active_inactive_and_wrong_audience(
    introspecting: OAuthGate, issuer_server: JwksServer
) -> None:
    issuer_server.state.introspection = {
        "good": active(issuer_server),
        "other-aud": active(issuer_server, aud="https://other.example/mcp"),
        "no-aud": active(issuer_server, aud=None),
        "old": active(issuer_server, exp=int(time.time()) - 600),
        "foreign": active(issuer_server, iss="https://evil.example"),
        "off": {"active": False},
    }
    principal, refusal = await introspecting.check_credential("Bearer good", RESOURCE)
    assert refusal is None and principal.name == "oauth:bob" and principal.scopes == frozenset({"docs:search"})
    assert principal.credential == f"introspect:{tokens.checksum('good')}"
    reasons = {}
    for token in ("other-aud", "no-aud", "old", "foreign", "off", "never-seen"):
        _, refusal = await introspecting.check_credential(f"Bearer {token}", RESOURCE)
        assert refusal is not None and refusal.status == 401
        reasons[token] = refusal.message
    assert reasons == {
        "other-aud": "Unauthorized: the token was not issued for this resource",
        "no-aud": "Unauthorized: the token was not issued for this resource",
        "old": "Unauthorized: the token has expired",
        "foreign": "Unauthorized: the token was issued by another issuer",
        "off": "Unauthorized: the token is not active",
        "never-seen": "Unauthorized: the token is not active",
    }


async def test_introspection_answers_are_cached_and_revocation_is_seen(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    issuer_server.state.introspection = {"good": active(issuer_server)}
    principal, _ = await introspecting.check_credential("Bearer good", RESOURCE)
    await introspecting.check_credential("Bearer good", RESOURCE)
    assert issuer_server.state.hits[INTROSPECT_PATH] == 1
    assert await introspecting.ended_credentials([principal.credential]) == set()  # cached, still good
    issuer_server.state.introspection = {}  # revoked at the issuer
    tokens._cache.clear()  # the cache time has passed
    assert await introspecting.ended_credentials([principal.credential, ""]) == {principal.credential}


async def test_introspection_with_wrong_client_credentials_is_refused(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    settings.MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = "wrong"
    issuer_server.state.introspection = {"good": active(issuer_server)}
    _, refusal = await introspecting.check_credential("Bearer good", RESOURCE)
    assert refusal is not None and "could not be introspected" in refusal.message and "HTTP 401" in refusal.message


async def test_introspections_in_flight_are_capped(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    """With the one slot held by an introspection in flight, the next token waits, then is refused unasked."""
    settings.MCP_OAUTH_INTROSPECTION_CONCURRENCY = 1
    settings.MCP_OAUTH_FETCH_TIMEOUT = 1
    issuer_server.state.introspection = {"second": active(issuer_server)}
    slots = introspect._in_flight()
    await slots.acquire()  # an introspection in flight
    _, refusal = await introspecting.check_credential("Bearer second", RESOURCE)
    assert refusal is not None and "too many introspections in flight" in refusal.message
    assert issuer_server.state.hits[INTROSPECT_PATH] == 0  # it never reached the issuer
    slots.release()
    principal, refusal = await introspecting.check_credential("Bearer second", RESOURCE)
    assert refusal is None and principal.name == "oauth:bob"


async def test_a_stuck_introspection_is_cut_at_the_fetch_timeout(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    settings.MCP_OAUTH_FETCH_TIMEOUT = 1
    issuer_server.state.introspection = {"good": active(issuer_server)}
    issuer_server.state.hold = threading.Event()
    try:
        _, refusal = await introspecting.check_credential("Bearer good", RESOURCE)
    finally:
        issuer_server.state.hold.set()
    assert refusal is not None and "took longer than 1 s" in refusal.message


# --- ended credentials of the built-in authorization server ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_ended_credentials_asks_the_database_off_the_loop(settings: Any) -> None:
    from asgiref.sync import sync_to_async

    from tests.oauth.test_tokens_builtin import make_app, make_refresh, make_token, make_user

    def grant_lines() -> tuple[str, str]:
        kept, gone = make_user("kept"), make_user("gone")
        app = make_app()
        kept_token, gone_token = make_token(kept, app, "kept-1"), make_token(gone, app, "gone-1")
        make_refresh(kept, app, "kept-r", kept_token)
        make_refresh(gone, app, "gone-r", gone_token).revoke()
        return f"dot:{kept.pk}:{app.pk}:{kept_token.pk}:", f"dot:{gone.pk}:{app.pk}:{gone_token.pk}:"

    kept, gone = await sync_to_async(grant_lines)()
    assert await OAuthGate().ended_credentials([kept, gone, ""]) == {gone}


# --- introspection in the warden: only the issuer's "no" ends a credential ----------------------------------


async def test_an_issuer_that_cannot_answer_ends_no_credential(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    issuer_server.state.introspection = {"good": active(issuer_server)}
    principal, _ = await introspecting.check_credential("Bearer good", RESOURCE)
    tokens._cache.clear()  # the cache time has passed
    issuer_server.state.introspection = {}  # it is revoked, but the issuer cannot say so:
    settings.MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = "wrong"  # an HTTP error
    assert await introspecting.ended_credentials([principal.credential]) == set()
    settings.MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = issuer_server.state.client[1]
    settings.MCP_OAUTH_FETCH_TIMEOUT = 1
    issuer_server.state.hold = threading.Event()  # a stuck issuer: the timeout
    try:
        assert await introspecting.ended_credentials([principal.credential]) == set()
    finally:
        issuer_server.state.hold.set()
        issuer_server.state.hold = None
    slots = introspect._in_flight()
    for _ in range(4):
        await slots.acquire()  # every slot busy: "too many in flight"
    try:
        assert await introspecting.ended_credentials([principal.credential]) == set()
    finally:
        for _ in range(4):
            slots.release()
    assert await introspecting.ended_credentials([principal.credential]) == {principal.credential}  # "no"


async def test_an_unreachable_issuer_is_no_refusal_to_remember(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    issuer_server.state.introspection = {"good": active(issuer_server), "off": {"active": False}}
    settings.MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = "wrong"
    _, refusal = await introspecting.check_credential("Bearer good", RESOURCE)
    assert refusal is not None and "could not be introspected" in refusal.message
    settings.MCP_OAUTH_INTROSPECTION_CLIENT_SECRET = issuer_server.state.client[1]
    principal, refusal = await introspecting.check_credential("Bearer good", RESOURCE)
    assert refusal is None and principal.name == "oauth:bob"
    for _ in range(3):  # the issuer's "no" is remembered: asked once
        _, refusal = await introspecting.check_credential("Bearer off", RESOURCE)
        assert refusal is not None and refusal.message == "Unauthorized: the token is not active"
    assert issuer_server.state.hits[INTROSPECT_PATH] == 3  # good (refused, then accepted), off once


async def test_the_checks_of_one_round_run_side_by_side(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any
) -> None:
    issuer_server.state.introspection = {"one": active(issuer_server), "two": active(issuer_server, sub="carl")}
    one, _ = await introspecting.check_credential("Bearer one", RESOURCE)
    two, _ = await introspecting.check_credential("Bearer two", RESOURCE)
    tokens._cache.clear()
    issuer_server.state.hold = threading.Event()
    round_ = asyncio.create_task(introspecting.ended_credentials([one.credential, two.credential]))
    try:
        # Both asked while the first is still held (the counter lives in the issuer's thread: polled).
        while issuer_server.state.hits[INTROSPECT_PATH] < 4:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        issuer_server.state.hold.set()
    assert await round_ == set()


async def test_a_credential_whose_token_was_dropped_is_reported_and_not_ended(
    introspecting: OAuthGate, issuer_server: JwksServer, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MCP_OAUTH_INTROSPECTED_MAX = 1
    issuer_server.state.introspection = {"one": active(issuer_server), "two": active(issuer_server)}
    one, _ = await introspecting.check_credential("Bearer one", RESOURCE)
    await introspecting.check_credential("Bearer two", RESOURCE)  # drops "one"
    tokens._cache.clear()
    issuer_server.state.introspection = {}
    with caplog.at_level("WARNING", logger="oauth.tokens"):
        assert await introspecting.ended_credentials([one.credential]) == set()
    assert "no longer held (MCP_OAUTH_INTROSPECTED_MAX)" in caplog.text
    assert issuer_server.state.hits[INTROSPECT_PATH] == 2  # never asked again
