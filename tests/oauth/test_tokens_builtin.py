"""The built-in authorization server's tokens: rows of django-oauth-toolkit's tables, looked up by checksum.

The rows are made with DOT's own models in the test database (hashed at rest, as the built-in AS stores them);
the check runs on the database pool, as at the entrance.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import (
    AccessToken,
    Application,
    RefreshToken,
    set_token_value,
)

from mcp_gateway.gate import Principal
from oauth import tokens
from tests.support.jwks_server import Signer

RESOURCE = "http://testserver/mcp"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def builtin(settings: Any) -> Any:
    settings.MCP_OAUTH_ISSUER = ""
    settings.MCP_OAUTH_AUDIENCE = []
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    tokens.forget()
    yield
    tokens.forget()


def make_user(name: str = "alice") -> Any:
    return get_user_model().objects.create_user(name, password="pw-" + name)


def make_app(name: str = "client") -> Application:
    return Application.objects.create(
        name=name,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:5000/cb",
    )


def make_token(
    user: Any,
    app: Application,
    raw: str,
    resource: list[str] | None = None,
    expires_in: float = 3600,
    scope: str = "docs:read docs:search",
) -> AccessToken:
    token = AccessToken(
        user=user,
        application=app,
        expires=timezone.now() + timedelta(seconds=expires_in),
        scope=scope,
        resource=[RESOURCE] if resource is None else resource,
    )
    set_token_value(token, raw)
    token.save()
    return token


def make_refresh(
    user: Any, app: Application, raw: str, access: AccessToken | None, family: uuid.UUID | None = None
) -> RefreshToken:
    """A refresh token (of `family`: DOT gives a refresh the family of the token it used)."""
    refresh = RefreshToken(user=user, application=app, access_token=access, resource=[RESOURCE], token_family=family)
    set_token_value(refresh, raw)
    refresh.save()
    return refresh


async def check(token: str) -> Principal | str:
    return await tokens.validate(token, RESOURCE)


async def test_a_live_token_gives_the_user_and_names_the_token() -> None:
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    row = await sync_to_async(make_token)(user, app, "opaque-token-1")
    assert row.token == ""  # hashed at rest: the lookup can only be by checksum
    found = await check("opaque-token-1")
    assert found == Principal(
        name="oauth:alice",
        kind="oauth",
        subject="alice",
        client_id=app.client_id,
        scopes=frozenset({"docs:read", "docs:search"}),
        credential=f"dot:{user.pk}:{app.pk}:{row.pk}:",  # no refresh token: no family
        expires=row.expires.timestamp(),
    )


async def test_unknown_expired_and_disabled_are_refused() -> None:
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    await sync_to_async(make_token)(user, app, "expired", expires_in=-1)
    assert await check("expired") == "the token has expired"
    assert await check("never-issued") == "the token is unknown or revoked"
    await sync_to_async(make_token)(user, app, "live")
    user.is_active = False
    await sync_to_async(user.save)()
    assert await check("live") == "the token's user is disabled"


@pytest.mark.parametrize(
    "resource", [[], ["http://other.example/mcp"], ["http://testserver/mcpx"], ["https://testserver/mcp"]]
)
async def test_a_token_without_our_resource_is_refused(resource: list[str]) -> None:
    """DOT treats an empty resource list as unrestricted; the resource server does not."""
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    row = await sync_to_async(make_token)(user, app, "foreign", resource=resource)
    if not resource:
        assert row.allows_audience(RESOURCE)  # the trap, as DOT has it
    assert await check("foreign") == "the token was not issued for this resource"


async def test_a_revoked_token_is_refused_once_the_cache_lets_go(settings: Any) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 0
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    row = await sync_to_async(make_token)(user, app, "to-revoke")
    assert isinstance(await check("to-revoke"), Principal)
    await sync_to_async(row.revoke)()
    assert await check("to-revoke") == "the token is unknown or revoked"


async def test_jwt_access_tokens_of_the_builtin_server_are_found_the_same_way(settings: Any) -> None:
    """With MCP_OAUTH_JWT_ACCESS_TOKENS the built-in AS mints JWTs but still stores them: the row decides."""
    settings.MCP_OAUTH_JWT_ACCESS_TOKENS = True
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    now = int(time.time())
    body = {"iss": "http://testserver/oauth", "sub": "alice", "aud": RESOURCE, "exp": now + 600, "scope": "docs:read"}
    raw = Signer("builtin").sign(body, typ="at+jwt")
    await sync_to_async(make_token)(user, app, raw, scope="docs:read")
    found = await check(raw)
    assert isinstance(found, Principal) and found.scopes == frozenset({"docs:read"})
    tampered = raw[:-6] + ("AAAAAA" if not raw.endswith("AAAAAA") else "BBBBBB")
    assert await check(tampered) == "the token is unknown or revoked"


def _ended(credentials: list[str]) -> set[str]:
    return tokens.ended_builtin(credentials)


def credential(token: AccessToken, family: uuid.UUID | None = None) -> str:
    return f"dot:{token.user_id}:{token.application_id}:{token.pk}:{family or ''}"


def test_a_token_ends_when_revoked_or_its_user_is_disabled_not_when_refreshed() -> None:
    alice, bob, carol, dana = make_user("alice"), make_user("bob"), make_user("carol"), make_user("dana")
    app = make_app()

    # alice's client refreshed: the old access token is gone, its successor (a larger pk) lives.
    family = uuid.uuid4()
    old = make_token(alice, app, "alice-1")
    make_refresh(alice, app, "alice-r1", old, family).revoke()  # rotation revokes the used refresh token, deletes old
    make_refresh(alice, app, "alice-r2", make_token(alice, app, "alice-2"), family)

    # bob's access token alone is revoked (RFC 7009 / the admin's revoke): his refresh token lives on.
    bob_access = make_token(bob, app, "bob-1")
    make_refresh(bob, app, "bob-r1", bob_access)
    bob_access.revoke()

    # carol is disabled in the admin though her tokens live.
    carol_access = make_token(carol, app, "carol-1")
    carol.is_active = False
    carol.save()

    # dana's whole grant ended in the admin ("End the grant").
    dana_access = make_token(dana, app, "dana-1")
    make_refresh(dana, app, "dana-r1", dana_access)
    from oauth.grants import end_grant_lines

    end_grant_lines([(dana.pk, app.pk)])

    held = [credential(old, family), *(credential(t) for t in (bob_access, carol_access, dana_access))]
    assert _ended(held) == {credential(bob_access), credential(carol_access), credential(dana_access)}


def test_an_expired_token_does_not_end_its_streams_its_user_deleted_does() -> None:
    dave = make_user("dave")
    app = make_app()
    expired = make_token(dave, app, "dave-1", expires_in=-60)  # no refresh token either
    assert _ended([credential(expired)]) == set()
    dave.delete()
    nonsense = ["dot:x:y:z:", "dot:1:2", "dot:1:2:3", "nonsense"]
    assert _ended([credential(expired), *nonsense]) == {
        credential(expired),
        *nonsense,
    }


def test_another_token_of_the_same_person_and_client_does_not_keep_a_revoked_one() -> None:
    """Two devices (two consents, two refresh families) of one person and client: revoking one ends it alone."""
    frank = make_user("frank")
    app = make_app()
    stolen, laptop = make_token(frank, app, "frank-1"), make_token(frank, app, "frank-2")
    first, second = uuid.uuid4(), uuid.uuid4()
    make_refresh(frank, app, "frank-r1", stolen, first)
    make_refresh(frank, app, "frank-r2", laptop, second)
    stolen.revoke()
    assert _ended([credential(stolen, first), credential(laptop, second)]) == {credential(stolen, first)}


def test_a_newer_token_for_another_client_does_not_keep_a_revoked_one() -> None:
    erin = make_user("erin")
    app, other = make_app(), make_app("other")
    revoked = make_token(erin, app, "erin-1")
    make_token(erin, other, "erin-other")  # newer, but for another client
    revoked.revoke()
    assert _ended([credential(revoked)]) == {credential(revoked)}


@pytest.mark.usefixtures("builtin_as")
def test_rfc7009_revocation_ends_the_streams_of_that_token_a_refresh_does_not(user: Any) -> None:
    """Through the real endpoints: a refresh keeps the old credential held, revoking the access token ends it."""
    from django.test import Client

    from tests.oauth.flow import refresh
    from tests.oauth.flow import tokens as mint

    web = Client()
    client_id, answer = mint(web, user)
    first = tokens.builtin(answer["access_token"], RESOURCE)
    assert isinstance(first, Principal) and _ended([first.credential]) == set()
    renewed = refresh(web, client_id, answer["refresh_token"]).json()
    assert _ended([first.credential]) == set()  # refreshed, not revoked
    second = tokens.builtin(renewed["access_token"], RESOURCE)
    assert isinstance(second, Principal) and second.credential != first.credential
    done = web.post(
        "/oauth/revoke_token/",
        {"token": renewed["access_token"], "token_type_hint": "access_token", "client_id": client_id},
    )
    assert done.status_code == 200
    assert _ended([first.credential, second.credential]) == {first.credential, second.credential}


# --- refusals remembered: a flood of one made-up token costs one lookup -------------------------------------


async def test_a_refused_token_is_remembered_for_the_cache_seconds(settings: Any) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 3600
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    assert await check("minted-after") == "the token is unknown or revoked"
    await sync_to_async(make_token)(user, app, "minted-after")
    # Answered from memory, not the database, which now has it.
    assert await check("minted-after") == "the token is unknown or revoked"


async def test_a_token_refused_before_it_was_minted_is_refused_no_longer_than_the_cache_seconds(
    settings: Any,
) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 0.2
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    assert await check("just-minted") == "the token is unknown or revoked"
    await sync_to_async(make_token)(user, app, "just-minted")
    await asyncio.sleep(0.3)
    assert isinstance(await check("just-minted"), Principal)


async def test_remembered_refusals_are_bounded_by_the_cache_size(settings: Any) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 3600
    settings.MCP_OAUTH_TOKEN_CACHE = 1
    user = await sync_to_async(make_user)()
    app = await sync_to_async(make_app)()
    assert await check("first") == "the token is unknown or revoked"
    assert await check("second") == "the token is unknown or revoked"  # the only slot: "first" is forgotten
    await sync_to_async(make_token)(user, app, "first")
    assert isinstance(await check("first"), Principal)


async def test_a_flood_of_made_up_tokens_meets_the_per_ip_rate(settings: Any) -> None:
    """The real gate and rule book: made-up tokens count against the per-IP rule and get its 429."""
    from mcp_gateway.transports.entrance import Caller, check_entrance
    from ops import rulebook
    from tests.ops.conftest import rule

    settings.MCP_AUTH = "oauth"
    settings.MCP_GATE = "oauth.gate.OAuthGate"
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.MCP_RESOURCE_URL = ""
    settings.MCP_RATELIMIT_ENABLED = True
    book = rulebook._book
    saved = (book.rules, book.keys, book.loaded, book.checked_at)
    book.rules, book.keys = [rule(931, "ip", "2/m")], {}
    book.loaded, book.checked_at = True, time.monotonic() + 3600
    try:
        statuses = []
        for n in range(4):
            caller = Caller({"host": "testserver", "authorization": f"Bearer made-up-{n}"}, "192.0.2.93")
            entry = await check_entrance(caller, "streamable")
            assert entry.denied is not None
            statuses.append(entry.denied.status)
    finally:
        book.rules, book.keys, book.loaded, book.checked_at = saved
    assert statuses == [401, 401, 429, 429]
