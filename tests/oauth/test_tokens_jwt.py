"""An external issuer's JWTs, checked against its JWKS served by a real HTTP server on loopback.

Tokens are signed with the tests' own keys; each hostile case of the plan is a token the resource server must
refuse, with the reason it gives.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from mcp_gateway.gate import Principal
from oauth import jwks, tokens
from tests.support.jwks_server import JWKS_PATH, JwksServer, Signer, b64

RESOURCE = "https://mcp.example/mcp"
SIGNER = Signer("key-1")


@pytest.fixture
def external(settings: Any, issuer_server: JwksServer) -> Iterator[JwksServer]:
    """The resource server pointed at the loopback issuer (JWKS found through its RFC 8414 metadata)."""
    settings.MCP_OAUTH_ISSUER = issuer_server.issuer
    settings.MCP_OAUTH_JWKS_URL = ""
    settings.MCP_OAUTH_INTROSPECTION_URL = ""
    settings.MCP_OAUTH_AUDIENCE = []
    settings.MCP_OAUTH_AUDIENCE_CLAIM = "aud"
    settings.MCP_OAUTH_SCOPE_PREFIX = ""
    settings.MCP_OAUTH_FETCH_TIMEOUT = 2
    tokens.forget()
    yield issuer_server
    tokens.forget()


def claims(server: JwksServer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    found: dict[str, Any] = {
        "iss": server.issuer,
        "sub": "alice",
        "aud": RESOURCE,
        "client_id": "client-1",
        "scope": "docs:read docs:search",
        "iat": now,
        "exp": now + 600,
    }
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


async def check(token: str) -> Principal | str:
    return await tokens.validate(token, RESOURCE)


async def test_a_good_token_gives_its_subject_scopes_and_expiry(external: JwksServer) -> None:
    body = claims(external)
    found = await check(SIGNER.sign(body, typ="at+jwt"))
    assert found == Principal(
        name="oauth:alice",
        kind="oauth",
        subject="alice",
        client_id="client-1",
        scopes=frozenset({"docs:read", "docs:search"}),
        credential="",
        expires=float(body["exp"]),
    )


async def test_an_expired_token_is_refused_beyond_the_leeway_only(external: JwksServer) -> None:
    now = int(time.time())
    assert await check(SIGNER.sign(claims(external, exp=now - 120))) == "the token has expired"
    assert isinstance(await check(SIGNER.sign(claims(external, exp=now - 5))), Principal)  # within 30 s leeway


async def test_a_token_not_yet_valid_is_refused(external: JwksServer) -> None:
    found = await check(SIGNER.sign(claims(external, nbf=int(time.time()) + 300)))
    assert found == "the token is not valid yet"


async def test_a_token_of_another_issuer_is_refused(external: JwksServer) -> None:
    found = await check(SIGNER.sign(claims(external, iss="https://evil.example/issuer")))
    assert found == "the token was issued by another issuer"


@pytest.mark.parametrize(
    "audience",
    [
        "https://other.example/mcp",
        "https://mcp.example/mcpx",
        "https://mcp.example/",
        "http://mcp.example/mcp",
        "https://mcp.example.evil/mcp",
        "https://mcp.example/mcp?x=1",
        "",
        [],
        None,
    ],
)
async def test_a_token_for_another_resource_or_none_is_refused(external: JwksServer, audience: Any) -> None:
    found = await check(SIGNER.sign(claims(external, aud=audience)))
    assert found == "the token was not issued for this resource"


@pytest.mark.parametrize(
    "audience",
    [RESOURCE, "https://mcp.example/mcp/sse", ["https://other.example/api", RESOURCE], "HTTPS://MCP.example/mcp"],
)
async def test_a_token_for_this_resource_or_an_endpoint_under_it_is_accepted(
    external: JwksServer, audience: Any
) -> None:
    assert isinstance(await check(SIGNER.sign(claims(external, aud=audience))), Principal)


async def test_configured_audiences_replace_the_resource(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_AUDIENCE = ["api://awsmcp", "0f1e2d3c-guid"]
    assert isinstance(await check(SIGNER.sign(claims(external, aud="0f1e2d3c-guid"))), Principal)
    assert await check(SIGNER.sign(claims(external))) == "the token was not issued for this resource"


def _segments(token: str) -> list[str]:
    return token.split(".")


async def test_a_tampered_payload_or_signature_is_refused(external: JwksServer) -> None:
    header, payload, signature = _segments(SIGNER.sign(claims(external)))
    forged = b64(json.dumps(claims(external, sub="root")).encode())
    assert await check(f"{header}.{forged}.{signature}") == "the token's signature or claims are invalid"
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    assert await check(f"{header}.{payload}.{flipped}") == "the token's signature or claims are invalid"


async def test_an_unsigned_token_is_refused(external: JwksServer) -> None:
    token = jwt.encode(claims(external), "", algorithm="none", headers={"kid": SIGNER.kid})
    assert await check(token) == "the token's signing algorithm is not allowed"


def _hs256_with_public_key(server: JwksServer, signer: Signer) -> str:
    """The classic confusion: HMAC with the issuer's public key (which everyone has) as the secret."""
    pem = signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": signer.kid}).encode())
    payload = b64(json.dumps(claims(server)).encode())
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


async def test_hmac_signed_with_the_public_key_is_refused_even_when_listed(external: JwksServer, settings: Any) -> None:
    token = _hs256_with_public_key(external, SIGNER)
    assert await check(token) == "the token's signing algorithm is not allowed"
    settings.MCP_OAUTH_ALGORITHMS = "HS256,RS256"
    assert await check(token) == "the token's signing algorithm is not allowed"


async def test_the_keys_own_algorithm_binds_it(external: JwksServer) -> None:
    """A JWK that says RS256 does not verify a PS256 token, though the same RSA key signed it."""
    ps = Signer(SIGNER.kid, "PS256", SIGNER.key)
    assert await check(ps.sign(claims(external))) == "the token's signature or claims are invalid"


async def test_an_ec_key_and_a_key_without_alg_work(external: JwksServer) -> None:
    ec_signer = Signer("ec-1", "ES256")
    external.publish(SIGNER, ec_signer, with_alg=False)
    assert isinstance(await check(ec_signer.sign(claims(external))), Principal)
    assert isinstance(await check(SIGNER.sign(claims(external))), Principal)


async def test_an_unknown_kid_refetches_once_then_is_refused(external: JwksServer) -> None:
    assert isinstance(await check(SIGNER.sign(claims(external))), Principal)
    assert external.state.hits[JWKS_PATH] == 1
    stranger = Signer("key-unknown")
    found = await check(stranger.sign(claims(external)))
    assert found == "the token's signing key is unknown"
    assert external.state.hits[JWKS_PATH] == 1  # fetched less than REFETCH_INTERVAL ago: no refetch yet
    jwks.key_set(external.issuer).fetched_at -= jwks.REFETCH_INTERVAL + 1  # the interval has passed
    # Another token (the same one's refusal is remembered: it would not be looked at again).
    assert await check(stranger.sign(claims(external, jti="2"))) == "the token's signing key is unknown"
    assert external.state.hits[JWKS_PATH] == 2  # one refetch


async def test_a_rotated_key_is_found_by_one_refetch(external: JwksServer) -> None:
    assert isinstance(await check(SIGNER.sign(claims(external))), Principal)
    rotated = Signer("key-2")
    external.publish(SIGNER, rotated)
    jwks.key_set(external.issuer).fetched_at -= jwks.REFETCH_INTERVAL + 1
    assert isinstance(await check(rotated.sign(claims(external))), Principal)
    assert external.state.hits[JWKS_PATH] == 2


async def test_a_hundred_unknown_kids_cost_at_most_one_fetch(external: JwksServer) -> None:
    forged = [Signer(f"forged-{i}", key=SIGNER.key).sign(claims(external)) for i in range(100)]
    answers = await asyncio.gather(*(check(token) for token in forged))
    assert set(answers) == {"the token's signing key is unknown"}
    assert external.state.hits[JWKS_PATH] == 1
    answers = await asyncio.gather(*(check(token) for token in forged))
    assert external.state.hits[JWKS_PATH] == 1


async def test_id_tokens_are_refused(external: JwksServer) -> None:
    assert await check(SIGNER.sign(claims(external, token_use="id"))) == "the token is not an access token"
    assert await check(SIGNER.sign(claims(external, typ="ID"))) == "the token is not an access token"  # Keycloak
    found = await check(SIGNER.sign(claims(external), typ="logout+jwt"))
    assert found == "the token is not an access token"
    assert isinstance(await check(SIGNER.sign(claims(external), typ="JWT")), Principal)


async def test_cognito_mode_checks_client_id_and_token_use(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_AUDIENCE_CLAIM = "client_id"
    settings.MCP_OAUTH_AUDIENCE = ["app-client-1"]
    settings.MCP_OAUTH_SCOPE_PREFIX = "https://mcp.example/mcp/"
    access = claims(
        external,
        aud=None,
        client_id="app-client-1",
        token_use="access",
        scope="https://mcp.example/mcp/docs:read other/x",
    )
    found = await check(SIGNER.sign(access))
    assert isinstance(found, Principal) and found.scopes == frozenset({"docs:read"})
    assert (
        await check(SIGNER.sign({**access, "client_id": "app-client-2"}))
        == "the token was not issued for this resource"
    )
    id_token = {**access, "token_use": "id", "aud": "app-client-1"}
    assert await check(SIGNER.sign(id_token)) == "the token is not an access token"
    assert await check(SIGNER.sign({**access, "token_use": None})) == "the token is not an access token"


async def test_missing_required_claims_are_refused(external: JwksServer) -> None:
    assert await check(SIGNER.sign(claims(external, exp=None))) == "the token's signature or claims are invalid"
    assert await check(SIGNER.sign(claims(external, sub=None))) == "the token's signature or claims are invalid"


async def test_a_huge_jwks_is_refused(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_JWKS_MAX_BYTES = 4096
    for mode in ("huge", "huge-chunked"):
        tokens.forget()
        external.state.mode = mode
        found = await check(SIGNER.sign(claims(external)))
        assert isinstance(found, str) and found.startswith("the token's signing key is unknown (")
        assert "larger than 4096 bytes" in found


async def test_a_trickling_jwks_is_cut_at_the_fetch_timeout(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_FETCH_TIMEOUT = 1
    settings.MCP_OAUTH_JWKS_URL = external.url + JWKS_PATH
    external.state.mode = "slow"  # ~500 bytes at two a second: minutes, unless cut
    found = await check(SIGNER.sign(claims(external)))
    assert isinstance(found, str) and "took" in found and "1 s" in found


async def test_metadata_naming_another_issuer_is_not_trusted_for_keys(external: JwksServer) -> None:
    external.state.issuer = "https://evil.example/issuer"
    found = await check(SIGNER.sign(claims(external)))
    assert isinstance(found, str) and "names another issuer" in found
    assert external.state.hits[JWKS_PATH] == 0


def test_plain_http_is_fetched_only_from_loopback() -> None:
    for url in ("http://issuer.example/jwks.json", "ftp://127.0.0.1/x", "http:///x"):
        with pytest.raises(jwks.FetchRefused):
            jwks.check_url(url)
    for url in ("https://issuer.example/jwks.json", "http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]/x"):
        jwks.check_url(url)


async def test_good_answers_are_cached_by_token_hash(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE_SECONDS = 300
    token = SIGNER.sign(claims(external))
    first = await check(token)
    external.publish()  # the issuer drops every key: only the cache can still answer
    jwks.forget()
    assert await check(token) == first
    assert len(tokens._cache) == 1 and token not in next(iter(tokens._cache))


async def test_the_cache_holds_at_most_its_setting(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_TOKEN_CACHE = 3
    for i in range(5):
        assert isinstance(await check(SIGNER.sign(claims(external, sub=f"user-{i}"))), Principal)
    assert len(tokens._cache) == 3


def test_the_token_is_decodable_by_plain_pyjwt() -> None:
    """The test signer makes ordinary tokens (a guard on the helpers themselves)."""
    body = {"sub": "x", "exp": int(time.time()) + 60}
    token = SIGNER.sign(body)
    public = jwt.PyJWK(SIGNER.jwk())
    assert jwt.decode(token, public, algorithms=["RS256"])["sub"] == "x"
    assert base64.urlsafe_b64decode(token.split(".")[0] + "==")


async def test_entra_style_scp_and_azp_are_read(external: JwksServer) -> None:
    found = await check(SIGNER.sign(claims(external, scope=None, scp="docs:read", client_id=None, azp="app-guid")))
    assert isinstance(found, Principal) and found.scopes == frozenset({"docs:read"}) and found.client_id == "app-guid"
    found = await check(SIGNER.sign(claims(external, scope=None, scp=["docs:search", 7])))
    assert isinstance(found, Principal) and found.scopes == frozenset({"docs:search"})
    found = await check(SIGNER.sign(claims(external, scope=12)))
    assert isinstance(found, Principal) and found.scopes == frozenset()


async def test_a_subject_that_is_not_a_string_is_refused(external: JwksServer) -> None:
    assert isinstance(await check(SIGNER.sign(claims(external, sub=42))), str)


async def test_keys_are_found_through_openid_discovery_when_rfc8414_is_absent(external: JwksServer) -> None:
    external.state.rfc8414 = False
    assert isinstance(await check(SIGNER.sign(claims(external))), Principal)
    assert external.state.hits["/.well-known/oauth-authorization-server/issuer"] == 1
    assert external.state.hits["/issuer/.well-known/openid-configuration"] == 1


async def test_a_slow_refresh_holds_up_only_the_caller_that_makes_it(external: JwksServer, settings: Any) -> None:
    settings.MCP_OAUTH_FETCH_TIMEOUT = 1
    token = SIGNER.sign(claims(external))
    assert isinstance(await check(token), Principal)
    tokens._cache.clear()
    external.state.mode = "slow"
    keys = jwks.key_set(external.issuer)
    keys.fetched_at -= 10_000  # the keys have outlived MCP_OAUTH_JWKS_TTL
    refreshing = asyncio.ensure_future(check(token))
    assert await asyncio.to_thread(external.state.trickling.wait, 10)  # the refresh is under way
    assert isinstance(await check(SIGNER.sign(claims(external, sub="bob"))), Principal)  # the old keys serve
    assert not refreshing.done()
    assert isinstance(await refreshing, Principal)  # the refresh failed; the keys it had still verify
    assert "took" in keys.problem
